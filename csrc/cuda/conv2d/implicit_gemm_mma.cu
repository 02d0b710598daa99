// conv2d ladder step 3: implicit GEMM on tensor cores (fp16/bf16, sm_80+).
//
// The convolution is a GEMM whose operands are never materialized:
//   C[m][k]  = sum_kk A[m][kk] * B[kk][k]           (one GEMM per group g)
//   m  = (n, p, q)  output pixel,         GEMM-M = N*P*Q
//   k  = output channel within the group, GEMM-N = Kg = K/groups
//   kk = (r, s, c)  with c fastest,       GEMM-K = R*S*Cg
//   A[m][kk] = x[n][g*Cg + c][p*sh - ph + r*dh][q*sw - pw + s*dw]   (0 outside the image)
//   B[kk][k] = w[g*Kg + k][c][r][s]
// With c fastest, 8 consecutive kk of one row of A are 8 consecutive channels
// of one input pixel: for channels_last (NHWC) input that is one 16-byte load,
// so the "im2col" gather costs nothing beyond an address computation.
//
// Block tile BM x BN x BK, multi-stage cp.async pipeline, XOR-swizzled
// shared memory read by ldmatrix, mma.sync m16n8k16 with fp32 accumulators.
// One kernel template, parameterized by a ConvTile (tile, warp layout, BK 32
// or 64, fragment double-buffering, launch bounds). The heuristic uses three
// configurations (see launch_typed): 128x128 (8 warps, 64x32 warp tiles, BK
// 32), 128x64 (8 warps, 32x32, BK 64, double-buffered) for Kg <= 128, and
// 64x64 (4 warps, 32x32, BK 64, double-buffered) when bigger tiles would
// leave SMs idle. See docs/conv2d-mma.md and docs/conv2d-worklog.md (3e, 3f).
// Tuning table (CUOPS_CONV_CONFIG="implicit_gemm_mma=<i>", tile_config;
// docs/conv2d-worklog.md 3e): i >= 1 forces one of 8 more configurations
// (bigger warp tiles, BK = 64, fragment double-buffering with cross-tile
// prefetch as in CUTLASS's multistage mainloop) in both the plain and the
// split-K step, for a sweep (scripts/explore/tune_conv.py --tiles).
//
// Operand paths (all write the same shared-memory layout, so the MMA loop is
// shared):
//   A fast:    channels-contiguous input (x_sc == 1), Cg % 8 == 0, 16-byte
//              aligned pixels: 16-byte cp.async per (pixel, 8 channels), with
//              src-size 0 to zero-fill padding pixels and the GEMM-K tail.
//   A general: any strides / Cg / alignment: predicated 2-byte loads into
//              registers, issued before the tile's MMAs and stored to shared
//              memory after them, so their latency hides behind the math.
//   B:         always 16-byte cp.async from a [K][Kb] matrix with kk
//              contiguous: the weight itself when it already is that
//              (channels_last weight, R*S*Cg % 8 == 0, aligned), else a packed
//              copy made by a tiny pre-pass (weights are small and each one is
//              re-read by every M-tile, so a fast B path pays for the copy).
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"
#include "cuda/mma_ptx.cuh"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <type_traits>

namespace cuops::cuda {
namespace {

using namespace ptx;  // cp.async, ldmatrix, mma.sync wrappers (csrc/cuda/mma_ptx.cuh)

// Data moves as raw 16-bit patterns (no conversion on the load path); only
// bias and the epilogue convert.
template <typename T>
__device__ __forceinline__ float bits_to_float(uint16_t b) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(__ushort_as_half(b));
  } else {
    return __bfloat162float(__ushort_as_bfloat16(b));
  }
}
template <typename T>
__device__ __forceinline__ uint16_t float_to_bits(float v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half_as_ushort(__float2half_rn(v));
  } else {
    return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  }
}
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return static_cast<uint32_t>(float_to_bits<T>(lo)) |
         (static_cast<uint32_t>(float_to_bits<T>(hi)) << 16);
}

// m -> (n, p, q). 32-bit division when m fits (the common case): 64-bit
// division is a long software sequence. Runs once per row per block only.
__device__ __forceinline__ void decode_pixel(int64_t m, int PQ, int Q, int64_t& n, int& p,
                                             int& q) {
  int rem;
  if (m <= INT_MAX) {
    const int mi = static_cast<int>(m);
    n = mi / PQ;
    rem = mi - static_cast<int>(n) * PQ;
  } else {
    n = m / PQ;
    rem = static_cast<int>(m - n * PQ);
  }
  p = rem / Q;
  q = rem - p * Q;
}

// ---------------------------------------------------------------------------
// The kernel
// ---------------------------------------------------------------------------

// Pipeline depth: tiles in flight while one is consumed, as GEMM-K elements
// ahead of the math: 96 (3 BK=32 tiles) for the big tiles, 160 (5 tiles) for
// 64x64 and smaller (chosen when blocks are few, so each SM has few warps to
// switch between; its per-tile math is a quarter of 128x128's, so the same
// load latency needs more tiles ahead: docs/conv2d-worklog.md, 3d).
//   stages = ceil(ahead / BK) + 1
// BK=32: 6 (64x64) / 4 stages, as measured; BK=64: 4 (64x64) / 3 stages.
constexpr int stages_for(int bm, int bn, int bk) {
  return ((bm * bn <= 64 * 64 ? 160 : 96) + bk - 1) / bk + 1;
}
constexpr int kMaxBK = 64;  // largest BK of any configuration (launcher's 32-bit checks)

// One kernel configuration: block tile BM x BN x BK, WARPS_M x WARPS_N warps,
// kFragDB = fragment double-buffering with cross-tile prefetch (fast A path
// only; see the main loop), kMinBlocks = __launch_bounds__ blocks per SM
// (0: the default rule of min_blocks() below).
template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int BK_ = 32, bool kFragDB_ = false,
          int kMinBlocks_ = 0>
struct ConvTile {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, BK = BK_;
  static constexpr bool kFragDB = kFragDB_;
  static constexpr int kMinBlocks = kMinBlocks_;
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kStages = stages_for(BM, BN, BK);
  static constexpr int kRowBytes = BK * 2;  // one smem row: BK/8 chunks of 16 B
  // Fast A loader rows per thread > 4: per-row state in a shared-memory table
  // (BM entries of 16 B after the stages) instead of registers (see kernel).
  static constexpr bool kRowTable = BM * BK / 8 / kThreads > 4;
  static constexpr int kTableOffset = kStages * (BM + BN) * kRowBytes;
  static constexpr int kSmem = kTableOffset + (kRowTable ? BM * 16 : 0);
  static_assert(BK == 32 || BK == 64, "BK: 32 or 64 (swz_off)");
  static_assert(kSmem <= 227 * 1024, "dynamic shared memory per block");
};
// The general A path keeps BK = 32 and the plain loop (its 16-kk-per-thread
// register staging would need 2x the registers at BK = 64, and its
// after-the-MMA smem store is simplest to reason about there): a forced
// configuration runs the general path on this companion of the same tile.
// 8 warps take the default rule (2 blocks/SM: without the second fragment
// set, 128 registers suffice; the same type as the heuristic's 128x128).
template <class C>
using GeneralOf = ConvTile<C::BM, C::BN, C::WARPS_M, C::WARPS_N, 32, false,
                           C::kThreads >= 256 ? 0 : C::kMinBlocks>;

