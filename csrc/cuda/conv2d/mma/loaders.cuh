// Tensor-core implicit GEMM: the block's place in the problem and the two
// global -> shared loaders (B: weight rows; A: input pixels gathered as
// im2col on the fly). Both write the swizzled layout of config.cuh, so the
// main loop does not know which A path filled a stage.
#pragma once

#include "cuda/conv2d/mma/config.cuh"

namespace cuops::cuda::conv_mma {

using namespace ptx;  // cp.async, ldmatrix, mma.sync wrappers (csrc/cuda/mma_ptx.cuh)

// The block's output tile and GEMM-K range. N-tile fastest in blockIdx.x:
// blocks resident together share their A (pixel) tile, so the input is read
// from DRAM about once and the other N-tiles hit in L2. kSplit: blockIdx.y
// owns BK tiles [kt0, kt0 + nkt) of GEMM-K; else all of it.
struct BlockTile {
  int64_t m0;           // first output pixel (GEMM row)
  int k0;               // first output channel within the group (GEMM column)
  int g;                // group
  const uint16_t* x;    // the group's input channels
  const uint16_t* wb;   // the group's B rows
  int kt0, nkt;         // nkt >= 1 (launcher)
};

template <class C, bool kSplit>
__device__ __forceinline__ BlockTile block_tile(const MmaParams& p) {
  BlockTile b;
  const int n_tile = static_cast<int>(blockIdx.x % p.tiles_n);
  b.m0 = static_cast<int64_t>(blockIdx.x / p.tiles_n) * C::BM;
  b.k0 = n_tile * C::BN;
  b.g = p.g0 + static_cast<int>(blockIdx.z);
  b.x = p.x + static_cast<int64_t>(b.g) * p.Cg * p.x_sc;
  b.wb = p.wb + static_cast<int64_t>(b.g) * p.Kg * p.ldb;
  b.kt0 = kSplit ? static_cast<int>(blockIdx.y) * p.kt_per_split : 0;
  b.nkt = kSplit ? min(p.KT - b.kt0, p.kt_per_split) : p.KT;
  return b;
}

// ---- B loader: rows k (output channels), chunk column tid % CPR ------------
// Few rows per thread (<= 4): a pointer per row that moves BK elements per
// tile, and a kk-limit per row (0 for rows past Kg), so one compare covers
// both tails. Many rows (64-thread blocks at BK = 64): one pointer, a row
// stride and the count of rows left before Kg, leaving the registers to
// the accumulators; also for the general A path with >= 4 staged A rows.
// (Pointers of rows past Kg are never dereferenced.)
template <class C, bool kFastA>
struct BLoader {
  static constexpr int BK = C::BK, ROW_STEP = C::ROW_STEP, ITERS = C::B_ITERS;
  static constexpr bool kCompact = ITERS > 4 || (!kFastA && C::GA_ROWS >= 4);
  static constexpr int kRegs = kCompact ? 1 : ITERS;
  const uint16_t* ptr[kRegs];
  int lim[kRegs];
  int kk;        // GEMM-K index of this thread's next chunk
  uint32_t dst;  // general A path: smem offset of its first row (+ it * ROW_STEP rows)

  __device__ __forceinline__ BLoader(const MmaParams& p, const BlockTile& blk) {
    const int tid = threadIdx.x;
    const int bc = tid % C::CPR, row0 = tid / C::CPR;
    if constexpr (kCompact) {
      lim[0] = p.Kg - blk.k0 - row0;  // row it is valid iff it * ROW_STEP < lim[0]
      ptr[0] = blk.wb + static_cast<int64_t>(blk.k0 + row0) * p.ldb + blk.kt0 * BK + bc * 8;
    } else {
#pragma unroll
      for (int it = 0; it < ITERS; ++it) {
        const int k = blk.k0 + row0 + it * ROW_STEP;
        lim[it] = k < p.Kg ? p.Kb : 0;
        ptr[it] = blk.wb + static_cast<int64_t>(k < p.Kg ? k : 0) * p.ldb + blk.kt0 * BK + bc * 8;
      }
    }
    kk = blk.kt0 * BK + bc * 8;
    if constexpr (!kFastA) dst = C::A_BYTES + swz_off<BK>(row0, bc);
  }

