// Step 8 of the CUDA matmul ladder: fp16/bf16 GEMM on Hopper's warpgroup
// tensor-core instructions (sm_90a), fed by the tensor copy engine.
//
//   global --TMA box copies (one thread, 128-byte swizzle, zero fill)-->
//          smem ring of `stages` k tiles, full/empty mbarriers        pipeline.cuh: produce
//   smem   --wgmma.mma_async m64nBNk16 (operands read from smem
//            through matrix descriptors, fp32 accumulators)-->
//          registers of two consumer warpgroups                       pipeline.cuh: mainloop
//   + bias (fp32), convert, guarded store through C's strides         pipeline.cuh: store_tile
//
// Why each piece exists (docs/matmul-worklog.md, step 8):
// * wgmma: one instruction of a 128-thread warpgroup multiplies 64 x BN x 16
//   with both operands read by the tensor cores straight from shared memory
//   -- no ldmatrix, no fragment registers, and it runs asynchronously, so
//   the issuing warps only wait where they must (wgmma.wait_group).
// * TMA: one thread copies a whole 2-D box per operand and k tile; the copy
//   engine does the address math, the edge zero-fill and the 128-byte
//   swizzle that wgmma's descriptor expects (bank-conflict-free reads).
// * Warp specialization: a producer warpgroup (one thread issuing copies)
//   runs up to `stages` k tiles ahead of the two consumer warpgroups; full[s]
//   / empty[s] mbarriers hand each stage back and forth, with no block-wide
//   barrier in the loop. setmaxnreg moves registers from the producer (40)
//   to the consumers (232), which hold the 64 x 256 fp32 accumulators.
// * Persistent grid: one block per SM walks output tiles t, t + #SMs, ... in
//   the grouped order of mm::tile_coords, so the producer already loads the
//   next tile while the consumers store the last one, and the A/B panels in
//   use at one time stay in L2.
//
// Eligibility (else the problem goes to mma_sync, which solves every one):
// a compute-capability-9.0 device and a build with an sm_90a target; one
// GEMM, or a batch whose products follow each other densely along one batch
// dim (stacked into one tall tensor map per operand; see run()); M, N >= 64
// and K >= 16; A and B each with a unit-stride dim, 16-byte aligned base and
// a leading stride that is a multiple of 8 elements (what a tensor map can
// describe); all four K-/MN-major layout
// combinations (wgmma's transpose bits). Deterministic: each output is one
// thread's fixed-order sum (no split of K).
#include <algorithm>

#include "cuda/matmul/wgmma/host.cuh"
#include "cuda/matmul/wgmma/pipeline.cuh"

