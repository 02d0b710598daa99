// Step 9 of the CUDA matmul ladder: fp32 GEMM on the tf32 tensor cores with
// fp32 accuracy ("3xTF32", opt-in; docs/matmul-worklog.md, step 9).
//
// A tf32 number keeps 10 of fp32's 23 mantissa bits. Each fp32 operand value
// x is split, in registers right after its fragment is read from shared
// memory, into big = tf32(x) and small = tf32(x - big): x = big + small up to
// ~2^-22 |x|. Then
//   a*b = a_big*b_big + a_big*b_small + a_small*b_big (+ a_small*b_small),
// and the dropped last term is ~2^-22 of a*b, below fp32's own rounding of a
// long sum. Three tf32 mma per product instead of one: the tf32 tensor-core
// rate / 3 is still ~2x the fp32 FMA pipes (prediction in the worklog).
//
//   global --cp.async (16 B, zero-fill at tails)--> smem ring of 4 stages
//   smem   --32-bit lds (padded rows, conflict-free)--> fp32 fragments
//   frags  --split_tf32--> big/small --3 x mma.m16n8k8.tf32--> part (k tile)
//   acc += part (fp32 adds, once per k tile); acc (+ bias), guarded store
//
// Accumulators, two levels: each k tile's products (32 k: small*big,
// big*small, then big*big per k8 step, the small terms first) go into `part`,
// zeroed per tile; `part` is then added into `acc` with ordinary
// round-to-nearest fp32 adds. The mma adds its products into its accumulator
// at that accumulator's scale, so the ~2^-11-smaller corrections lose bits
// in proportion to the running sum they meet: added straight into a K-long
// sum they lose most of them (the finding of Triton's 3xTF32 work,
// /work/shared/hopper-notes.md section 4.2). In `part` they meet at most 32
// k-terms, and the K-long sum is a plain fp32 sum of K/32 tile sums: fewer
// and correctly rounded additions than one mma chain over all of K. Cost: 64
// accumulator registers and 64 FADD per thread per k tile.
//
// Why plain 32-bit lds and not ldmatrix: ldmatrix moves 16-bit pairs, so a
// 32-bit element is only whole in a lane when the fragment's 32-bit layout
// happens to match its "row l/4, pair l%4" order; it does for A and B read
// along K (the tf32 "b16 trick"), but not for M/N-contiguous tiles (.trans
// would split each fp32 across two lanes). Plain lds works for all four
// operand layouts with one code path; padded rows make every fragment read
// hit 32 distinct banks (smem_idx).
//
// What is reused: the PTX wrappers (mma_ptx.cuh), the tile order
// (mm::tile_coords, the same grouped rasterization as mma_sync's scheduler),
// batch offsets and the bias epilogue (common.cuh), and fp32's layout analysis
// (mm::operand_load_mode). mma_sync's loaders and fragment code are written
// for 16-bit elements (8 per 16-byte chunk, ldmatrix), so the loader here is
// its own. Layouts without 16-byte loads (misaligned, no unit stride, odd
// leading stride) run gemm_warptile_static (which falls back to warptile):
// no copy to an aligned buffer, as fp32's tile kernel already covers them.
// Deterministic: one block owns a tile and sums its K in a fixed order.
// Non-finite operands: an inf x gets small = 0 (not inf - inf = NaN), but
// its big still meets the other operand's small, which is 0 whenever that
// value is exactly a tf32 number: inf * 0 = NaN where fp32 would give inf.
// The split, like any 3xTF32, is exact only for finite data (and |x| below
// the largest tf32, ~3.4025e38, above which big rounds to inf).
#include "cuda/matmul/tf32x3.cuh"