  // One BK tile into stage `stage`, then advance by BK.
  __device__ __forceinline__ void load(const MmaParams& p, uint32_t smem_base, int stage) {
    // With the fast A path the offset is formed here: the thread's A chunk
    // has the same (row, chunk), so the compiler computes the swizzle once.
    const int tid = threadIdx.x;
    const uint32_t row_dst =
        kFastA ? C::A_BYTES + swz_off<BK>(tid / C::CPR, tid % C::CPR) : dst;
    const uint32_t d = smem_base + stage * C::STAGE_BYTES + row_dst;
    if constexpr (kCompact) {
      const bool kk_ok = kk < p.Kb;
      const int64_t row_step = static_cast<int64_t>(ROW_STEP) * p.ldb;
      const uint16_t* src = ptr[0];
#pragma unroll
      for (int it = 0; it < ITERS; ++it, src += row_step) {
        const bool ok = kk_ok && it * ROW_STEP < lim[0];
        cp_async_16(d + it * ROW_STEP * C::kRowBytes, ok ? src : p.wb, ok);
      }
      ptr[0] += BK;
    } else {
#pragma unroll
      for (int it = 0; it < ITERS; ++it) {
        const bool ok = kk < lim[it];
        cp_async_16(d + it * ROW_STEP * C::kRowBytes, ok ? ptr[it] : p.wb, ok);
        ptr[it] += BK;
      }
    }
    kk += BK;
  }
};

// ---- A loader -------------------------------------------------------------
// Per row, what does not change along GEMM-K is computed once: a pointer to
// the top-left tap of the pixel's receptive field (it may point outside the
// image; it is only dereferenced when the tap is inside) and that tap's
// input coordinates. Rows past M get ih0 = -2^30, so their taps are never
// inside (set_shape32 bounds every extent by 2^30).
// Fast: rows (tid/CPR) + it*ROW_STEP, chunk column tid%CPR.
// General: rows (tid>>1) + it*THREADS/2, kk columns (tid&1)*16 .. +15.
// With more than 4 rows per thread (C::kRowTable: 64-thread blocks at
// BK = 64, 128x128 with 4 warps) the fast path keeps this state in a
// per-block table in shared memory instead of registers: the 8 threads of
// a row read the same 16-byte entry (a broadcast), once per tile. So does
// the general path when it stages >= 4 rows (128x64 with 2 warps).
struct alignas(16) RowInfo {
  const uint16_t* ptr;
  int ih0, iw0;
};

template <class C, bool kFastA>
struct ALoader {
  static constexpr int BK = C::BK, THREADS = C::kThreads, ROW_STEP = C::ROW_STEP;
  static constexpr int GA_ROWS = C::GA_ROWS;
  static_assert(kFastA || (GA_ROWS >= 1 && C::BM * BK == THREADS * 16 * GA_ROWS),
                "general A loader shape");
  static constexpr bool kTable = C::kRowTable && (kFastA || GA_ROWS >= 4);
  static constexpr int A_ROWS = kTable ? 1 : (kFastA ? C::A_ITERS : GA_ROWS);  // register rows
  static constexpr int V_ROWS = kFastA ? 1 : GA_ROWS;  // general: rows staged in registers
  using Staged = uint32_t[V_ROWS][8];                  // general: one tile's values, packed

  const uint16_t* a_ptr[A_ROWS];
  int a_ih0[A_ROWS], a_iw0[A_ROWS];
  RowInfo* table;
  // Fast path: the (r, s, c) tap of this thread's next chunk, its offsets in
  // input rows/cols (r*dh, s*dw) and in elements (koff, 32-bit: the
  // launcher checks the whole receptive field spans < 2^31 elements). Moving
  // along GEMM-K only adds precomputed deltas: no division, no multiply.
  int r = 0, s = 0, c = 0, dih = 0, diw = 0, koff = 0;

  __device__ __forceinline__ ALoader(const MmaParams& p, const BlockTile& blk, uint8_t* smem) {
    const int tid = threadIdx.x;
    auto row_info = [&](int row) {
      const int64_t m = blk.m0 + row;
      int64_t n = 0;
      int pp = 0, q = 0;
      if (m < p.M) decode_pixel(m, p.PQ, p.Q, n, pp, q);
      RowInfo e;
      e.ih0 = m < p.M ? pp * p.sh - p.ph : -(1 << 30);
      e.iw0 = q * p.sw - p.pw;
      e.ptr = blk.x + (n * p.x_sn + static_cast<int64_t>(pp * p.sh - p.ph) * p.x_sh +
                       static_cast<int64_t>(e.iw0) * p.x_sw);
      return e;
    };
    table = reinterpret_cast<RowInfo*>(smem + C::kTableOffset);
    if constexpr (kTable) {
      for (int row = tid; row < C::BM; row += THREADS) table[row] = row_info(row);
      __syncthreads();  // the table is read by other threads from the prologue on
    } else {
#pragma unroll
      for (int it = 0; it < A_ROWS; ++it) {
        const RowInfo e =
            row_info(kFastA ? tid / C::CPR + it * ROW_STEP : (tid >> 1) + it * (THREADS / 2));
        a_ptr[it] = e.ptr;
        a_ih0[it] = e.ih0;
        a_iw0[it] = e.iw0;
      }
    }
    if constexpr (kFastA) {
      // Closed form of the incremental walk in load(), valid at any kk
      // (split-K starts mid-way); r may reach R past GEMM-K (k_ok then fails).
      const int kk = blk.kt0 * BK + (tid % C::CPR) * 8;  // Cg >= 8 here
      c = kk % p.Cg;
      const int rs = kk / p.Cg;
      s = rs % p.S;
      r = rs / p.S;
      dih = r * p.dh;
      diw = s * p.dw;
      koff = c + r * p.d_r0 + s * p.d_s;
    }
  }

