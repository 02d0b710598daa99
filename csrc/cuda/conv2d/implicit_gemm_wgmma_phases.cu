// Step implicit_gemm_wgmma_phases of the conv2d dgrad ladder (fp16/bf16,
// Hopper sm_90a): the output phases of a strided dgrad (conv2d_dgrad_by_phases,
// csrc/conv2d_phases.cpp) as ONE persistent launch of implicit_gemm_wgmma's
// kernel over the tiles of all of them.
//
// Why: a stride-2 dgrad is four stride-1 forwards with 1, 2, 2 and 4 taps.
// Run one after another (step implicit_gemm_wgmma), each is a short grid --
// ResNet's 128@56/2 at batch 32: 196 tiles of 128 x 128 per phase, 1.5 waves
// of 132 SMs, the second half empty -- plus its launch, ring prologue and
// drain: 0.066 ms against cuDNN's 0.028 (H100, bf16, 2026-12-08). One launch
// deals the 784 tiles of the four phases round-robin to the persistent
// blocks, whose producer and consumers walk the same tile list, so the ring
// keeps streaming from one phase's tile into the next's.
//
// Tile t of the launch is tile t - first[j] of phase j, first[j] <= t <
// first[j + 1]; each phase has its own Params (the tensor map of its packed
// sub-filter, M, tiles) and Gather (taps, padding, the strided view of dx its
// epilogue writes). No GEMM-K split: the phases together fill the GPU.
// Deterministic as the forward: one block owns an output tile and sums its k
// tiles in order.
//
// Eligibility (else the phases run one by one on implicit_gemm_wgmma, which
// passes what it cannot take to the split-K step): an sm_90 device and sm_90a
// build, 2 to kMaxPhases phases that each qualify for implicit_gemm_wgmma with
// the sub-filter in place ([K][R][S][C], as the packing writes it).
#include "conv2d_steps.h"
#include "cuda/conv2d/wgmma_gather.cuh"  // Gather, produce_gathered_tile, host planning

namespace cuops::cuda {
namespace {

using namespace wgmma;

constexpr int kMaxPhases = 4;  // stride 2 x 2

// The launch's phases (kernel parameters: the tensor maps stay in parameter
// space for the copy engine). ~2 KB, within the 4 KB parameter limit.
struct PhaseSet {
  Params p[kMaxPhases];
  Gather g[kMaxPhases];
  int64_t first[kMaxPhases + 1];  // first[j]: the launch's first tile of phase j
  int count;
};
static_assert(sizeof(PhaseSet) <= 4000, "kernel parameters are limited to 4 KB");

__device__ __forceinline__ int phase_of(const PhaseSet& s, int64_t t) {
  int j = 0;
  while (j + 1 < s.count && t >= s.first[j + 1]) ++j;
  return j;
}

template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, 1)
    conv_wgmma_phases_kernel(const __grid_constant__ PhaseSet s) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[2 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Ring<C> ring = setup_ring<C>(smem, bars, 128 + 1);  // the gathers + the expect_tx
  const int tid = threadIdx.x, wg = tid / 128;
  const int64_t tiles = s.first[s.count];
  RingPos pos;
  if (wg == 0) {
    setmaxnreg_dec<C::cfg.producer_regs>();
    const GatherLane gl(tid);
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
      const int j = phase_of(s, t);
      produce_gathered_tile<T, C>(s.p[j], s.g[j], ring, pos, gl, tid, t - s.first[j]);
    }
    cp_async_wait_all();  // no thread leaves with copies in flight
  } else {
    setmaxnreg_inc<C::cfg.consumer_regs>();
    const int cw = wg - 1, warp = (tid / 32) % 4, lane = tid % 32;
    const uint32_t a_off = cw * (C::WM * C::BK * 2);
    float acc[C::kAccRegs];
    CUOPS_UNROLL
    for (int i = 0; i < C::kAccRegs; ++i) acc[i] = 0.f;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
      const int j = phase_of(s, t);
      const Params& p = s.p[j];
      const Gather& g = s.g[j];
      int64_t z, m0, n0;
      tile_origin<C>(p, t - s.first[j], z, m0, n0);
      mainloop<T, C, false, false, true>(ring, pos, a_off, acc, lane, g.ktiles_total);
      store_tile<T, C>(p, acc, 0, m0 + cw * C::WM, n0, warp, lane, ring.out(4 * cw + warp),
                       [&](int64_t m) { return g.y_row(m); });
    }
  }
#endif
}

// One phase's Params on tile C, unsplit.
template <typename T, class C>
Params phase_params(const Conv2dProblem& p) {
  const int64_t rsc = p.R * p.S * p.C;
  Params prm = conv_params<T, C>(p, p.w, rsc);
  prm.ktiles = static_cast<int>(rsc / C::BK);
  prm.batch = 1;
  prm.c_rows16 = y_rows16(p);
  return prm;
}

template <typename T, TileConfig kCfg>
bool launch(const std::vector<Conv2dProblem>& phases) {
  using C = Tile<kCfg>;
  auto kernel = conv_wgmma_phases_kernel<T, C>;
  if (!kernel_in_build<C>(kernel)) return false;
  PhaseSet s{};
  s.count = static_cast<int>(phases.size());
  int64_t first = 0;
  for (int j = 0; j < s.count; ++j) {
    const Conv2dProblem& p = phases[j];
    s.p[j] = phase_params<T, C>(p);
    s.g[j] = make_gather(p, C::BK, p.R * p.S * p.C / C::BK);
    s.first[j] = first;
    first += s.p[j].tiles_m * s.p[j].tiles_n;
  }
  s.first[s.count] = first;
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const auto grid = static_cast<unsigned>(std::min<int64_t>(first, num_sms()));
  kernel<<<grid, C::kThreads, C::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(s);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
}

// The forward's tile choice (implicit_gemm_wgmma.cu: launch_sized) over all
// the phases' pixels.
template <typename T>
bool run(const std::vector<Conv2dProblem>& phases) {
  if (!is_sm90() || phases.size() < 2 || phases.size() > static_cast<size_t>(kMaxPhases))
    return false;
  int64_t M = 0;
  for (const Conv2dProblem& p : phases) {
    if (p.dtype != phases[0].dtype || p.K != phases[0].K || !gather_eligible(p, 64) ||
        p.K < 64 || p.K % 8 != 0 || !krsc_in_place(p) || p.N * p.P * p.Q == 0)
      return false;
    M += p.N * p.P * p.Q;
  }
  const int64_t K = phases[0].K;
  if (K <= 64) return launch<T, kConvSlim>(phases);
  if (K > 128 && ceil_div<int64_t>(M, 128) * ceil_div<int64_t>(K, 256) >= num_sms())
    return launch<T, kConvWide>(phases);
  return launch<T, kConvNarrow>(phases);
}

}  // namespace

bool conv2d_wgmma_phases_try(const std::vector<Conv2dProblem>& phases) {
  if (phases.empty()) return false;
  if (phases[0].dtype == at::kHalf) return run<__half>(phases);
  if (phases[0].dtype == at::kBFloat16) return run<__nv_bfloat16>(phases);
  return false;
}

void conv2d_backward_input_implicit_gemm_wgmma_phases(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
                   "cuops.conv2d_backward_input(implicit_gemm_wgmma_phases): unsupported dtype ",
                   p.dtype);
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_wgmma, &conv2d_wgmma_phases_try);
}

}  // namespace cuops::cuda