struct MmaParams {
  const uint16_t* x;     // input, pre-offset by nothing (group offset added in-kernel)
  const uint16_t* wb;    // B source: [K][ldb] rows, kk contiguous
  uint16_t* y;
  const uint16_t* bias;  // [K] or null
  int64_t x_sn, x_sc, x_sh, x_sw;
  int64_t ldb;           // elements between consecutive output channels in wb
  int64_t y_sn, y_sk, y_sp, y_sq;
  int64_t M;             // N*P*Q
  int H, W, P, Q, PQ, R, S, Cg, Kg;
  int sh, sw, ph, pw, dh, dw;
  int d_s, d_r, d_r0;    // fast A: element deltas for s+1, for (r+1, s=0) from s=S, for r+1
  int Ktot;              // R*S*Cg: valid GEMM-K extent of A
  int Kb;                // valid GEMM-K extent of B rows (>= Ktot, multiple of 8; zeros past Ktot)
  int KT;                // number of BK tiles (set per configuration by launch_cfg)
  int tiles_n;           // ceil(Kg / BN)
  int g0;                // group of blockIdx.z == 0 (launches are split at 65535 groups)
  int kt_per_split;      // split-K only: BK tiles per blockIdx.y
  float* ws;             // split-K only: fp32 partials [gridDim.y][M][K] (no bias)
  int64_t K;             // split-K only: all output channels (row length of ws)
  bool y_vec2;           // y channel-contiguous and 4-byte aligned pairs: 32-bit stores
};

// Shared-memory layout of one operand tile: ROWS rows of BK/8 chunks of 8
// elements (16 B); ldmatrix reads 8 rows x 16 B at one chunk column.
// BK = 32 (64-byte rows): the chunk index is XOR-ed with (row >> 1) & 3.
//   Unswizzled, rows 0,2,4,6 (and 1,3,5,7) would hit the same banks (4-way
//   conflict); with the XOR the 8 rows land on 8 distinct 16-byte bank groups
//   (row parity picks the half of the 128-byte line, the XOR picks the
//   chunk). The cp.async writers (8 consecutive threads = 2 rows x 4 chunks)
//   also stay conflict free, since rows 2i and 2i+1 share a swizzle.
// BK = 64 (128-byte rows, every row starts at bank 0): chunk ^ (row & 7), so
//   any 8 consecutive rows use 8 distinct bank groups; the writers (8
//   consecutive threads = one whole row) cover all 32 banks once.
// Both depend only on row % 8, so moving 16 rows (an mma tile) or the
// loaders' row step (a multiple of 8) adds a constant; and the k16 step ks
// (chunks 2ks, 2ks+1) is an XOR of (ks << 5) on the byte offset.
template <int BK>
__device__ __forceinline__ uint32_t swz_off(int row, int chunk) {
  if constexpr (BK == 32) {
    return static_cast<uint32_t>(row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4));
  } else {
    return static_cast<uint32_t>(row * 128 + ((chunk ^ (row & 7)) << 4));
  }
}

// Blocks per SM the register budget must allow (65536 / (threads * blocks)
// registers per thread): the configuration's own kMinBlocks, else 2 for 8
// warps and 4 below, i.e. 128 registers, which every configuration relying
// on the rule fits on both A paths. (The former 3-block case for a 4-warp
// 128x64 general path went with that tile; no configuration reaches it now.)
template <class C>
constexpr int min_blocks() {
  return C::kMinBlocks > 0 ? C::kMinBlocks : C::kThreads >= 256 ? 2 : 4;
}