namespace cuops::cuda {
namespace tf32x3 {
namespace {

struct Problem {
  const float* a;
  const float* b;
  float* c;
  const float* bias;
  int64_t M, N, K, batch;
  int64_t lda, ldb, c_sm, c_sn;  // lda/ldb: stride of A's / B's non-unit dim
  int64_t tiles_m, tiles_n;
  OffsetCalculator<3> oc;
};

// ---------------------------------------------------------------------------
// Stage 4: C = acc (+ bias[n]), every store guarded (edge tiles).
// ---------------------------------------------------------------------------
__device__ __forceinline__ void store_tile(const Problem& p, float* c, int64_t m_block,
                                           int64_t n_block, int wm, int wn, int lane,
                                           const float (&acc)[Cfg::MI][Cfg::NI][4]) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mi = 0; mi < Cfg::MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < Cfg::NI; ++ni)
#pragma unroll
      for (int j = 0; j < 4; ++j) {  // c0,c1: row g; c2,c3: row g+8; columns 2t, 2t+1
        const int64_t m = m_block + wm * kDefault.warp_m + mi * 16 + g + 8 * (j >> 1);
        const int64_t n = n_block + wn * kDefault.warp_n + ni * 8 + 2 * t + (j & 1);
        if (m < p.M && n < p.N)
          c[m * p.c_sm + n * p.c_sn] = mm::epilogue<float>(acc[mi][ni][j], p.bias, n);
      }
}

// ---------------------------------------------------------------------------
// The kernel: one output tile (blockIdx.x, grouped order) per batch item
// (blockIdx.z, + gridDim.z, ...), a multistage cp.async main loop.
// ---------------------------------------------------------------------------
template <bool A_KC, bool B_KC, bool kSplit>
__global__ void __launch_bounds__(Cfg::kThreads, 1)
    gemm_3xtf32_kernel(const __grid_constant__ Problem p) {
  extern __shared__ __align__(128) float smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / kDefault.warps_n, wn = warp % kDefault.warps_n;
  int64_t tm, tn;
  mm::tile_coords(blockIdx.x, p.tiles_m, p.tiles_n, tm, tn);
  const int64_t m_block = tm * Cfg::BM, n_block = tn * Cfg::BN;
  const uint32_t smem_base = smem_u32(smem);

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t off[3];
    mm::batch_offsets(p.oc, z, off);
    const float* a = p.a + off[1];
    const float* b = p.b + off[2];
    // Stage s of the ring: A tile, then B tile.
    const auto load_stage = [&](int64_t kt, int s) {
      const uint32_t dst = smem_base + 4u * static_cast<uint32_t>(s * Cfg::kStageFloats);
      load_operand<A_KC, Cfg::BM>(dst, a, p.lda, m_block, p.M, kt * Cfg::BK, p.K, tid);
      load_operand<B_KC, Cfg::BN>(dst + 4u * Cfg::kTileA, b, p.ldb, n_block, p.N,
                                  kt * Cfg::BK, p.K, tid);
    };

    float acc[Cfg::MI][Cfg::NI][4];
    main_loop<A_KC, B_KC, kSplit>(ceil_div<int64_t>(p.K, Cfg::BK), smem, wm, wn, lane, acc,
                                  load_stage);  // ends synced: the next item may refill smem

    store_tile(p, p.c + off[0], m_block, n_block, wm, wn, lane, acc);
  }
}

template <bool A_KC, bool B_KC, bool kSplit>
void launch(const Problem& prm, dim3 grid) {
  auto kernel = gemm_3xtf32_kernel<A_KC, B_KC, kSplit>;
  // Dynamic smem above 48 KB must be opted into, per kernel (and device).
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kDynSmem));
  kernel<<<grid, Cfg::kThreads, Cfg::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(prm);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The step on one problem: kSplit = true is mma_3xtf32, false plain TF32.
template <bool kSplit>
void run(const GemmProblem& p) {
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  // 16-byte cp.async needs each operand unit-stride along one dim with every
  // row start 16-byte aligned (pointer, leading stride, batch strides).
  constexpr int V = 4;
  const mm::LoadMode am = mm::operand_load_mode(p, 1, sizeof(float), V);
  const mm::LoadMode bm = mm::operand_load_mode(p, 2, sizeof(float), V);
  const bool vec_a = am == mm::kVecK || am == mm::kVecR, vec_b = bm == mm::kVecK || bm == mm::kVecR;
  // 144 KB of stages: sm_80 and sm_90 have it, some GPUs (sm_86/89: 99 KB) do not.
  const bool smem_ok =
      at::cuda::getCurrentDeviceProperties()->sharedMemPerBlockOptin >= size_t{Cfg::kDynSmem};
  if (!vec_a || !vec_b || !smem_ok) return gemm_warptile_static(p);

  const bool a_kc = am == mm::kVecK, b_kc = bm == mm::kVecK;
  Problem prm{static_cast<const float*>(p.a),
                      static_cast<const float*>(p.b),
                      static_cast<float*>(p.c),
                      static_cast<const float*>(p.bias),
                      p.M,
                      p.N,
                      p.K,
                      p.batch,
                      a_kc ? p.a_sm : p.a_sk,
                      b_kc ? p.b_sn : p.b_sk,
                      p.c_sm,
                      p.c_sn,
                      ceil_div<int64_t>(p.M, Cfg::BM),
                      ceil_div<int64_t>(p.N, Cfg::BN),
                      p.batch_oc};
  const dim3 grid = mm::gemm_grid(p, Cfg::BM, Cfg::BN);
  if (a_kc && !b_kc)  // a plain row-major a @ b
    launch<true, false, kSplit>(prm, grid);
  else if (a_kc && b_kc)  // B = W.mT (linear forward)
    launch<true, true, kSplit>(prm, grid);
  else if (!a_kc && !b_kc)  // A = X.mT (weight gradient)
    launch<false, false, kSplit>(prm, grid);
  else
    launch<false, true, kSplit>(prm, grid);
}

}  // namespace
}  // namespace tf32x3

void gemm_mma_3xtf32(const GemmProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.matmul(mma_3xtf32): unsupported dtype ", p.dtype);
  tf32x3::run<true>(p);
}

void gemm_mma_tf32(const GemmProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.matmul(mma_tf32): unsupported dtype ", p.dtype);
  tf32x3::run<false>(p);
}

}  // namespace cuops::cuda
