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
#include "cuda/matmul/common.cuh"
#include "cuda/mma_ptx.cuh"

namespace cuops::cuda {
namespace tf32x3 {
namespace {

using namespace ptx;

// One block: a (warps_m * warp_m) x (warps_n * warp_n) tile of C in k steps
// of block_k through a ring of `stages` smem buffers.
struct TileConfig {
  int warps_m = 2, warps_n = 4;  // warp layout of the block (8 warps)
  int warp_m = 64, warp_n = 32;  // warp tile: (warp_m/16) x (warp_n/8) m16n8k8 tiles
  int block_k = 32;              // k depth of one stage
  int stages = 4;                // smem ring; stages - 1 k tiles in flight
};

template <TileConfig kCfg>
struct Tile {
  static constexpr TileConfig cfg = kCfg;
  static constexpr int BM = cfg.warps_m * cfg.warp_m, BN = cfg.warps_n * cfg.warp_n;
  static constexpr int BK = cfg.block_k;
  static constexpr int kThreads = 32 * cfg.warps_m * cfg.warps_n;
  static constexpr int MI = cfg.warp_m / 16, NI = cfg.warp_n / 8;  // mma tiles per warp
  // One operand's tile in either layout (see smem_idx; the larger of the two).
  static constexpr int tile_floats(int R) {
    return R * (BK + 4) > BK * (R + 8) ? R * (BK + 4) : BK * (R + 8);
  }
  static constexpr int kTileA = tile_floats(BM);
  static constexpr int kStageFloats = tile_floats(BM) + tile_floats(BN);
  static constexpr int kDynSmem = cfg.stages * kStageFloats * static_cast<int>(sizeof(float));
  static_assert(cfg.warp_m % 16 == 0 && cfg.warp_n % 8 == 0, "whole m16n8k8 tiles per warp");
  static_assert(BK % 32 == 0 && BM % 32 == 0 && BN % 32 == 0,
                "conflict-free padding (smem_idx) assumes unpadded rows of whole 32-bank lines");
  static_assert((BM * BK / 4) % kThreads == 0 && (BN * BK / 4) % kThreads == 0,
                "every thread copies the same number of 16-byte chunks");
  static_assert(cfg.stages >= 2, "a ring needs a stage being filled and one being read");
  static_assert(kDynSmem <= 160 * 1024, "fits sm_80's 163 KB of shared memory per block");
  static_assert(BK % 8 == 0, "whole k8 steps per stage");
};

// 8 warps of 64x32: 128 accumulators (acc + part) + 24 fragment registers per
// thread, one block per SM; 144 KB of smem in 4 stages.
constexpr TileConfig kDefault{};
using Cfg = Tile<kDefault>;

// ---------------------------------------------------------------------------
// Shared-memory layouts (float index of element (r, k), r = m for A, n for B).
// Padded rows, not XOR swizzles: a padded index is linear in (r, k), so every
// fragment address of a k step is one per-lane register + a compile-time
// offset (lds immediate); an XOR swizzle's per-(k, row) chunk indices would
// each need a register (255 registers and spills when tried).
// ---------------------------------------------------------------------------

// K-contiguous tile [R][BK + 4]: a fragment read takes rows g = 0..7 at
// columns t = 0..3: bank 4g + t, 32 distinct banks.
constexpr int kPadKC = 4;
// R-contiguous tile [BK][R + 8]: a fragment read takes k rows t = 0..3 at
// columns g = 0..7: bank 8t + g, 32 distinct banks.
constexpr int kPadRC = 8;

template <bool KC, int R>
__device__ __forceinline__ int smem_idx(int r, int k) {
  if constexpr (KC)
    return r * (Cfg::BK + kPadKC) + k;
  else
    return k * (R + kPadRC) + r;
}

// ---------------------------------------------------------------------------
// Stage 1: one operand's k tile global -> smem, 16-byte cp.async per chunk.
// x points at the operand of this batch item; ld = stride of its non-unit
// dim. Chunks past the operand's end are zero-filled (src_bytes < 16), so
// the mma loop never tests bounds. K-contiguous: rows r0.. of R_ext, columns
// k0..; R-contiguous: rows k0.. of K, columns r0.. of R_ext.
// ---------------------------------------------------------------------------
template <bool KC, int R>
__device__ __forceinline__ void load_operand(uint32_t dst, const float* __restrict__ x, int64_t ld,
                                             int64_t r0, int64_t R_ext, int64_t k0, int64_t K,
                                             int tid) {
  constexpr int BK = Cfg::BK;
  constexpr int kChunks = R * BK / 4, kRowChunks = KC ? BK / 4 : R / 4;
  // Chunk i of this thread: tile row row0 + i * kRowStep, the same column.
  // One base pointer + a stride per call (not a pointer per chunk kept live
  // across the main loop: registers are scarce next to 128 accumulators).
  constexpr int kRowStep = Cfg::kThreads / kRowChunks;
  const int row0 = tid / kRowChunks, col = (tid % kRowChunks) * 4;
  const int64_t g_row0 = (KC ? r0 : k0) + row0, g_col = (KC ? k0 : r0) + col;
  const int64_t rows = KC ? R_ext : K, cols = KC ? K : R_ext;  // the operand's extents
  const int64_t cols_left = cols - g_col;
  const int col_elems = static_cast<int>(cols_left < 0 ? 0 : (cols_left > 4 ? 4 : cols_left));
  const float* src = x + g_row0 * ld + g_col;
  const int64_t step = kRowStep * ld;
#pragma unroll
  for (int i = 0; i < kChunks / Cfg::kThreads; ++i) {
    const int row = row0 + i * kRowStep;
    const int elems = g_row0 + i * kRowStep < rows ? col_elems : 0;
    const uint32_t d = dst + 4 * (KC ? smem_idx<KC, R>(row, col) : smem_idx<KC, R>(col, row));
    cp_async_16(d, elems > 0 ? src + i * step : x, elems * 4);
  }
}

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

// Fragments of one k8 step, split: [0] = big, [1] = small.
struct Frags {
  uint32_t a[2][4];
  uint32_t b[Cfg::NI][2][2];
};

// ---------------------------------------------------------------------------
// Stage 2: the B fragments of a k8 step (all NI of the warp), split.
// ---------------------------------------------------------------------------
// kSplit = false (the plain TF32 step): big = tf32(x) only, no residual.
template <bool kSplit>
__device__ __forceinline__ void to_tf32(float x, uint32_t& big, uint32_t& small) {
  if constexpr (kSplit)
    split_tf32(x, big, small);
  else
    big = cvt_rna_tf32(x);
}

template <bool B_KC, bool kSplit>
__device__ __forceinline__ void load_b_frags(Frags& f, const float* bs, int n0, int kk, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int ni = 0; ni < Cfg::NI; ++ni) {
    const int n = n0 + ni * 8 + g;
#pragma unroll
    for (int j = 0; j < 2; ++j)
      to_tf32<kSplit>(bs[smem_idx<B_KC, Cfg::BN>(n, kk + t + 4 * j)], f.b[ni][0][j],
                      f.b[ni][1][j]);
  }
}

// The A fragment of m16 tile starting at row m0, split.
template <bool A_KC, bool kSplit>
__device__ __forceinline__ void load_a_frag(Frags& f, const float* as, int m0, int kk, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int j = 0; j < 4; ++j) {  // a0..a3: rows +0/+8, columns +0/+4
    const float v = as[smem_idx<A_KC, Cfg::BM>(m0 + g + 8 * (j & 1), kk + t + 4 * (j >> 1))];
    to_tf32<kSplit>(v, f.a[0][j], f.a[1][j]);
  }
}

// ---------------------------------------------------------------------------
// Stage 3: one smem stage's products into `part`: per k8 step and (mi, ni),
// the two correction products (the small ones) first, then big*big.
// ---------------------------------------------------------------------------
template <bool A_KC, bool B_KC, bool kSplit>
__device__ __forceinline__ void mma_stage(const float* as, const float* bs, int wm, int wn,
                                          int lane, float (&part)[Cfg::MI][Cfg::NI][4]) {
  Frags f;
  // Not unrolled: unrolled, the compiler hoists the next k steps' fragment
  // loads and splits (48 registers each) and runs out of registers; 48 mma
  // per step are independent work enough to cover one step's lds latency.
#pragma unroll 1
  for (int kk = 0; kk < Cfg::BK; kk += 8) {
    load_b_frags<B_KC, kSplit>(f, bs, wn * kDefault.warp_n, kk, lane);
#pragma unroll
    for (int mi = 0; mi < Cfg::MI; ++mi) {
      load_a_frag<A_KC, kSplit>(f, as, wm * kDefault.warp_m + mi * 16, kk, lane);
#pragma unroll
      for (int ni = 0; ni < Cfg::NI; ++ni) {
        if constexpr (kSplit) {
          mma_1688_tf32(part[mi][ni], f.a[1], f.b[ni][0]);  // small * big
          mma_1688_tf32(part[mi][ni], f.a[0], f.b[ni][1]);  // big * small
        }
        mma_1688_tf32(part[mi][ni], f.a[0], f.b[ni][0]);  // big * big
      }
    }
  }
}

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
  const int64_t ktiles = ceil_div<int64_t>(p.K, Cfg::BK);
  constexpr int S = kDefault.stages;
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