// kSplit: split-K. blockIdx.y owns BK tiles [kt0, kt0 + nkt) of GEMM-K and
// writes its fp32 partial tile (no bias) to p.ws; splitk_finish_kernel sums
// the splits. Without it kt0 = 0 and nkt = KT: the original kernel.
template <typename T, class C, bool kFastA, bool kSplit = false>
__global__ void __launch_bounds__(C::kThreads, min_blocks<C>())
    conv2d_mma_kernel(const MmaParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int BM = C::BM, BN = C::BN, BK = C::BK, WARPS_M = C::WARPS_M;
  constexpr int THREADS = C::kThreads;
  constexpr int kStages = C::kStages;
  constexpr int kRowBytes = C::kRowBytes;
  constexpr int WM = BM / WARPS_M, WN = BN / C::WARPS_N;  // warp tile
  constexpr int MT = WM / 16, NT = WN / 8;                // mma tiles per warp
  constexpr int KS = BK / 16;                             // k16 steps per tile
  constexpr int A_BYTES = BM * kRowBytes, B_BYTES = BN * kRowBytes;
  constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  // Loader shapes: 16-byte chunks, CPR per row; each thread owns one chunk
  // column and ROWS/(THREADS/CPR) rows of each operand.
  constexpr int CPR = BK / 8;
  constexpr int ROW_STEP = THREADS / CPR;
  constexpr int A_ITERS = BM / ROW_STEP, B_ITERS = BN / ROW_STEP;
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile must be a multiple of 16x16");
  static_assert(BM % ROW_STEP == 0 && BN % ROW_STEP == 0 && ROW_STEP % 8 == 0, "loader shape");
  static_assert(kFastA || (BK == 32 && !C::kFragDB), "general A: BK 32, plain loop (GeneralOf)");
  static_assert(kStages >= 3, "the general path's late smem store needs a barrier in between");
  // General A loader: each thread fills 16 consecutive kk of GA_ROWS rows.
  constexpr int GA_ROWS = BM * BK / (THREADS * 16);
  static_assert(kFastA || (GA_ROWS >= 1 && BM * BK == THREADS * 16 * GA_ROWS),
                "general A loader shape");

  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t smem_base = smem_u32(smem);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = warp % WARPS_M, warp_n = warp / WARPS_M;

  // N-tile fastest: blocks resident together share their A (pixel) tile, so
  // the input is read from DRAM about once and the other N-tiles hit in L2.
  const int n_tile = static_cast<int>(blockIdx.x % p.tiles_n);
  const int64_t m0 = static_cast<int64_t>(blockIdx.x / p.tiles_n) * BM;
  const int k0 = n_tile * BN;
  const int g = p.g0 + static_cast<int>(blockIdx.z);
  const uint16_t* x = p.x + static_cast<int64_t>(g) * p.Cg * p.x_sc;
  const uint16_t* wb = p.wb + static_cast<int64_t>(g) * p.Kg * p.ldb;
  const int kt0 = kSplit ? static_cast<int>(blockIdx.y) * p.kt_per_split : 0;
  const int nkt = kSplit ? min(p.KT - kt0, p.kt_per_split) : p.KT;  // launcher: >= 1

  // ---- B loader: rows k (output channels), chunk column bc -----------------
  // Few rows per thread (<= 4): a pointer per row that moves BK elements per
  // tile, and a kk-limit per row (0 for rows past Kg), so one compare covers
  // both tails. Many rows (64-thread blocks at BK = 64): one pointer, a row
  // stride and the count of rows left before Kg, leaving the registers to
  // the accumulators; also for the general path with >= 4 staged A rows.
  // (Pointers of rows past Kg are never dereferenced.)
  constexpr bool kCompactB = B_ITERS > 4 || (!kFastA && GA_ROWS >= 4);
  constexpr int B_REGS = kCompactB ? 1 : B_ITERS;
  const int bc = tid % CPR, b_row0 = tid / CPR;
  const uint16_t* b_ptr[B_REGS];
  int b_lim[B_REGS];
  if constexpr (kCompactB) {
    b_lim[0] = p.Kg - k0 - b_row0;  // row it is valid iff it * ROW_STEP < b_lim[0]
    b_ptr[0] = wb + static_cast<int64_t>(k0 + b_row0) * p.ldb + kt0 * BK + bc * 8;
  } else {
#pragma unroll
    for (int it = 0; it < B_ITERS; ++it) {
      const int k = k0 + b_row0 + it * ROW_STEP;
      b_lim[it] = k < p.Kg ? p.Kb : 0;
      b_ptr[it] = wb + static_cast<int64_t>(k < p.Kg ? k : 0) * p.ldb + kt0 * BK + bc * 8;
    }
  }
  int b_kk = kt0 * BK + bc * 8;  // GEMM-K index of this thread's next chunk
  const uint32_t b_dst = A_BYTES + swz_off<BK>(b_row0, bc);  // + it * ROW_STEP * kRowBytes

  auto load_B = [&](int stage) {
    const uint32_t dst = smem_base + stage * STAGE_BYTES + b_dst;
    if constexpr (kCompactB) {
      const bool kk_ok = b_kk < p.Kb;
      const int64_t row_step = static_cast<int64_t>(ROW_STEP) * p.ldb;
      const uint16_t* ptr = b_ptr[0];
#pragma unroll
      for (int it = 0; it < B_ITERS; ++it, ptr += row_step) {
        const bool ok = kk_ok && it * ROW_STEP < b_lim[0];
        cp_async_16(dst + it * ROW_STEP * kRowBytes, ok ? ptr : p.wb, ok);
      }
      b_ptr[0] += BK;
    } else {
#pragma unroll
      for (int it = 0; it < B_ITERS; ++it) {
        const bool ok = b_kk < b_lim[it];
        cp_async_16(dst + it * ROW_STEP * kRowBytes, ok ? b_ptr[it] : p.wb, ok);
        b_ptr[it] += BK;
      }
    }
    b_kk += BK;
  };

  // ---- A loader state -----------------------------------------------------
  // Per row, what does not change along GEMM-K is computed once: a pointer to
  // the top-left tap of the pixel's receptive field (it may point outside the
  // image; it is only dereferenced when the tap is inside) and that tap's
  // input coordinates. Rows past M get ih0 = -2^30, so their taps are never
  // inside (the launcher bounds every extent by 2^30).
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
  constexpr bool kTable = C::kRowTable && (kFastA || GA_ROWS >= 4);
  constexpr int A_ROWS = kTable ? 1 : (kFastA ? A_ITERS : GA_ROWS);  // rows of register state
  constexpr int V_ROWS = kFastA ? 1 : GA_ROWS;                        // general: staged rows
  const uint16_t* a_ptr[A_ROWS];
  int a_ih0[A_ROWS], a_iw0[A_ROWS];
  auto row_info = [&](int row) {
    const int64_t m = m0 + row;
    int64_t n = 0;
    int pp = 0, q = 0;
    if (m < p.M) decode_pixel(m, p.PQ, p.Q, n, pp, q);
    RowInfo e;
    e.ih0 = m < p.M ? pp * p.sh - p.ph : -(1 << 30);
    e.iw0 = q * p.sw - p.pw;
    e.ptr = x + (n * p.x_sn + static_cast<int64_t>(pp * p.sh - p.ph) * p.x_sh +
                 static_cast<int64_t>(e.iw0) * p.x_sw);
    return e;
  };
  RowInfo* const a_table = reinterpret_cast<RowInfo*>(smem + C::kTableOffset);
  if constexpr (kTable) {
    for (int row = tid; row < BM; row += THREADS) a_table[row] = row_info(row);
    __syncthreads();  // the table is read by other threads from the prologue on
  } else {
#pragma unroll
    for (int it = 0; it < A_ROWS; ++it) {
      const RowInfo e =
          row_info(kFastA ? tid / CPR + it * ROW_STEP : (tid >> 1) + it * (THREADS / 2));
      a_ptr[it] = e.ptr;
      a_ih0[it] = e.ih0;
      a_iw0[it] = e.iw0;
    }
  }
  // Fast path: the (r, s, c) tap of this thread's next chunk, its offsets in
  // input rows/cols (r*dh, s*dw) and in elements (a_koff, 32-bit: the
  // launcher checks the whole receptive field spans < 2^31 elements). Moving
  // along GEMM-K only adds precomputed deltas: no division, no multiply.
  int a_r = 0, a_s = 0, a_c = 0, a_dih = 0, a_diw = 0, a_koff = 0;
  if constexpr (kFastA) {
    // Closed form of the incremental walk below, valid at any kk (split-K
    // starts mid-way); a_r may reach R past GEMM-K (k_ok then fails).
    const int kk = kt0 * BK + (tid % CPR) * 8;  // Cg >= 8 here
    a_c = kk % p.Cg;
    const int rs = kk / p.Cg;
    a_s = rs % p.S;
    a_r = rs / p.S;
    a_dih = a_r * p.dh;
    a_diw = a_s * p.dw;
    a_koff = a_c + a_r * p.d_r0 + a_s * p.d_s;
  }
  const uint32_t a_dst = kFastA ? swz_off<BK>(tid / CPR, tid % CPR) : 0u;

  auto load_A_fast = [&](int stage) {
    const bool k_ok = a_r < p.R;  // false past GEMM-K (Ktot % 8 == 0 here)
#pragma unroll
    for (int it = 0; it < A_ITERS; ++it) {
      const uint16_t* ptr;
      int ih0, iw0;
      if constexpr (kTable) {
        const RowInfo e = a_table[tid / CPR + it * ROW_STEP];
        ptr = e.ptr, ih0 = e.ih0, iw0 = e.iw0;
      } else {
        ptr = a_ptr[it], ih0 = a_ih0[it], iw0 = a_iw0[it];
      }
      const bool ok = k_ok && static_cast<unsigned>(ih0 + a_dih) < static_cast<unsigned>(p.H) &&
                      static_cast<unsigned>(iw0 + a_diw) < static_cast<unsigned>(p.W);
      cp_async_16(smem_base + stage * STAGE_BYTES + a_dst + it * ROW_STEP * kRowBytes,
                  ok ? ptr + a_koff : p.x, ok);
    }
    // Advance this chunk by BK along GEMM-K. With Cg % BK == 0 the loop runs
    // at most once; smaller Cg (8, 16, 24, 40, ...) wraps into the next
    // (r, s) once per Cg: c stays in [0, Cg), and since Cg % 8 == 0 a chunk
    // never straddles two taps. Past GEMM-K, r only grows (k_ok stays false).
    a_c += BK;
    a_koff += BK;
    while (a_c >= p.Cg) {
      a_c -= p.Cg;
      a_koff += p.d_s - p.Cg;  // next s, channel back to the wrapped c
      a_diw += p.dw;
      if (++a_s == p.S) {
        a_s = 0;
        a_diw = 0;
        ++a_r;
        a_dih += p.dh;
        a_koff += p.d_r;  // next r, s back to 0
      }
    }
  };

  // General A (BK = 32): per row, 16 predicated scalar loads packed into 8
  // registers. The tap (r, s, c) of the first column is decoded once per tile
  // (the general path may divide); the 16 columns then step c with carries.
  auto load_A_regs = [&](int kt, uint32_t (&v)[V_ROWS][8]) {
    RowInfo rows[V_ROWS];
#pragma unroll
    for (int it = 0; it < V_ROWS; ++it) {
      if constexpr (kTable) {
        rows[it] = a_table[(tid >> 1) + it * (THREADS / 2)];
      } else {
        rows[it] = {a_ptr[it], a_ih0[it], a_iw0[it]};
      }
    }
    const int kk = kt * BK + (tid & 1) * 16;
    const int rs = kk / p.Cg;
    int c = kk - rs * p.Cg;
    int r = rs / p.S;
    int s = rs - r * p.S;
#pragma unroll
    for (int e = 0; e < 16; ++e) {
      const bool k_ok = r < p.R;
      const int dih = r * p.dh, diw = s * p.dw;
#pragma unroll
      for (int it = 0; it < V_ROWS; ++it) {
        uint32_t val = 0;  // bit pattern of +0.0 in fp16 and bf16
        if (k_ok && static_cast<unsigned>(rows[it].ih0 + dih) < static_cast<unsigned>(p.H) &&
            static_cast<unsigned>(rows[it].iw0 + diw) < static_cast<unsigned>(p.W)) {
          val = rows[it].ptr[c * p.x_sc + static_cast<int64_t>(dih) * p.x_sh +
                          static_cast<int64_t>(diw) * p.x_sw];
        }
        if (e % 2 == 0) {
          v[it][e / 2] = val;
        } else {
          v[it][e / 2] |= val << 16;
        }
      }
      if (++c == p.Cg) {
        c = 0;
        if (++s == p.S) {
          s = 0;
          ++r;
        }
      }
    }
  };
  auto store_A_regs = [&](int stage, const uint32_t (&v)[V_ROWS][8]) {
    const uint32_t base = smem_base + stage * STAGE_BYTES;
    const int ch = (tid & 1) * 2;
#pragma unroll
    for (int it = 0; it < V_ROWS; ++it) {
      const int row = (tid >> 1) + it * (THREADS / 2);
      st_shared_v4(base + swz_off<BK>(row, ch), v[it][0], v[it][1], v[it][2], v[it][3]);
      st_shared_v4(base + swz_off<BK>(row, ch + 1), v[it][4], v[it][5], v[it][6], v[it][7]);
    }
  };

  // ---- ldmatrix addresses (see ldmatrix_x4) --------------------------------
  // A, 16x16 per mma tile: lanes 0-15 address rows 0-15 at k-chunk 0, lanes
  // 16-31 rows 0-15 at k-chunk 1 -> registers {a0,a1,a2,a3} = {rows 0-7 k0-7,
  // rows 8-15 k0-7, rows 0-7 k8-15, rows 8-15 k8-15}, the m16n8k16 A fragment.
  // B (smem rows = output channels, kk contiguous = the "col" operand), two
  // n8 tiles per ldmatrix: lanes 0-7 n0-7 k0-7, 8-15 n0-7 k8-15, 16-23 n8-15
  // k0-7, 24-31 n8-15 k8-15 -> {b0,b1} of n-tile 0, then of n-tile 1.
  // Rows move in steps of 16 and the swizzle only depends on row % 8, so the
  // per-tile offsets are constants; the k16 step ks sets chunk bits 1-2,
  // i.e. XOR (ks << 5) on the in-tile offset (A_BYTES is a multiple of 128).
  const uint32_t a_ld = swz_off<BK>(warp_m * WM + (lane & 15), lane >> 4);
  const uint32_t b_ld =
      A_BYTES + swz_off<BK>(warp_n * WN + (lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1);

  // All A and B fragments of one k16 step of the warp tile, from the stage
  // at smem address `stage`.
  auto load_frags = [&](uint32_t stage, int ks, uint32_t (&af)[MT][4], uint32_t (&bf)[NT][2]) {
#pragma unroll
    for (int i = 0; i < MT; ++i)
      ldmatrix_x4(af[i], stage + ((a_ld ^ (ks << 5)) + i * 16 * kRowBytes));
#pragma unroll
    for (int j = 0; j < NT / 2; ++j) {
      uint32_t t[4];
      ldmatrix_x4(t, stage + ((b_ld ^ (ks << 5)) + j * 16 * kRowBytes));
      bf[2 * j][0] = t[0];
      bf[2 * j][1] = t[1];
      bf[2 * j + 1][0] = t[2];
      bf[2 * j + 1][1] = t[3];
    }
  };

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
  auto mma_all = [&](const uint32_t (&af)[MT][4], const uint32_t (&bf)[NT][2]) {
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
      for (int j = 0; j < NT; ++j) mma_16816<T>(acc[i][j], af[i], bf[j]);
  };

  // ---- pipeline prologue: tiles 0 .. kStages-2 in flight ------------------
  // One commit per tile (even when empty) keeps "group index == tile index",
  // which is what the wait_group counts below rely on.
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < nkt) {
      if constexpr (kFastA) {
        load_A_fast(st);
      } else {
        uint32_t v[V_ROWS][8];
        load_A_regs(kt0 + st, v);
        store_A_regs(st, v);
      }
      load_B(st);
    }
    cp_async_commit();
  }

  if constexpr (C::kFragDB) {
    // ---- main loop, fragment double-buffering (fast A path only) ----------
    // The fragments of k16 step ks+1 are loaded before the mma of step ks, so
    // the ldmatrix latency hides behind a step of mma instead of stalling it;
    // across tiles the same holds: the last step of tile kt first waits for
    // tile kt+1 (cp.async wait + barrier), loads its ks = 0 fragments, and
    // only then issues tile kt's last mma.
    // cp.async groups: the prologue commits tiles 0..S-2 (S = kStages), then
    // iteration kt commits exactly one group (tile kt+S-1, maybe empty) at
    // its step 0. At the barrier in iteration kt's last step, tiles
    // 0..kt+S-1 are committed and tile kt+1 must be complete: at most
    // (kt+S-1) - (kt+1) = S-2 newer groups may pend, the constant below. The
    // barrier then publishes everyone's copies of tile kt+1.
    // Slot reuse: tile kt+S-1 refills slot (kt-1) % S (tile kt-1's) at step 0
    // of iteration kt. Every warp's last ldmatrix of tile kt-1 (its last
    // step's fragments) was issued before the barrier of iteration kt-1's
    // last step, and every warp passed that barrier before any thread reaches
    // iteration kt: so no warp still reads the slot. (The mma of tile kt-1's
    // last step runs after that barrier, but from registers.)
    uint32_t af[2][MT][4], bf[2][NT][2];
    int rd = 0, wr = kStages - 1;  // ring slots: tile kt, and the next one to refill
    cp_async_wait<kStages - 2>();
    __syncthreads();
    load_frags(smem_base, 0, af[0], bf[0]);
    for (int kt = 0; kt < nkt; ++kt) {
      const uint32_t stage = smem_base + rd * STAGE_BYTES;
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        if (ks + 1 < KS) {
          load_frags(stage, ks + 1, af[(ks + 1) & 1], bf[(ks + 1) & 1]);
        } else if (kt + 1 < nkt) {  // block-uniform: every thread takes the barrier
          cp_async_wait<kStages - 2>();
          __syncthreads();
          rd = rd == kStages - 1 ? 0 : rd + 1;
          load_frags(smem_base + rd * STAGE_BYTES, 0, af[0], bf[0]);  // KS even: buffer 0
        }
        if (ks == 0) {
          if (kt + kStages - 1 < nkt) {
            load_A_fast(wr);
            load_B(wr);
          }
          cp_async_commit();
          wr = wr == kStages - 1 ? 0 : wr + 1;
        }
        mma_all(af[ks & 1], bf[ks & 1]);
      }
    }
  } else {
    // ---- main loop --------------------------------------------------------
    for (int kt = 0; kt < nkt; ++kt) {  // kt: local tile index (stage = kt % kStages)
      // Tile kt's group is complete once at most kStages-2 newer ones pend;
      // the barrier then (1) publishes everyone's copies of tile kt and (2)
      // proves everyone finished reading tile kt-1, whose stage is refilled
      // next.
      cp_async_wait<kStages - 2>();
      __syncthreads();

      const int kn = kt + kStages - 1;  // tile to prefetch
      const int sn = kn % kStages;
      uint32_t av[V_ROWS][8];
      if (kn < nkt) {
        if constexpr (kFastA) {
          load_A_fast(sn);
        } else {
          load_A_regs(kt0 + kn, av);  // consumed after the MMAs below
        }
        load_B(sn);
      }
      cp_async_commit();

      const uint32_t stage = smem_base + (kt % kStages) * STAGE_BYTES;
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        uint32_t af[MT][4], bf[NT][2];
        load_frags(stage, ks, af, bf);
        mma_all(af, bf);
      }

      if constexpr (!kFastA) {
        // Stage sn held tile kt-1, which every thread finished before the
        // barrier above; it is read again only after a later barrier (tile kn
        // is first read in iteration kn = kt + kStages - 1 > kt).
        if (kn < nkt) store_A_regs(sn, av);
      }
    }
  }
  cp_async_wait<0>();  // only empty groups remain; drain for hygiene

  // ---- epilogue: acc (+ bias) -> y through its strides ----------------------
  // Accumulator fragment: acc[i][j][0..1] = row g, cols 2t, 2t+1 and
  // acc[i][j][2..3] = row g+8, same cols (g = lane/4, t = lane%4), of the
  // 16x8 tile (i, j) of this warp.
  const int64_t kbase = static_cast<int64_t>(g) * p.Kg;
  if constexpr (kSplit) {
    // Partial tile -> ws[split][m][kbase + k], fp32, no bias (the finishing
    // kernel adds it once). Every (m < M, k < Kg) of the tile is written by
    // every split, so the workspace needs no zeroing.
    // A lane's two values are adjacent channels (k even): one 8-byte store
    // when K and Kg are even (then every pair starts 8-byte aligned).
    float* ws = p.ws + static_cast<int64_t>(blockIdx.y) * p.M * p.K;
    const bool pairs = ((p.K | p.Kg) & 1) == 0;
#pragma unroll
    for (int i = 0; i < MT; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t m = m0 + warp_m * WM + i * 16 + h * 8 + (lane >> 2);
        if (m >= p.M) continue;
        float* wrow = ws + m * p.K + kbase;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const int k = k0 + warp_n * WN + j * 8 + 2 * (lane & 3);
          if (pairs && k + 1 < p.Kg) {
            *reinterpret_cast<float2*>(wrow + k) =
                make_float2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
          } else {
            if (k < p.Kg) wrow[k] = acc[i][j][2 * h];
            if (k + 1 < p.Kg) wrow[k + 1] = acc[i][j][2 * h + 1];
          }
        }
      }
    }
  } else {
    float bias_v[NT][2];
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const int k = k0 + warp_n * WN + j * 8 + 2 * (lane & 3);
#pragma unroll
      for (int e = 0; e < 2; ++e)
        bias_v[j][e] = (p.bias != nullptr && k + e < p.Kg)
                           ? bits_to_float<T>(p.bias[kbase + k + e]) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < MT; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t m = m0 + warp_m * WM + i * 16 + h * 8 + (lane >> 2);
        if (m >= p.M) continue;
        int64_t n;
        int pp, q;
        decode_pixel(m, p.PQ, p.Q, n, pp, q);
        uint16_t* yrow = p.y + n * p.y_sn + static_cast<int64_t>(pp) * p.y_sp +
                         static_cast<int64_t>(q) * p.y_sq;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const int k = k0 + warp_n * WN + j * 8 + 2 * (lane & 3);
          if (k >= p.Kg) continue;
          const float v0 = acc[i][j][2 * h] + bias_v[j][0];
          const float v1 = acc[i][j][2 * h + 1] + bias_v[j][1];
          uint16_t* dst = yrow + (kbase + k) * p.y_sk;
          if (p.y_vec2 && k + 1 < p.Kg) {
            *reinterpret_cast<uint32_t*>(dst) = pack2<T>(v0, v1);
          } else {
            dst[0] = float_to_bits<T>(v0);
            if (k + 1 < p.Kg) dst[p.y_sk] = float_to_bits<T>(v1);
          }
        }
      }
    }
  }
