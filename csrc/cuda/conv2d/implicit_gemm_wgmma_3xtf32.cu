// Step of the conv2d forward ladder (fp32, Hopper sm_90a): the convolution
// on matmul's tf32 wgmma engine at fp32 accuracy (3xTF32), and, through the
// phases, dgrad. It joins two existing pieces:
//
//   x      --producer warpgroup: im2col rows by cp.async--> raw A tile
//           (implicit_gemm_wgmma's gather, wgmma_gather.cuh: 32 fp32
//           channels of one tap = one 128-byte swizzled row per pixel)
//   filter --copy engine, [K][R*S*C] rows--> raw B tile (K-major)
//   raw B  --transform warpgroup: split--> B big, B small   (tf32.cuh)
//   raw A  --consumers: fragments split in registers--> A_small B_big +
//           A_big B_small + A_big B_big per k tile, acc += part (tf32.cuh)
//   acc    --fp32 stores at each output pixel's place--> y
//
// So the arithmetic and its error are wgmma_3xtf32's (docs/matmul-worklog.md,
// steps 9-10), the gather and the GEMM-K split on small grids the fp16/bf16
// step's. Why it should beat implicit_gemm_3xtf32 (mma.sync): that step's
// tf32 rate, after fragment loads and the per-element split, is the matmul
// step 9's 0.70x cuBLAS fp32; the wgmma engine reached 1.75-1.99x (H100). A
// 3xTF32 k tile costs 6x a bf16 tile's tensor time for 2x its gathered
// bytes, so the gather that limited the bf16 step is 3x less of the time here.
//
// Eligibility (else implicit_gemm_3xtf32): an sm_90 device and sm_90a build;
// groups 1; C % 32 == 0; K >= 64, K % 4 == 0. x is read where it lies when
// it is channels_last with 16-byte aligned pixels, else from a channels_last
// copy (channels_last_copy.h): a 3x3 layer of K filters does 2.25 K FLOPs per
// byte that copy moves (144 at K = 64), so it costs about a tenth of the
// convolution's time (measured: NCHW 0.218 ms against channels_last 0.186 at
// ResNet-50's 64@56, H100). Deterministic: a block owns an output tile (or a
// split of its K) and sums its k tiles in order; splits are summed in order.
#include "conv2d_steps.h"
#include "cuda/conv2d/channels_last_copy.h"
#include "cuda/conv2d/wgmma_gather.cuh"  // Gather, produce_gathered, host planning
#include "cuda/matmul/wgmma/tf32.cuh"

namespace cuops::cuda {
namespace {

using namespace wgmma;

// The matmul's tf32 tile with a gathering producer warpgroup: its 128
// threads hold a pixel's window state (56 registers, as the fp16/bf16
// step's producer); the consumers give up 8 of their 216 so that the four
// warpgroups fit the block's 512 x 128 registers.
constexpr Tf32Config kConvTf32{/*stages=*/3, /*producer_regs=*/56, /*transform_regs=*/40,
                               /*consumer_regs=*/208};
using ConvTile = Tf32Tile<kConvTf32, /*kSplitOps=*/true>;

template <class C>
__global__ void __launch_bounds__(C::kThreads, 1)
    conv_tf32_wgmma_kernel(const __grid_constant__ Params p, const __grid_constant__ Gather g,
                           float* ws) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[3 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Tf32Ring<C> ring = make_ring<C>(smem, bars, 128 + 1);  // the gathers + expect_tx
  run_roles<C, /*A_MN=*/false, /*B_MN=*/false>(
      p, ring, [&](int tid) { produce_gathered<float, C>(p, g, ring, tid); },
      [&](int64_t t) { return tile_split_ktiles(p, g.ktiles_total, t); },
      [&](const float(&acc)[C::kAccRegs], int64_t z, int64_t m0, int64_t n0, int warp,
          int lane) {
        if (p.batch == 1)
          store_tile_f32_rows<C>(p, static_cast<float*>(p.c), acc, m0, n0, warp, lane,
                                 [&](int64_t m) { return g.y_row(m); });
        else
          store_partials<C>(p, ws, acc, z, m0, n0, warp, lane);
      });
#endif
}

bool engine_in_build() {
  return is_sm90() && kernel_in_build<ConvTile>(conv_tf32_wgmma_kernel<ConvTile>);
}

// The problems the engine takes, with x as it is or after its channels_last
// copy (the geometry is the same; the copy's layout always suits the gather).
bool takes(const Conv2dProblem& p) {
  if (p.dtype != at::kFloat || p.K < 64 || p.K % 4 != 0) return false;
  return gather_eligible(conv::with_x_copied(p), ConvTile::BK) && engine_in_build();
}

bool run(const Conv2dProblem& problem) {
  using C = ConvTile;
  if (!takes(problem)) return false;
  Conv2dProblem p = problem;
  at::Tensor x_copy, packed;
  if (!gather_eligible(p, C::BK)) conv::copy_x_channels_last(p, x_copy);
  const int64_t rsc = p.R * p.S * p.C;
  const Params prm = conv_params<float, C>(p, krsc_filter(p, packed), rsc);
  launch_conv<float, C>(conv_tf32_wgmma_kernel<C>, p, prm, make_gather(p, C::BK, rsc / C::BK));
  return true;
}

}  // namespace

bool tf32_wgmma_conv_in_build() { return engine_in_build(); }

void conv2d_implicit_gemm_wgmma_3xtf32(const Conv2dProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d(implicit_gemm_wgmma_3xtf32): unsupported dtype ", p.dtype);
  if (p.N * p.K * p.P * p.Q == 0) return;
  if (!run(p)) conv2d_implicit_gemm_3xtf32(p);
}

// dgrad: one stride-1 forward of this step per output phase of dx (the
// phases' x is dy: K % 32 == 0 takes the engine; a dy the gather cannot
// read, e.g. NCHW, is copied to channels_last once here, not once per phase).
void conv2d_backward_input_implicit_gemm_wgmma_3xtf32(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_input(implicit_gemm_wgmma_3xtf32): unsupported dtype ",
                   p.dtype);
  // The phases' forward reads dy as its x (K channels), dx's C as its filters.
  const bool engine = p.groups == 1 && p.K % ConvTile::BK == 0 && p.C >= 64 && p.C % 4 == 0 &&
                      engine_in_build();
  Conv2dGradProblem q = p;
  at::Tensor dy_copy;
  if (engine && !gather_layout(p.dy, p.y_sn, p.y_sk, p.y_sp, p.y_sq, p.dtype))
    q.dy = conv::copy_y_channels_last(q, p.dy, dy_copy);
  dgrad_by_phases_cuda(q, &conv2d_implicit_gemm_wgmma_3xtf32);
}

}  // namespace cuops::cuda