    float acc[Cfg::MI][Cfg::NI][4], part[Cfg::MI][Cfg::NI][4];
#pragma unroll
    for (int mi = 0; mi < Cfg::MI; ++mi)
#pragma unroll
      for (int ni = 0; ni < Cfg::NI; ++ni)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[mi][ni][j] = 0.f;

    // Prologue: stages - 1 tiles in flight (empty groups past the end keep
    // the wait counts uniform).
#pragma unroll
    for (int s = 0; s < S - 1; ++s) {
      if (s < ktiles) load_stage(s, s);
      cp_async_commit();
    }
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      cp_async_wait<S - 2>();  // tile kt has landed (this thread's copies)...
      __syncthreads();         // ...everyone's; and tile kt-1's slot is free
      const int64_t next = kt + S - 1;
      if (next < ktiles) load_stage(next, static_cast<int>(next % S));
      cp_async_commit();
      const float* as = smem + static_cast<int>(kt % S) * Cfg::kStageFloats;
#pragma unroll
      for (int mi = 0; mi < Cfg::MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < Cfg::NI; ++ni)
#pragma unroll
          for (int j = 0; j < 4; ++j) part[mi][ni][j] = 0.f;
      mma_stage<A_KC, B_KC, kSplit>(as, as + Cfg::kTileA, wm, wn, lane, part);
#pragma unroll
      for (int mi = 0; mi < Cfg::MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < Cfg::NI; ++ni)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[mi][ni][j] += part[mi][ni][j];
    }
    cp_async_wait<0>();
    __syncthreads();  // smem is refilled by the next batch item's prologue

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