#else
  __trap();  // launcher refuses devices below sm_80
#endif
}

// Weight pre-pass: w[g*Kg+k][c][r][s] (any strides) -> out[k][kk], kk =
// (r*S + s)*Cg + c, rows padded with zeros to Kb (a multiple of 8) so every B
// chunk is one aligned 16-byte cp.async.
__global__ void pack_weight_kernel(const uint16_t* __restrict__ w, uint16_t* __restrict__ out,
                                   int64_t K, int Kb, int Ktot, int Cg, int S, int64_t w_sk,
                                   int64_t w_sc, int64_t w_sr, int64_t w_ss) {
  const int64_t total = K * Kb;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t k = i / Kb;
    const int kk = static_cast<int>(i - k * Kb);
    uint16_t v = 0;
    if (kk < Ktot) {
      const int rs = kk / Cg, c = kk - rs * Cg;
      const int r = rs / S, s = rs - r * S;
      v = w[k * w_sk + c * w_sc + r * w_sr + s * w_ss];
    }
    out[i] = v;
  }
}

// ---------------------------------------------------------------------------
// Launch
// ---------------------------------------------------------------------------

// Split-K finish: y[m][k] = bias[k] + sum of the splits' partials, added in
// split order (deterministic), converted once. One thread = 4 consecutive
// channels of one pixel (16-byte workspace reads when K % 4 == 0), so the
// pixel decode is paid once per 4 outputs; threads walk k fastest:
// coalesced workspace reads and, for NHWC, coalesced y writes.
template <typename T>
__global__ void splitk_finish_kernel(const MmaParams p, int splits) {
  const int64_t k4 = ceil_div<int64_t>(p.K, 4), total = p.M * k4, plane = p.M * p.K;
  const bool vec = p.K % 4 == 0;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t m = i / k4, k0 = (i - m * k4) * 4;
    const int kn = p.K - k0 < 4 ? static_cast<int>(p.K - k0) : 4;
    float sum[4] = {0.f, 0.f, 0.f, 0.f};
    const float* src = p.ws + m * p.K + k0;
    if (vec) {
      // Groups of 4 splits: the 4 loads are issued before the adds, so a
      // thread waits for one memory latency per group, not one per split
      // (Nsight Compute: 15 us on 512@7 with 5 splits, long-scoreboard bound).
      for (int z0 = 0; z0 < splits; z0 += 4) {
        float4 v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u)
          v[u] = z0 + u < splits ? *reinterpret_cast<const float4*>(src + (z0 + u) * plane)
                                 : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          if (z0 + u < splits) {
            sum[0] += v[u].x, sum[1] += v[u].y, sum[2] += v[u].z, sum[3] += v[u].w;
          }
        }
      }
    } else {
      for (int z = 0; z < splits; ++z, src += plane)
        for (int e = 0; e < kn; ++e) sum[e] += src[e];
    }
    int64_t n;
    int pp, q;
    decode_pixel(m, p.PQ, p.Q, n, pp, q);
    uint16_t* yrow = p.y + n * p.y_sn + static_cast<int64_t>(pp) * p.y_sp +
                     static_cast<int64_t>(q) * p.y_sq;
    for (int e = 0; e < kn; ++e) {
      const float b = p.bias != nullptr ? bits_to_float<T>(p.bias[k0 + e]) : 0.f;
      yrow[(k0 + e) * p.y_sk] = float_to_bits<T>(sum[e] + b);
    }
  }
}