  // The state of this thread's row `it` (its it-th of the fast or general
  // loader's rows).
  __device__ __forceinline__ RowInfo row(int it, int table_row) const {
    if constexpr (kTable) {
      return table[table_row];
    } else {
      return {a_ptr[it], a_ih0[it], a_iw0[it]};
    }
  }

  // Fast path: one 16-byte cp.async per row (zero-filled outside the image
  // and past GEMM-K) into stage `stage`, then advance by BK.
  __device__ __forceinline__ void load(const MmaParams& p, uint32_t smem_base, int stage) {
    const int tid = threadIdx.x;
    const uint32_t dst = swz_off<BK>(tid / C::CPR, tid % C::CPR);  // + it * ROW_STEP rows
    const bool k_ok = r < p.R;  // false past GEMM-K (Ktot % 8 == 0 here)
#pragma unroll
    for (int it = 0; it < C::A_ITERS; ++it) {
      const RowInfo e = row(it, tid / C::CPR + it * ROW_STEP);
      const bool ok = k_ok && static_cast<unsigned>(e.ih0 + dih) < static_cast<unsigned>(p.H) &&
                      static_cast<unsigned>(e.iw0 + diw) < static_cast<unsigned>(p.W);
      cp_async_16(smem_base + stage * C::STAGE_BYTES + dst + it * ROW_STEP * C::kRowBytes,
                  ok ? e.ptr + koff : p.x, ok);
    }
    // Advance this chunk by BK along GEMM-K. With Cg % BK == 0 the loop runs
    // at most once; smaller Cg (8, 16, 24, 40, ...) wraps into the next
    // (r, s) once per Cg: c stays in [0, Cg), and since Cg % 8 == 0 a chunk
    // never straddles two taps. Past GEMM-K, r only grows (k_ok stays false).
    c += BK;
    koff += BK;
    while (c >= p.Cg) {
      c -= p.Cg;
      koff += p.d_s - p.Cg;  // next s, channel back to the wrapped c
      diw += p.dw;
      if (++s == p.S) {
        s = 0;
        diw = 0;
        ++r;
        dih += p.dh;
        koff += p.d_r;  // next r, s back to 0
      }
    }
  }

  // General path (BK = 32): per row, 16 predicated scalar loads of tile kt
  // packed into 8 registers. The tap (r, s, c) of the first column is
  // decoded once per tile (the general path may divide); the 16 columns then
  // step c with carries.
  __device__ __forceinline__ void load_regs(const MmaParams& p, int kt, Staged& v) const {
    const int tid = threadIdx.x;
    RowInfo rows[V_ROWS];
#pragma unroll
    for (int it = 0; it < V_ROWS; ++it) rows[it] = row(it, (tid >> 1) + it * (THREADS / 2));
    const int kk = kt * BK + (tid & 1) * 16;
    const int rs = kk / p.Cg;
    int cc = kk - rs * p.Cg;
    int rr = rs / p.S;
    int ss = rs - rr * p.S;
#pragma unroll
    for (int e = 0; e < 16; ++e) {
      const bool k_ok = rr < p.R;
      const int row_off = rr * p.dh, col_off = ss * p.dw;
#pragma unroll
      for (int it = 0; it < V_ROWS; ++it) {
        uint32_t val = 0;  // bit pattern of +0.0 in fp16 and bf16
        if (k_ok && static_cast<unsigned>(rows[it].ih0 + row_off) < static_cast<unsigned>(p.H) &&
            static_cast<unsigned>(rows[it].iw0 + col_off) < static_cast<unsigned>(p.W)) {
          val = rows[it].ptr[cc * p.x_sc + static_cast<int64_t>(row_off) * p.x_sh +
                             static_cast<int64_t>(col_off) * p.x_sw];
        }
        if (e % 2 == 0) {
          v[it][e / 2] = val;
        } else {
          v[it][e / 2] |= val << 16;
        }
      }
      if (++cc == p.Cg) {
        cc = 0;
        if (++ss == p.S) {
          ss = 0;
          ++rr;
        }
      }
    }
  }

  // General path: the staged values into stage `stage` (16-byte stores).
  __device__ __forceinline__ void store_regs(uint32_t smem_base, int stage, const Staged& v) const {
    const int tid = threadIdx.x;
    const uint32_t base = smem_base + stage * C::STAGE_BYTES;
    const int ch = (tid & 1) * 2;
#pragma unroll
    for (int it = 0; it < V_ROWS; ++it) {
      const int rw = (tid >> 1) + it * (THREADS / 2);
      st_shared_v4(base + swz_off<BK>(rw, ch), v[it][0], v[it][1], v[it][2], v[it][3]);
      st_shared_v4(base + swz_off<BK>(rw, ch + 1), v[it][4], v[it][5], v[it][6], v[it][7]);
    }
  }
};

}  // namespace cuops::cuda::conv_mma
