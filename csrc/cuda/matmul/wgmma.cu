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

#include "cuda/matmul/tma.cuh"
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
  const Ring<C> ring{(smem_u32(smem) + 1023u) & ~1023u, smem_u32(bars)};
  const int tid = threadIdx.x, wg = tid / 128;
  if (tid == 0) ring.init();
  __syncthreads();
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
      store_tile<T, C>(p, acc, z, m0 + cw * C::WM, n0, warp, lane, ring.out(4 * cw + warp),
                       [&](int64_t m) { return m * p.c_sm; });
    }
  }
#endif
}

// Tuning table (CUOPS_MATMUL_CONFIG="wgmma=<i>"): 0 = each consumer waits
// for its wgmma batch before issuing the next, 1 = one batch left in flight
// (config.cuh: batches_in_flight), 2 = as 0 but with the direct epilogue
// (pipeline.cuh: store_tile_direct) where the staged one applies. Every
// entry is in every build: they differ by one wait or one flag.
constexpr int kNumTuneEntries = 3;
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
bool launch(const GemmProblem& p) {
  using C = Tile<kCfg>;
  auto kernel = gemm_wgmma_kernel<T, C, A_MN, B_MN>;
  if (!kernel_in_build<C>(kernel)) return false;
  Params prm{};
  // A K-major operand: rows = M/N, columns = K, BM/BN-row boxes; an
  // M/N-major one: rows = K, columns = M/N, BK-row boxes (pipeline.cuh).
  // A batch is stacked along the rows (run() checked that the products
  // follow each other at exactly rows * ld).
  prm.batch = p.batch;
  prm.a_zrows = A_MN ? p.K : p.M;
  prm.b_zrows = B_MN ? p.K : p.N;
  prm.c_sz = p.batch > 1 ? p.batch_oc.strides[0][0] : 0;
  prm.tma_a = A_MN ? tma::make_map<T>(p.a, p.batch * p.K, p.M, p.a_sk, C::BK)
                   : tma::make_map<T>(p.a, p.batch * p.M, p.K, p.a_sm, C::BM);
  prm.tma_b = B_MN ? tma::make_map<T>(p.b, p.batch * p.K, p.N, p.b_sk, C::BK)
                   : tma::make_map<T>(p.b, p.batch * p.N, p.K, p.b_sn, C::BN);
  prm.M = p.M;
  prm.N = p.N;
  prm.K = p.K;
  prm.c = p.c;
  prm.bias = p.bias;
  prm.c_sm = p.c_sm;
  prm.c_sn = p.c_sn;
  prm.tiles_m = ceil_div<int64_t>(p.M, C::BM);
  prm.tiles_n = ceil_div<int64_t>(p.N, C::BN);
  prm.ktiles = static_cast<int>(ceil_div<int64_t>(p.K, C::BK));
  prm.c_pairs = p.c_sn == 1 && p.c_sm % 2 == 0 && prm.c_sz % 2 == 0 &&
                reinterpret_cast<uintptr_t>(p.c) % 4 == 0;
  prm.c_rows16 = p.c_sn == 1 && p.c_sm % 8 == 0 && prm.c_sz % 8 == 0 && p.N % 8 == 0 &&
                 reinterpret_cast<uintptr_t>(p.c) % 16 == 0 && tuning_entry() != 2;
  // Dynamic smem above 48 KB must be opted into, per kernel (and device).
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const int64_t tiles = prm.tiles_m * prm.tiles_n * prm.batch;
  const auto grid = static_cast<unsigned>(std::min<int64_t>(tiles, num_sms()));
  kernel<<<grid, C::kThreads, C::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(prm);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
}

// One instantiation per operand-layout combination.
template <typename T, TileConfig kCfg>
bool launch_layout(const GemmProblem& p, bool a_mn, bool b_mn) {
  if (!a_mn && b_mn) return launch<T, kCfg, false, true>(p);   // A row-major, B row-major
  if (!a_mn && !b_mn) return launch<T, kCfg, false, false>(p); // B = W.mT (linear forward)
  if (a_mn && b_mn) return launch<T, kCfg, true, true>(p);     // A = X.mT (weight gradient)
  return launch<T, kCfg, true, false>(p);
}

// Runs p if this step handles it (see the top of the file); false otherwise.
template <typename T>
bool run(const GemmProblem& p) {
  if (!is_sm90()) return false;  // sm_90a code runs on compute capability 9.0 only
  if (p.M < 64 || p.N < 64 || p.K < 16) return false;
  // A batch (one merged batch dim) is one tall map per operand: product z's
  // rows follow product z-1's at exactly rows * ld elements. Rows a tile
  // reads past its product's M or N belong to the next product (or are
  // zero-filled past the last) and feed only rows/columns of C that are not
  // stored; k rows past K would be multiplied, so a stacked M/N-major
  // operand (rows = K) needs K to be whole k tiles.
  int64_t a_sz = 0, b_sz = 0;
  if (p.batch > 1) {
    if (p.batch_oc.ndim != 1) return false;
    a_sz = p.batch_oc.strides[1][0];
    b_sz = p.batch_oc.strides[2][0];
  }
  const bool whole_k = p.batch == 1 || p.K % 64 == 0;
  // TMA box origins are int32 element coordinates (a tile may start 192
  // past the last row or column).
  const int64_t lim = int64_t{INT32_MAX} - 512;
  if (p.M > lim || p.N > lim || p.K > lim || p.batch * std::max({p.M, p.N, p.K}) > lim)
    return false;
  if (!aligned16(p.a) || !aligned16(p.b)) return false;
  // K-major: unit stride along K, rows of the other stride; M/N-major: the
  // reverse. M, N >= 64 and K >= 16, so no size-1 dim hides its stride. A
  // tensor map's rows do not overlap: the row stride spans the row.
  const bool one = p.batch == 1;
  const bool a_k = p.a_sk == 1 && tma::stride_ok(p.a_sm) && p.a_sm >= p.K &&
                   (one || a_sz == p.M * p.a_sm);
  const bool a_mn = p.a_sm == 1 && tma::stride_ok(p.a_sk) && p.a_sk >= p.M &&
                    (one || (a_sz == p.K * p.a_sk && whole_k));
  const bool b_k = p.b_sk == 1 && tma::stride_ok(p.b_sn) && p.b_sn >= p.K &&
                   (one || b_sz == p.N * p.b_sn);
  const bool b_mn = p.b_sn == 1 && tma::stride_ok(p.b_sk) && p.b_sk >= p.N &&
                    (one || (b_sz == p.K * p.b_sk && whole_k));
  if (!(a_k || a_mn) || !(b_k || b_mn)) return false;
  // 128 x 256 tiles when they give every SM one, else 128 x 128.
  const int64_t wide =
      ceil_div<int64_t>(p.M, Tile<kWide>::BM) * ceil_div<int64_t>(p.N, Tile<kWide>::BN) * p.batch;
  if (tuning_entry() == 1) {
    if (wide >= num_sms()) return launch_layout<T, in_flight(kWide, true)>(p, !a_k, !b_k);
    return launch_layout<T, in_flight(kNarrow, true)>(p, !a_k, !b_k);
  }
  if (wide >= num_sms()) return launch_layout<T, kWide>(p, !a_k, !b_k);
  return launch_layout<T, kNarrow>(p, !a_k, !b_k);
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

void gemm_wgmma(const GemmProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.matmul: variant 'wgmma' supports float16 and bfloat16, got ", p.dtype);
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  if (!gemm_wgmma_try(p)) gemm_mma_sync(p);  // every other problem (and device, and build)
}

}  // namespace cuops::cuda