// The kernel of one configuration/path, with its dynamic shared memory
// opted into (above 48 KB it must be, per kernel and device).
template <typename T, class C, bool kFastA, bool kSplit>
auto prepared_kernel() {
  auto kernel = conv2d_mma_kernel<T, C, kFastA, kSplit>;
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmem));
  return kernel;
}

template <typename T, class C, bool kFastA, bool kSplit>
void launch_grid(MmaParams prm, int64_t groups, int splits) {  // by value: sets tiles_n, g0
  auto kernel = prepared_kernel<T, C, kFastA, kSplit>();
  prm.tiles_n = static_cast<int>(ceil_div<int64_t>(prm.Kg, C::BN));
  const int64_t tiles = ceil_div<int64_t>(prm.M, C::BM) * prm.tiles_n;
  TORCH_CHECK(tiles <= INT_MAX, "cuops.conv2d (implicit_gemm_mma): problem too large (",
              prm.M, " output pixels)");
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  constexpr int64_t kMaxZ = 65535;
  for (int64_t g0 = 0; g0 < groups; g0 += kMaxZ) {
    prm.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits),
                    static_cast<unsigned>(std::min<int64_t>(kMaxZ, groups - g0)));
    kernel<<<grid, C::kThreads, C::kSmem, stream>>>(prm);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// One configuration, its GEMM-K split over `splits` blocks (1 = the plain
