// Tensor-core implicit GEMM (conv2d steps implicit_gemm_mma, _splitk and the
// dgrad that runs as a forward): one kernel configuration, its kernel
// parameters and the shared-memory layout. See implicit_gemm_mma.cu for the
// algorithm and docs/conv2d-mma.md for the derivations.
#pragma once

#include "cuda/conv2d/mma/shape32.cuh"
#include "cuda/mma_ptx.cuh"

#include <climits>
#include <type_traits>

namespace cuops::cuda::conv_mma {

// Pipeline depth: tiles in flight while one is consumed, as GEMM-K elements
// ahead of the math: 96 (3 BK=32 tiles) for the big tiles, 160 (5 tiles) for
// 64x64 and smaller (chosen when blocks are few, so each SM has few warps to
// switch between; its per-tile math is a quarter of 128x128's, so the same
// load latency needs more tiles ahead: docs/conv2d-worklog.md, 3d).
//   stages = ceil(ahead / BK) + 1
// BK=32: 6 (64x64) / 4 stages; BK=64: 4 (64x64) / 3 stages.
constexpr int stages_for(int bm, int bn, int bk) {
  return ((bm * bn <= 64 * 64 ? 160 : 96) + bk - 1) / bk + 1;
}
constexpr int kMaxBK = 64;  // largest BK of any configuration (the launcher's 32-bit checks)

// One kernel configuration: block tile BM x BN x BK, WARPS_M x WARPS_N warps,
// kFragDB = fragment double-buffering with cross-tile prefetch (fast A path
// only; see mainloop.cuh), kMinBlocks = __launch_bounds__ blocks per SM (0:
// the default rule, min_blocks() below). Everything else derives from these.
template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int BK_ = 32, bool kFragDB_ = false,
          int kMinBlocks_ = 0>
struct ConvTile {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, BK = BK_;
  static constexpr bool kFragDB = kFragDB_;
  static constexpr int kMinBlocks = kMinBlocks_;
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kStages = stages_for(BM, BN, BK);

  // Warp tile WM x WN, as MT x NT mma tiles of 16x8, KS k16 steps per BK.
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;
  static constexpr int MT = WM / 16, NT = WN / 8;
  static constexpr int KS = BK / 16;

  // Shared memory: kStages stages of [A tile | B tile], rows of BK/8 16-byte
  // chunks (swz_off), then (kRowTable) BM 16-byte entries of per-row state.
  static constexpr int kRowBytes = BK * 2;
  static constexpr int A_BYTES = BM * kRowBytes, B_BYTES = BN * kRowBytes;
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;

  // 16-byte loaders: CPR chunks per row; each thread owns one chunk column
  // and the rows ROW_STEP apart (A_ITERS of A, B_ITERS of B).
  static constexpr int CPR = BK / 8;
  static constexpr int ROW_STEP = kThreads / CPR;
  static constexpr int A_ITERS = BM / ROW_STEP, B_ITERS = BN / ROW_STEP;
  // General A loader: each thread fills 16 consecutive kk of GA_ROWS rows.
  static constexpr int GA_ROWS = BM * BK / (kThreads * 16);

  // Fast A loader rows per thread > 4: per-row state in a shared-memory table
  // (BM entries of 16 B after the stages) instead of registers (load_a.cuh).
  static constexpr bool kRowTable = BM * BK / 8 / kThreads > 4;
  static constexpr int kTableOffset = kStages * STAGE_BYTES;
  static constexpr int kSmem = kTableOffset + (kRowTable ? BM * 16 : 0);

  static_assert(BK == 32 || BK == 64, "BK: 32 or 64 (swz_off)");
  static_assert(kSmem <= 227 * 1024, "dynamic shared memory per block");
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile must be a multiple of 16x16");
  static_assert(BM % ROW_STEP == 0 && BN % ROW_STEP == 0 && ROW_STEP % 8 == 0, "loader shape");
  static_assert(kStages >= 3, "the general path's late smem store needs a barrier in between");
};

// The general A path keeps BK = 32 and the plain loop (its 16-kk-per-thread
// register staging would need 2x the registers at BK = 64, and its
// after-the-MMA smem store is simplest to reason about there): a
// configuration runs the general path on this companion of the same tile.
// 8 warps take the default rule (2 blocks/SM: without the second fragment
// set, 128 registers suffice).
template <class C>
using GeneralOf = ConvTile<C::BM, C::BN, C::WARPS_M, C::WARPS_N, 32, false,
                           C::kThreads >= 256 ? 0 : C::kMinBlocks>;

// Blocks per SM the register budget must allow (65536 / (threads * blocks)
// registers per thread): the configuration's own kMinBlocks, else 2 for 8
// warps and 4 below, i.e. 128 registers, which every configuration relying
// on the rule fits on both A paths.
template <class C>
constexpr int min_blocks() {
  return C::kMinBlocks > 0 ? C::kMinBlocks : C::kThreads >= 256 ? 2 : 4;
}

// Kernel parameters; the problem's fields are filled by conv::set_shape32.
struct MmaParams {
  const uint16_t* x;     // input (the group offset is added in-kernel)
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
  int KT;                // number of BK tiles (set per configuration by the launcher)
  int tiles_n;           // ceil(Kg / BN)
  int g0;                // group of blockIdx.z == 0 (launches are split at 65535 groups)
  int kt_per_split;      // split-K only: BK tiles per blockIdx.y
  float* ws;             // split-K only: fp32 partials [gridDim.y][M][K] (no bias)
  int64_t K;             // all output channels (split-K: row length of ws)
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

// This thread's warp and lane, and the warp's place in the block's
// WARPS_M x WARPS_N warp grid.
struct WarpPos {
  int lane, warp_m, warp_n;
};
template <class C>
__device__ __forceinline__ WarpPos warp_pos() {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  return {lane, warp % C::WARPS_M, warp / C::WARPS_M};
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

}  // namespace cuops::cuda::conv_mma