namespace cuops::cuda {
namespace wgmma {
namespace {

template <typename T, class C, bool A_MN, bool B_MN>
__global__ void __launch_bounds__(C::kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // The barriers are the kernel's static shared memory, which exists only in
  // its sm_90a body: the host reads its size to tell the builds apart
  // (kernel_in_build).
  __shared__ __align__(8) uint64_t bars[2 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Ring<C> ring = setup_ring<C>(smem, bars);
  const int tid = threadIdx.x, wg = tid / 128;
  // No block-wide barrier after this point: the roles run on their own.
  const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
  if (wg == 0) {
    setmaxnreg_dec<C::cfg.producer_regs>();
    if (tid == 0) produce<C, A_MN, B_MN>(p, ring);
  } else {
    setmaxnreg_inc<C::cfg.consumer_regs>();
    const int cw = wg - 1, warp = (tid / 32) % 4, lane = tid % 32;
    const uint32_t a_off = cw * (C::WM * C::BK * 2);  // K-major rows, or M-major box cw
    float acc[C::kAccRegs];
    CUOPS_UNROLL
    for (int i = 0; i < C::kAccRegs; ++i) acc[i] = 0.f;
    RingPos pos;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
      int64_t z, m0, n0;
      tile_origin<C>(p, t, z, m0, n0);
      mainloop<T, C, A_MN, B_MN>(ring, pos, a_off, acc, lane, p.ktiles);
      if (p.partials)
        store_partials<C>(p, static_cast<float*>(p.c), acc, z, m0 + cw * C::WM, n0, warp, lane);
      else
        store_tile<T, C>(p, acc, z, m0 + cw * C::WM, n0, warp, lane, ring.out(4 * cw + warp),
                         [&](int64_t m) { return m * p.c_sm; });
    }
  }
#endif
}

// Tuning table (CUOPS_MATMUL_CONFIG="wgmma=<i>"): 0 = each consumer waits
// for its wgmma batch before issuing the next, 1 = one batch left in flight
// (config.cuh: batches_in_flight), 2 = as 0 but with the direct epilogue
// (pipeline.cuh: store_tile_direct) where the staged one applies, 3 = as 0
// but the planner's split-K chunks stay on mma_sync (gemm_wgmma_partials_try
// declines). Every entry is in every build: they differ by one wait or one flag.
constexpr int kNumTuneEntries = 4;
int tuning_entry() {
  static const int cfg = [] {
    const int c = mm::tuning_config("wgmma");
    TORCH_CHECK_VALUE(c >= 0 && c < kNumTuneEntries, "CUOPS_MATMUL_CONFIG: wgmma=", c,
                      " is not an entry of the tuning table (0..", kNumTuneEntries - 1, ")");
    return c;
  }();
  return cfg;
}

// Launches the kernel for p if it is in the build; false otherwise.
template <typename T, TileConfig kCfg, bool A_MN, bool B_MN>
bool launch(const GemmProblem& p, bool partials) {
  using C = Tile<kCfg>;
  auto kernel = gemm_wgmma_kernel<T, C, A_MN, B_MN>;
  if (!kernel_in_build<C>(kernel)) return false;
  Params prm = gemm_params<T, C, A_MN, B_MN>(p);
  prm.partials = partials;
  prm.c_rows16 = !partials && p.c_sn == 1 && p.c_sm % 8 == 0 && prm.c_sz % 8 == 0 &&
                 p.N % 8 == 0 && reinterpret_cast<uintptr_t>(p.c) % 16 == 0 &&
                 tuning_entry() != 2;
  launch_persistent<C>(kernel, prm);
  return true;
}

// One instantiation per operand-layout combination.
template <typename T, TileConfig kCfg>
bool launch_layout(const GemmProblem& p, bool a_mn, bool b_mn, bool partials) {
  if (!a_mn && b_mn) return launch<T, kCfg, false, true>(p, partials);   // A, B row-major
  if (!a_mn && !b_mn) return launch<T, kCfg, false, false>(p, partials); // B = W.mT (linear)
  if (a_mn && b_mn) return launch<T, kCfg, true, true>(p, partials);     // A = X.mT (wgrad)
  return launch<T, kCfg, true, false>(p, partials);
}

// Runs p if this step handles it (see the top of the file); false otherwise.
template <typename T>
bool run(const GemmProblem& p, bool partials = false) {
  if (!is_sm90()) return false;  // sm_90a code runs on compute capability 9.0 only
  if (p.M < 64 || p.N < 64 || p.K < 16) return false;
  bool a_mn = false, b_mn = false;
  if (!map_layouts<T>(p, Tile<kWide>::BK, a_mn, b_mn)) return false;
  // 128 x 256 tiles when they give every SM one, else 128 x 128.
  const int64_t wide =
      ceil_div<int64_t>(p.M, Tile<kWide>::BM) * ceil_div<int64_t>(p.N, Tile<kWide>::BN) * p.batch;
  if (tuning_entry() == 1) {
    if (wide >= num_sms())
      return launch_layout<T, in_flight(kWide, true)>(p, a_mn, b_mn, partials);
    return launch_layout<T, in_flight(kNarrow, true)>(p, a_mn, b_mn, partials);
  }
  if (wide >= num_sms()) return launch_layout<T, kWide>(p, a_mn, b_mn, partials);
  return launch_layout<T, kNarrow>(p, a_mn, b_mn, partials);
}

}  // namespace
}  // namespace wgmma

int wgmma_tuning_entries() { return wgmma::kNumTuneEntries; }

bool gemm_wgmma_try(const GemmProblem& p) {
  if (p.M == 0 || p.N == 0 || p.batch == 0) return false;
  if (p.dtype == at::kHalf) return wgmma::run<__half>(p);
  if (p.dtype == at::kBFloat16) return wgmma::run<__nv_bfloat16>(p);
  return false;
}

bool gemm_wgmma_partials_try(const GemmProblem& q) {
  if (q.M == 0 || q.N == 0 || q.batch == 0 || q.N % 2 != 0 || q.bias != nullptr ||
      wgmma::tuning_entry() == 3)
    return false;
  if (q.dtype == at::kHalf) return wgmma::run<__half>(q, /*partials=*/true);
  if (q.dtype == at::kBFloat16) return wgmma::run<__nv_bfloat16>(q, /*partials=*/true);
  return false;
}

void gemm_wgmma(const GemmProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.matmul: variant 'wgmma' supports float16 and bfloat16, got ", p.dtype);
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  if (!gemm_wgmma_try(p)) gemm_mma_sync(p);  // every other problem (and device, and build)
}

}  // namespace cuops::cuda