// kernel): the split launch writes fp32 partials, a finishing pass sums them.
// kMaySplit = false: never split (no split-K instantiation to compile).
template <typename T, class C, bool kFastA, bool kMaySplit = true>
void launch_cfg(MmaParams prm, int64_t groups, int64_t splits) {
  prm.KT = static_cast<int>(ceil_div<int64_t>(prm.Ktot, C::BK));
  if (!kMaySplit || splits <= 1) {
    launch_grid<T, C, kFastA, false>(prm, groups, 1);
    return;
  }
  prm.kt_per_split = static_cast<int>(ceil_div<int64_t>(prm.KT, splits));
  splits = ceil_div<int64_t>(prm.KT, prm.kt_per_split);  // no empty split: each has >= 1 tile
  at::Tensor ws = at::empty({splits, prm.M, prm.K}, at::TensorOptions()
                                                        .dtype(at::kFloat)
                                                        .device(at::kCUDA,
                                                                at::cuda::current_device()));
  prm.ws = ws.data_ptr<float>();
  launch_grid<T, C, kFastA, kMaySplit>(prm, groups, static_cast<int>(splits));
  constexpr int kFinishThreads = 256;
  splitk_finish_kernel<T><<<grid_for(prm.M * ceil_div<int64_t>(prm.K, 4), kFinishThreads),
                            kFinishThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      prm, static_cast<int>(splits));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, class C, bool kMaySplit = true>
void launch_path(const MmaParams& prm, bool fast_a, int64_t groups, int64_t splits = 1) {
  if (fast_a) {
    launch_cfg<T, C, true, kMaySplit>(prm, groups, splits);
  } else {
    launch_cfg<T, GeneralOf<C>, false, kMaySplit>(prm, groups, splits);
  }
}

// The heuristic's three tiles (launch_typed). Big and mid: BK = 32, plain
// main loop. Small = table entry 4 since session 3 (BK 64, fragment
// double-buffering; H100 sweep, docs/conv2d-worklog.md 3e: 512@7 0.43x ->
// 0.47x, 256@14 0.58x -> 0.65x). The general A path runs GeneralOf<> of each.
using TileBig = ConvTile<128, 128, 2, 4>;   // 8 warps of 64x32
// Mid = table entry 11 since session 3 (64@56 0.59x -> 0.66x, 128@28 0.55x
// -> 0.58x over the former 128x64 4-warp / 128x128 tiles).
using TileMid = ConvTile<128, 64, 4, 2, 64, true, 0>;  // 8 warps of 32x32, BK 64, DB
using TileSmall = ConvTile<64, 64, 2, 2, 64, true, 0>;  // 4 warps of 32x32, BK 64, DB

// Split-K (step "implicit_gemm_mma_splitk"). Small-M layers (ResNet's 7x7
// and 14x14 at batch 32) have too few output tiles to fill 132 SMs. Smaller
// tiles fill them but are L2-bandwidth bound: a 64x64 tile re-reads its A and
// B panels for only 64 FLOPs per byte, and on 512@7 the 200 tiles pull
// ~236 MB through L2 in 55 us (~4.3 TB/s, near the L2 ceiling). Splitting
// GEMM-K instead keeps the big 128x128 tile (half the L2 traffic per FLOP)
// and still fills the machine: the splits write fp32 partials, a finishing
// pass sums them in order (deterministic) and adds the bias.
struct SplitChoice {
  int tile;        // 128 = 128x128 (8 warps), 64 = 64x64 (4 warps)
  int64_t splits;  // 1 = no split
};

// Splits that bring `tiles` blocks to about `target` (blocks per wave),
// keeping >= 8 BK tiles per split (the pipeline needs a few to pay off) and
// the fp32 workspace (splits x M x K) <= 256 MB. bk: the configuration's BK.
int64_t splits_for(const MmaParams& prm, int64_t tiles, int64_t target, int bk) {
  const int64_t kt = ceil_div<int64_t>(prm.Ktot, bk);
  if (tiles >= target || kt < 16) return 1;
  int64_t splits = (target + tiles / 2) / tiles;  // nearest: a partial extra wave costs a wave
  splits = std::min<int64_t>(splits, kt / 8);
  splits = std::min<int64_t>(splits, (int64_t{64} << 20) / std::max<int64_t>(1, prm.M * prm.K));
  return std::max<int64_t>(1, std::min<int64_t>(splits, 64));
}

// CUOPS_CONV_CONFIG, read once per process (tuning_config parses it).
const std::string& conv_knob() {
  static const std::string knob = getenv_string("CUOPS_CONV_CONFIG");
  return knob;
}

// Tuning table (CUOPS_CONV_CONFIG="implicit_gemm_mma_splitk=<i>";
// scripts/explore/tune_conv.py sweeps it). 0 = the heuristic below; the
// others force a tile and a split count (clamped to KT).
constexpr int kNumSplitConfigs = 8;
SplitChoice split_choice(const MmaParams& prm, int64_t groups) {
  const int cfg = tuning_config(conv_knob(), "CUOPS_CONV_CONFIG", "implicit_gemm_mma_splitk");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumSplitConfigs,
                    "CUOPS_CONV_CONFIG: implicit_gemm_mma_splitk=", cfg, " is out of range (0..",
                    kNumSplitConfigs - 1, ")");
  const int64_t sms = num_sms();
  const int64_t mt64 = ceil_div<int64_t>(prm.M, 64) * ceil_div<int64_t>(prm.Kg, 64) * groups;
  const int64_t mt128 = ceil_div<int64_t>(prm.M, 128) * ceil_div<int64_t>(prm.Kg, 128) * groups;
  switch (cfg) {
    case 1:  // the first split-K (64x64, 4/SM)
      return {64, splits_for(prm, mt64, 4 * sms, TileSmall::BK)};
    case 2: return {128, 2};
    case 3: return {128, 3};
    case 4: return {128, 4};
    case 5: return {128, 5};
    case 6: return {128, 6};
    case 7: return {64, 1};
    default:  // measured (docs/conv2d-worklog.md 3c): 128x128 splits only pay when
              // its tiles fill under half the SMs (512@7 at batch 32); else 64x64
      if (prm.Kg > 64 && 2 * mt128 <= sms) return {128, splits_for(prm, mt128, 2 * sms, 32)};
      // 64x64: up to 3 resident blocks per SM (TileSmall's 64 KB of smem).
      return {64, splits_for(prm, mt64, 3 * sms, TileSmall::BK)};
  }
}

// Kernel-configuration table (CUOPS_CONV_CONFIG="implicit_gemm_mma=<i>";
// scripts/explore/tune_conv.py --tiles sweeps it; docs/conv2d-worklog.md 3e).
// 0 = the heuristic of launch_typed; i >= 1 forces configuration i for every
// tensor-core forward (and the dgrad that runs as one), in both steps: the
// split-K step splits it with splits_for(), targeting min(4, resident blocks
// per SM) blocks per SM (the occupancy API: registers and smem), and ignores
// implicit_gemm_mma_splitk. All use fragment double-buffering (DB) on the
// fast A path; the general A path runs GeneralOf<> (BK 32, plain loop).
// smem = stages x (BM + BN) x BK x 2 B (+ BM x 16 B row table, "T"); blocks
// per SM as smem allows (228 KB, 1 KB reserved per block):
//              BM   BN  WM WN  BK  DB minB   warp tile thr stages smem       blocks/SM
using Tile1 = ConvTile<64, 64, 2, 2, 32, true, 0>;    // 32x32 128  6  48 KB       4 (old small+DB)
using Tile2 = ConvTile<64, 64, 1, 2, 32, true, 4>;    // 64x32  64  6  48 KB       4
using Tile3 = ConvTile<64, 64, 1, 2, 64, true, 4>;    // 64x32  64  4  64 KB + T   3
using Tile4 = ConvTile<64, 64, 2, 2, 64, true, 0>;    // 32x32 128  4  64 KB       3
using Tile5 = ConvTile<128, 64, 2, 1, 64, true, 3>;   // 64x64  64  3  72 KB + T   3
using Tile6 = ConvTile<128, 128, 2, 2, 64, true, 2>;  // 64x64 128  3  96 KB + T   2
using Tile7 = ConvTile<128, 128, 2, 4, 32, true, 1>;  // 64x32 256  4  64 KB       1 (big tile + DB)
using Tile8 = ConvTile<64, 128, 1, 2, 64, true, 3>;   // 64x64  64  3  72 KB + T   3
// Session 3: on 512@7 the 64x64 tiles re-read A 8x and B 25x through L2
// (~234 MB); 128x64 / 64x128 tiles cut that by a quarter with 4 warps kept.
using Tile9 = ConvTile<128, 64, 2, 2, 64, true, 2>;   // 64x32 128  3  72 KB       2
using Tile10 = ConvTile<64, 128, 2, 2, 64, true, 2>;  // 32x64 128  3  72 KB       2
using Tile11 = ConvTile<128, 64, 4, 2, 64, true, 0>;  // 32x32 256  3  72 KB       2 (8 warps)
constexpr int kNumTileConfigs = 12;

