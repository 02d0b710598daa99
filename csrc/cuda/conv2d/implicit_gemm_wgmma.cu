// Step of the conv2d forward ladder (fp16/bf16, Hopper sm_90a): implicit GEMM
// on matmul step 8's wgmma engine (csrc/cuda/matmul/wgmma/*.cuh).
//
// GEMM view of a channels_last convolution: C[m][k] = y at pixel m = (n, p, q)
// and filter k, so y itself is the row-major M x K output (M = N*P*Q); B =
// the filter as [K][R][S][C] rows (K-major: the copy engine loads it, as the
// GEMM's B); A = im2col(x), row m = the C channels of each tap (r, s) of
// pixel m's window, k tile kt = channels 64*(kt % (C/64)).. of tap kt / (C/64).
//
// What differs from the GEMM is the A producer. A tensor map cannot describe
// im2col rows with padding, so the producer warpgroup's 128 threads gather A
// themselves (the "cp.async producer" of CUTLASS's gather kernels): per k
// tile, each 128-byte row -- 64 channels of one tap of one pixel -- is
// copied by eight threads with one 16-byte cp.async each into the row's
// place of the 128-byte-swizzled K-major layout the wgmma descriptor
// expects (chunk c of row i at chunk c ^ (i % 8), what the copy engine's
// SWIZZLE_128B writes; pipeline.cuh: GatherLane). Taps outside the image and
// pixels past M copy 0 bytes (zero-fill). `cp.async.mbarrier.arrive.noinc`
// makes each thread's copies one arrival on the stage's full barrier, whose
// count is 128 gathers + 1 (thread 0's expect_tx for B's box). The consumers
// fence the proxies after the wait (generic writes, async-proxy wgmma reads)
// and run the GEMM's main loop and epilogue unchanged.
//
// The epilogue is the GEMM's, with row m of C at output pixel m's place in y
// (any strides: dense channels_last, or the strided phase views of dx that
// the dgrad step writes).
//
// Where the output tiles leave SMs idle (ResNet's 7x7 and 14x14 layers, the
// dgrad's small phases), GEMM-K is split: split z is product z of the
// engine's tile order and owns k tiles [z*per, (z+1)*per); its fp32 partial
// tiles go to a workspace that finish_splits_kernel sums in split order.
//
// Eligibility (else the fp16/bf16 default step runs): an sm_90 device and
// sm_90a build; groups 1; x channels_last with C % 64 == 0 and 16-byte
// aligned pixels; K >= 64, K % 8 == 0.
// The filter is copied to [K][R][S][C] when it is not laid out so.
// Deterministic: one block owns an output tile (or a split of its K) and sums
// its k tiles in order; splits are summed in order.
#include "conv2d_steps.h"
#include "cuda/conv2d/tuning.h"
#include "cuda/conv2d/wgmma_gather.cuh"  // Gather, produce_gathered

