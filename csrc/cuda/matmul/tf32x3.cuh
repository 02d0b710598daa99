// The warp-level core of the 3xTF32 / TF32 steps (matmul mma_3xtf32 and
// mma_tf32, conv2d implicit_gemm_3xtf32): tile configuration, shared-memory
// layouts, the 16-byte operand loader, the split fragments, the mma stage and
// the multistage cp.async main loop. The kernels around it own their global
// operand views (dense matrices, im2col gathers) and their epilogues. The
// arithmetic and the two-level accumulation are explained at the top of
// matmul/mma_3xtf32.cu.
#pragma once

#include "cuda/matmul/common.cuh"
#include "cuda/mma_ptx.cuh"

namespace cuops::cuda::tf32x3 {

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
// The main loop over `ktiles` k tiles through the ring of smem stages:
// load_stage(kt, s) issues tile kt's cp.async copies into stage s (and
// nothing else: the commits are here). acc = the sum of the products, each
// k tile's in `part` first (see the top of mma_3xtf32.cu). On return every
// copy has landed and every warp is past its last smem read, so the caller
// may reuse the shared memory.
// ---------------------------------------------------------------------------
template <bool A_KC, bool B_KC, bool kSplit, typename LoadStage>
__device__ __forceinline__ void main_loop(int64_t ktiles, const float* smem, int wm, int wn,
                                          int lane, float (&acc)[Cfg::MI][Cfg::NI][4],
                                          LoadStage&& load_stage) {
  constexpr int S = Cfg::cfg.stages;
  float part[Cfg::MI][Cfg::NI][4];
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
    if (s < ktiles) load_stage(static_cast<int64_t>(s), s);
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
  __syncthreads();
}

}  // namespace cuops::cuda::tf32x3