int tile_config() {
  const int cfg = tuning_config(conv_knob(), "CUOPS_CONV_CONFIG", "implicit_gemm_mma");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumTileConfigs, "CUOPS_CONV_CONFIG: implicit_gemm_mma=",
                    cfg, " is out of range (0..", kNumTileConfigs - 1, ")");
  return cfg;
}

template <typename T, class C, bool kFastA>
void launch_forced_path(const MmaParams& prm, int64_t groups, bool allow_split) {
  int64_t splits = 1;
  if (allow_split) {
    int resident = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &resident, prepared_kernel<T, C, kFastA, true>(), C::kThreads, C::kSmem));
    const int64_t tiles = ceil_div<int64_t>(prm.M, C::BM) * ceil_div<int64_t>(prm.Kg, C::BN) *
                          groups;
    splits = splits_for(prm, tiles, std::clamp(resident, 1, 4) * num_sms(), C::BK);
  }
  launch_cfg<T, C, kFastA>(prm, groups, splits);
}

template <typename T, class C>
void launch_forced(const MmaParams& prm, bool fast_a, int64_t groups, bool allow_split) {
  if (fast_a) {
    launch_forced_path<T, C, true>(prm, groups, allow_split);
  } else {
    launch_forced_path<T, GeneralOf<C>, false>(prm, groups, allow_split);
  }
}

// Tile choice (three configurations, all with 64x32 or 32x32 warp tiles):
//   Kg <= 128       128x64  (8 warps, BK 64): a 128-wide N tile would be half
//                   zeros at Kg <= 64 (ResNet's 64-channel layers, the stem,
//                   1x1 256->64); at Kg = 128 it measured faster too (128@28).
//   else            128x128 (8 warps): most math per byte loaded.
//   too few blocks  64x64   (4 warps, BK 64): when the big tile cannot give every SM
//                   a block (ResNet's 14x14 and 7x7 layers at batch 32),
//                   filling the machine beats per-block efficiency; or, in
//                   the split-K step, split_choice() (128x128 split over K).
// Unless CUOPS_CONV_CONFIG forces a configuration (tile_config()).
template <typename T>
void launch_typed(const MmaParams& prm, bool fast_a, int64_t groups, bool allow_split) {
  switch (tile_config()) {
    case 1: return launch_forced<T, Tile1>(prm, fast_a, groups, allow_split);
    case 2: return launch_forced<T, Tile2>(prm, fast_a, groups, allow_split);
    case 3: return launch_forced<T, Tile3>(prm, fast_a, groups, allow_split);
    case 4: return launch_forced<T, Tile4>(prm, fast_a, groups, allow_split);
    case 5: return launch_forced<T, Tile5>(prm, fast_a, groups, allow_split);
    case 6: return launch_forced<T, Tile6>(prm, fast_a, groups, allow_split);
    case 7: return launch_forced<T, Tile7>(prm, fast_a, groups, allow_split);
    case 8: return launch_forced<T, Tile8>(prm, fast_a, groups, allow_split);
    case 9: return launch_forced<T, Tile9>(prm, fast_a, groups, allow_split);
    case 10: return launch_forced<T, Tile10>(prm, fast_a, groups, allow_split);
    case 11: return launch_forced<T, Tile11>(prm, fast_a, groups, allow_split);
    default: break;
  }
  const int64_t sms = num_sms();
  const int64_t m128 = ceil_div<int64_t>(prm.M, 128);
  if (prm.Kg <= 128 && m128 * ceil_div<int64_t>(prm.Kg, 64) * groups >= sms) {
    launch_path<T, TileMid, false>(prm, fast_a, groups);
  } else if (prm.Kg > 128 && m128 * ceil_div<int64_t>(prm.Kg, 128) * groups >= sms) {
    launch_path<T, TileBig>(prm, fast_a, groups);
  } else if (!allow_split) {
    launch_path<T, TileSmall>(prm, fast_a, groups);
  } else if (const SplitChoice c = split_choice(prm, groups); c.tile == 128) {
    launch_path<T, TileBig>(prm, fast_a, groups, c.splits);
  } else {
    launch_path<T, TileSmall>(prm, fast_a, groups, c.splits);
  }
}

// Element stride `s` of a dim of size `n` keeps 16-byte alignment (size-1
// dims never move the pointer, so their stride does not matter).
bool keeps16(int64_t n, int64_t s) { return n == 1 || s % 8 == 0; }

}  // namespace

namespace {

void run_mma(const Conv2dProblem& p, bool allow_split) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.conv2d: variant 'implicit_gemm_mma' supports float16 and bfloat16, got ",
              p.dtype);
  const int64_t M = p.N * p.P * p.Q;
  if (M == 0 || p.K == 0) return;
  const auto* prop = at::cuda::getCurrentDeviceProperties();
  TORCH_CHECK(prop->major >= 8,
              "cuops.conv2d: variant 'implicit_gemm_mma' needs a GPU of compute capability 8.0 "
              "or newer (mma.sync bf16, cp.async); this one is ",
              prop->major, ".", prop->minor);

  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  const int64_t Ktot = p.R * p.S * Cg;
  const int64_t Kb = round_up<int64_t>(Ktot, 8);
  for (int64_t v : {p.H, p.W, p.P, p.Q, p.P * p.Q, Kg, Kb + kMaxBK,
                    std::max(p.H, p.P) * p.stride_h + p.R * p.dil_h + p.pad_h,
                    std::max(p.W, p.Q) * p.stride_w + p.S * p.dil_w + p.pad_w}) {
    TORCH_CHECK(v < (int64_t{1} << 30), "cuops.conv2d (implicit_gemm_mma): a spatial or "
                "channel extent is too large for 32-bit per-image indexing");
  }

  MmaParams prm{};
  prm.x = static_cast<const uint16_t*>(p.x);
  prm.y = static_cast<uint16_t*>(p.y);
  prm.bias = static_cast<const uint16_t*>(p.bias);
  prm.x_sn = p.x_sn;
  prm.x_sc = p.x_sc;
  prm.x_sh = p.x_sh;
  prm.x_sw = p.x_sw;
  prm.y_sn = p.y_sn;
  prm.y_sk = p.y_sk;
  prm.y_sp = p.y_sp;
  prm.y_sq = p.y_sq;
  prm.M = M;
  prm.H = static_cast<int>(p.H);
  prm.W = static_cast<int>(p.W);
  prm.P = static_cast<int>(p.P);
  prm.Q = static_cast<int>(p.Q);
  prm.PQ = static_cast<int>(p.P * p.Q);
  prm.R = static_cast<int>(p.R);
  prm.S = static_cast<int>(p.S);
  prm.Cg = static_cast<int>(Cg);
  prm.Kg = static_cast<int>(Kg);
  prm.sh = static_cast<int>(p.stride_h);
  prm.sw = static_cast<int>(p.stride_w);
  prm.ph = static_cast<int>(p.pad_h);
  prm.pw = static_cast<int>(p.pad_w);
  prm.dh = static_cast<int>(p.dil_h);
  prm.dw = static_cast<int>(p.dil_w);
  prm.Ktot = static_cast<int>(Ktot);
  prm.Kb = static_cast<int>(Kb);

  // A fast path: 8 channels of a pixel are 16 contiguous, aligned bytes, and
  // one receptive field spans < 2^31 elements (32-bit tap offsets).
  const int64_t field_span = Cg + kMaxBK + (p.R + 1) * p.dil_h * std::abs(p.x_sh) +
                             (p.S + 1) * p.dil_w * std::abs(p.x_sw);
  const bool fast_a = Cg > 0 && Cg % 8 == 0 && p.x_sc == 1 && aligned16(p.x) &&
                      keeps16(p.N, p.x_sn) && keeps16(p.H, p.x_sh) && keeps16(p.W, p.x_sw) &&
                      field_span < INT_MAX;
  if (fast_a) {
    prm.d_s = static_cast<int>(p.dil_w * p.x_sw);
    prm.d_r0 = static_cast<int>(p.dil_h * p.x_sh);
    prm.d_r = static_cast<int>(p.dil_h * p.x_sh - p.S * p.dil_w * p.x_sw);
  }

  // B: use the weight in place when each output channel's (r, s, c) run is
  // already contiguous with c fastest and 16-byte aligned; else pack it.
  const bool w_direct = Ktot % 8 == 0 && (Cg == 1 || p.w_sc == 1) &&
                        (p.S == 1 || p.w_ss == Cg) && (p.R == 1 || p.w_sr == p.S * Cg) &&
                        aligned16(p.w) && keeps16(p.K, p.w_sk);
  at::Tensor packed;  // lives until the kernels are enqueued; the caching
                      // allocator keeps it valid for work on this stream
  if (w_direct || Ktot == 0) {
    prm.wb = static_cast<const uint16_t*>(p.w);
    prm.ldb = p.w_sk;
  } else {
    packed = at::empty({p.K, Kb}, at::TensorOptions()
                                      .dtype(p.dtype)
                                      .device(at::kCUDA, at::cuda::current_device()));
    constexpr int kPackThreads = 256;
    pack_weight_kernel<<<grid_for(p.K * Kb, kPackThreads), kPackThreads, 0,
                         at::cuda::getCurrentCUDAStream()>>>(
        static_cast<const uint16_t*>(p.w), static_cast<uint16_t*>(packed.data_ptr()), p.K,
        static_cast<int>(Kb), static_cast<int>(Ktot), static_cast<int>(Cg),
        static_cast<int>(p.S), p.w_sk, p.w_sc, p.w_sr, p.w_ss);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    prm.wb = static_cast<const uint16_t*>(packed.data_ptr());
    prm.ldb = Kb;
  }

  // 32-bit paired stores need the pair (k, k+1) adjacent and 4-byte aligned:
  // k is always even, so g*Kg must be too.
  prm.y_vec2 = (p.K == 1 || p.y_sk == 1) && Kg % 2 == 0 &&
               reinterpret_cast<uintptr_t>(p.y) % 4 == 0 && (p.N == 1 || p.y_sn % 2 == 0) &&
               (p.P == 1 || p.y_sp % 2 == 0) && (p.Q == 1 || p.y_sq % 2 == 0);

  prm.K = p.K;
  if (p.dtype == at::kHalf) {
    launch_typed<__half>(prm, fast_a, p.groups, allow_split);
  } else {
    launch_typed<__nv_bfloat16>(prm, fast_a, p.groups, allow_split);
  }
}

}  // namespace