namespace cuops::cuda {
namespace {

using namespace wgmma;

template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, 1)
    conv_wgmma_kernel(const __grid_constant__ Params p, const __grid_constant__ Gather g,
                      float* ws) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[2 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Ring<C> ring = setup_ring<C>(smem, bars, 128 + 1);  // the gathers + the expect_tx
  const int tid = threadIdx.x, wg = tid / 128;
  if (wg == 0) {
    setmaxnreg_dec<C::cfg.producer_regs>();
    produce_gathered<T, C>(p, g, ring, tid);
  } else {
    setmaxnreg_inc<C::cfg.consumer_regs>();
    const int cw = wg - 1, warp = (tid / 32) % 4, lane = tid % 32;
    const uint32_t a_off = cw * (C::WM * C::BK * 2);
    float acc[C::kAccRegs];
    CUOPS_UNROLL
    for (int i = 0; i < C::kAccRegs; ++i) acc[i] = 0.f;
    RingPos pos;
    for (int64_t t = blockIdx.x; t < p.tiles_m * p.tiles_n * p.batch; t += gridDim.x) {
      int64_t z, m0, n0;
      tile_origin<C>(p, t, z, m0, n0);
      mainloop<T, C, false, false, true>(ring, pos, a_off, acc, lane,
                                         split_ktiles(g.ktiles_total, z, p.ktiles));
      if (p.batch == 1)
        store_tile<T, C>(p, acc, 0, m0 + cw * C::WM, n0, warp, lane, ring.out(4 * cw + warp),
                         [&](int64_t m) { return g.y_row(m); });
      else
        store_partials<C>(p, ws, acc, z, m0 + cw * C::WM, n0, warp, lane);
    }
  }
#endif
}

template <typename T, TileConfig kCfg>
bool launch(const Conv2dProblem& p, const void* w, int64_t rsc, bool staged) {
  using C = Tile<kCfg>;
  auto kernel = conv_wgmma_kernel<T, C>;
  if (!kernel_in_build<C>(kernel)) return false;
  Params prm = conv_params<T, C>(p, w, rsc);
  prm.c_rows16 = y_rows16(p) && staged;
  launch_conv<T, C>(kernel, p, prm, make_gather(p, C::BK, rsc / C::BK));
  return true;
}

// 128 x 64 tiles for <= 64 filters; 128 x 256 only where the filters fill
// them (K > 128) and the tiles fill the GPU; else 128 x 128.
template <typename T, bool kInFlight>
bool launch_sized(const Conv2dProblem& p, const void* w, int64_t rsc, int64_t M, bool staged) {
  const int64_t wide = ceil_div<int64_t>(M, 128) * ceil_div<int64_t>(p.K, 256);
  if (p.K <= 64) return launch<T, in_flight(kConvSlim, kInFlight)>(p, w, rsc, staged);
  if (p.K > 128 && wide >= num_sms())
    return launch<T, in_flight(kConvWide, kInFlight)>(p, w, rsc, staged);
  return launch<T, in_flight(kConvNarrow, kInFlight)>(p, w, rsc, staged);
}

template <typename T>
bool run(const Conv2dProblem& p) {
  if (!is_sm90()) return false;
  const int64_t M = p.N * p.P * p.Q, rsc = p.R * p.S * p.C;
  if (!gather_eligible(p, 64) || p.K < 64 || p.K % 8 != 0) return false;
  at::Tensor packed;
  const void* w = krsc_filter(p, packed);
  // The tuning table (tuning.h): 1 = one wgmma batch in flight, 2 = the
  // direct epilogue.
  const int cfg = conv::conv_config("implicit_gemm_wgmma", conv::kWgmmaConfigs);
  if (cfg == 1) return launch_sized<T, true>(p, w, rsc, M, /*staged=*/true);
  return launch_sized<T, false>(p, w, rsc, M, /*staged=*/cfg != 2);
}

}  // namespace

bool conv2d_wgmma_try(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return false;
  if (p.dtype == at::kHalf) return run<__half>(p);
  if (p.dtype == at::kBFloat16) return run<__nv_bfloat16>(p);
  return false;
}

void conv2d_implicit_gemm_wgmma(const Conv2dProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
                   "cuops.conv2d(implicit_gemm_wgmma): unsupported dtype ", p.dtype);
  if (!conv2d_wgmma_try(p)) conv2d_implicit_gemm_mma_splitk(p);
}

// dgrad: one stride-1 forward of this step per output phase of dx (stride 1:
// dy with the whole filter flipped, K <-> C swapped). Each phase's output is
// a strided view of dx, which the epilogue's per-pixel rows address; the
// forward's eligibility asks dy for what it asks x (channels_last, K % 64).
void conv2d_backward_input_implicit_gemm_wgmma(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
                   "cuops.conv2d_backward_input(implicit_gemm_wgmma): unsupported dtype ",
                   p.dtype);
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_wgmma);
}

}  // namespace cuops::cuda