void conv2d_implicit_gemm_mma(const Conv2dProblem& p) { run_mma(p, false); }

void conv2d_implicit_gemm_mma_splitk(const Conv2dProblem& p) { run_mma(p, true); }

// ---------------------------------------------------------------------------
// dgrad on tensor cores (conv2d_backward_input ladder, "implicit_gemm_mma").
//
// For stride 1, dx[n][g*Cg+c][h][w] = sum_{k,r,s} dy[n][g*Kg+k][h+pt-r*dh][w+pl-s*dw]
// * w[g*Kg+k][c][r][s]. Substituting r' = R-1-r turns it into a forward
// convolution of dy with
//   w'[g*Cg+c][k][r'][s'] = w[g*Kg+k][c][R-1-r'][S-1-s']   (K and C swap per group)
// same dilation, padding' = dil*(kernel-1) - padding on each side (so the
// "output" size is H x W again). Valid when every padding' >= 0; strided
// problems (dy would need zeros inserted) and larger paddings take the SIMT
// implicit_gemm step.
// ---------------------------------------------------------------------------

// w' written as [C][R][S][Kg] (taps then k fastest): exactly the B layout the
// mma kernel reads in place (kk = (r*S+s)*Kg + k), so it needs no second pack
// when R*S*Kg % 8 == 0. Data movement only: C*Kg*R*S elements.
__global__ void flip_weight_kernel(const uint16_t* __restrict__ w, uint16_t* __restrict__ out,
                                   int64_t C, int Kg, int Cg, int R, int S, int64_t w_sk,
                                   int64_t w_sc, int64_t w_sr, int64_t w_ss) {
  const int64_t total = C * R * S * Kg;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int k = static_cast<int>(i % Kg);
    int64_t t = i / Kg;
    const int s = static_cast<int>(t % S);
    t /= S;
    const int r = static_cast<int>(t % R);
    const int64_t cc = t / R;  // g*Cg + c
    const int64_t g = cc / Cg, c = cc - g * Cg;
    out[i] = w[(g * Kg + k) * w_sk + c * w_sc + (R - 1 - r) * w_sr + (S - 1 - s) * w_ss];
  }
}

void conv2d_backward_input_implicit_gemm_mma(const Conv2dGradProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.conv2d_backward_input: variant 'implicit_gemm_mma' supports float16 and "
              "bfloat16, got ", p.dtype);
  // Padding' per side. Bottom/right from the stride-1 output size:
  // P = H + pt + pb - dh*(R-1)  =>  dh*(R-1) - pb = H - P + pt.
  const int64_t pt2 = p.dil_h * (p.R - 1) - p.pad_h, pb2 = p.H - p.P + p.pad_h;
  const int64_t pl2 = p.dil_w * (p.S - 1) - p.pad_w, pr2 = p.W - p.Q + p.pad_w;
  if (p.stride_h != 1 || p.stride_w != 1 || pt2 < 0 || pb2 < 0 || pl2 < 0 || pr2 < 0) {
    conv2d_backward_input_implicit_gemm(p);
    return;
  }
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  at::Tensor wf = at::empty({p.C * p.R * p.S * Kg},
                            at::TensorOptions().dtype(p.dtype).device(
                                at::kCUDA, at::cuda::current_device()));
  constexpr int kFlipThreads = 256;
  flip_weight_kernel<<<grid_for(wf.numel(), kFlipThreads), kFlipThreads, 0,
                       at::cuda::getCurrentCUDAStream()>>>(
      static_cast<const uint16_t*>(p.w), static_cast<uint16_t*>(wf.data_ptr()), p.C,
      static_cast<int>(Kg), static_cast<int>(Cg), static_cast<int>(p.R), static_cast<int>(p.S),
      p.w_sk, p.w_sc, p.w_sr, p.w_ss);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  Conv2dProblem q;
  q.N = p.N, q.C = p.K, q.H = p.P, q.W = p.Q;  // "input" = dy
  q.K = p.C, q.R = p.R, q.S = p.S;             // "output" = dx
  q.P = p.H, q.Q = p.W;
  q.groups = p.groups;
  q.stride_h = 1, q.stride_w = 1;
  q.pad_h = pt2, q.pad_w = pl2;  // bottom/right live in P and Q (conv2d.h)
  q.dil_h = p.dil_h, q.dil_w = p.dil_w;
  q.x = p.dy;
  q.x_sn = p.y_sn, q.x_sc = p.y_sk, q.x_sh = p.y_sp, q.x_sw = p.y_sq;
  q.w = wf.const_data_ptr();
  q.w_sk = p.R * p.S * Kg, q.w_sc = 1, q.w_sr = p.S * Kg, q.w_ss = Kg;
  q.y = p.dx;
  q.y_sn = p.x_sn, q.y_sk = p.x_sc, q.y_sp = p.x_sh, q.y_sq = p.x_sw;
  q.bias = nullptr;
  q.dtype = p.dtype;
  run_mma(q, false);
}

}  // namespace cuops::cuda
