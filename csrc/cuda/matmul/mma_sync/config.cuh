// Configuration of the mma_sync GEMM: the tile choices as a struct of named
// fields (TileConfig), the shapes derived from one (Tile<cfg>) with the
// invariants the kernel relies on, the configurations the launcher uses, the
// kernel's parameters, and the per-dtype pieces of the math.
#pragma once

#include <cuda.h>  // CUtensorMap

#include "cuda/matmul/common.cuh"
#include "cuda/mma_ptx.cuh"

namespace cuops::cuda::mma_sync {

using namespace ptx;  // cp.async, ldmatrix, mma.sync, TMA wrappers (csrc/cuda/mma_ptx.cuh)

// Which dimension of an operand is contiguous in memory (and in its smem tile).
// A: kK = "row-major" (a_sk == 1), kMN = M-contiguous (a_sm == 1, e.g. x.mT).
// B: kK = K-contiguous (b_sk == 1, e.g. weight.mT), kMN = N-contiguous (b_sn == 1).
enum class Major { kK, kMN };

// One thread block computes a (warps_m * warp_m) x (warps_n * warp_n) tile of
// C, each warp a warp_m x warp_n part of it, in k steps of block_k held in a
// ring of `stages` shared-memory buffers.
struct TileConfig {
  int warps_m = 2, warps_n = 2;  // warp layout of the block
  int warp_m = 64, warp_n = 64;  // warp tile: (warp_m/16) x (warp_n/8) m16n8k16 mma per k16 step
  int block_k = 32;              // k depth of one stage
  int stages = 4;                // k tiles in the smem ring (stages - 1 in flight)
  // __launch_bounds__ blocks per SM: caps registers at 64K / (threads * this).
  int min_blocks_per_sm = 1;
  // Fragments double-buffered in registers: the ldmatrix of k16 step s+1 are
  // issued before the mma of step s (one more set of fragments: 32 registers
  // for a 64x64 warp tile).
  bool frag_double_buffer = false;
  // The fragment pipeline also crosses k tiles: the barrier for tile kt+1
  // comes before the last k16 step of tile kt, whose mma hide the ldmatrix of
  // tile kt+1's first fragments (CUTLASS's multistage main loop). Without it
  // every tile starts with a barrier followed by ldmatrix -> mma stalls.
  // Also enables the staged epilogue and the bounds-test-free interior loop.
  bool cross_tile_pipeline = false;
  int group_m = 8;  // rasterization: tile rows swept together (scheduler.cuh)
  // Pipeline variants (cross_tile_pipeline only) against the MIO queue that
  // ldmatrix and cp.async (LDGSTS) share:
  // * interleave_ldmatrix: the next k16 step's ldmatrix spread one per few
  //   mma instead of a burst (mma and ldmatrix are then volatile asm, so the
  //   order written is the order emitted);
  // * spread_cp_async: the next tile's cp.async issued a part per k16 step
  //   instead of as a burst at the top of the tile.
  bool interleave_ldmatrix = false;
  bool spread_cp_async = false;
  // Stream-K (fast path, one GEMM): a persistent grid of as many blocks as fit
  // at once; whole waves of tiles run data-parallel, the rest (last partial
  // wave + one full wave) is split into equal shares of k tiles per block. A
  // tile split between blocks is summed in a fixed order by the block that
  // owns its k tile 0 (scheduler.cuh). Needs the whole grid resident at once.
  bool stream_k = false;
  // sm_90, one GEMM: stages filled by the bulk tensor copy engine (one thread
  // issues a k tile's box copies, completing on a per-stage mbarrier; its
  // 128-byte swizzle = swizzle<8> of load.cuh; edges zero-filled by the
  // engine) instead of every thread's cp.async and their address math. The
  // mma side is unchanged.
  bool tma = false;
  // Split-K partials (splitk.cu): C is an fp32 workspace and the epilogue
  // stores the raw accumulators (no bias, no rounding to T).
  bool f32_partials = false;
};

// The shapes of a configuration and the invariants the kernel relies on.
template <TileConfig kCfg>
struct Tile {
  static constexpr TileConfig cfg = kCfg;
  static constexpr int BM = kCfg.warps_m * kCfg.warp_m, BN = kCfg.warps_n * kCfg.warp_n;
  static constexpr int BK = kCfg.block_k, WM = kCfg.warp_m, WN = kCfg.warp_n;
  static constexpr int kStages = kCfg.stages;
  static constexpr int kThreads = 32 * kCfg.warps_m * kCfg.warps_n;
  static constexpr int MI = WM / 16, NI = WN / 8;  // mma tiles per warp and k16 step
  static constexpr int kKSteps = BK / 16;          // k16 steps per stage
  static constexpr int kABytes = BM * BK * 2, kBBytes = BN * BK * 2;  // 16-bit elements
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kSmemBytes = kStageBytes * kStages;
  // tma: + alignment slack (swizzled boxes start 1024-byte aligned) + one
  // 8-byte mbarrier per stage.
  static constexpr int kDynSmem = kSmemBytes + (kCfg.tma ? 1024 + 8 * kStages : 0);

  static_assert(WM % 16 == 0 && WN % 16 == 0 && BK % 32 == 0, "unsupported tile");
  static_assert(kStages >= 2, "a ring of at least two stages");
  static_assert(!kCfg.cross_tile_pipeline || (kCfg.frag_double_buffer && kKSteps % 2 == 0),
                "cross_tile_pipeline: double-buffered fragments, an even number of k16 steps");
  static_assert(kCfg.cross_tile_pipeline || (!kCfg.interleave_ldmatrix && !kCfg.spread_cp_async &&
                                             !kCfg.tma),
                "interleave_ldmatrix, spread_cp_async and tma are cross_tile_pipeline variants");
  static_assert(!kCfg.spread_cp_async || kKSteps >= 2, "spread_cp_async: two k16 steps or more");
  static_assert(!kCfg.tma || (!kCfg.spread_cp_async && !kCfg.stream_k && BK == 64 && WM == 64 &&
                              WN == 64),
                "tma: 128-byte rows of K-major tiles (BK 64), a warp's M/N-contiguous fragments "
                "inside one 64-column half");
  static_assert(!kCfg.f32_partials || (!kCfg.tma && !kCfg.stream_k),
                "f32_partials: plain cp.async grids");
  // An sm_90 SM has 228 KB of shared memory, 1 KB of it reserved per block.
  static_assert(kCfg.min_blocks_per_sm * (kDynSmem + 1024) <= 228 * 1024,
                "min_blocks_per_sm blocks must fit an SM's shared memory");
};

// The configurations the launcher picks from (mma_sync.cu: run).
// Fast path, enough tiles for every SM: 128x128x64, 4 warps of 64x64, 3
// stages x 32 KB, 2 blocks/SM (each SM sub-partition runs one warp of each
// block: while one waits at its block's barrier the other keeps the tensor
// pipe busy); 238-240 registers, no spills.
inline constexpr TileConfig kBig{.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64,
                                 .block_k = 64, .stages = 3, .min_blocks_per_sm = 2,
                                 .frag_double_buffer = true, .cross_tile_pipeline = true};
// kBig with its stages filled by the tensor copy engine: the default on sm_90+
// for a single GEMM (any of the four fast-path layouts).
inline constexpr TileConfig kBigTma{.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64,
                                    .block_k = 64, .stages = 3, .min_blocks_per_sm = 2,
                                    .frag_double_buffer = true, .cross_tile_pipeline = true,
                                    .tma = true};
// Fast path, too few big tiles to give every SM a block: BK 32, 4 stages x 16 KB.
inline constexpr TileConfig kSmall{.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64,
                                   .block_k = 32, .stages = 4, .min_blocks_per_sm = 2,
                                   .frag_double_buffer = true};
// Fast path, too few 128 x 128 tiles to give every SM a block (the splitk
// planner's choice for ~1000^3 products and decode-sized M): 64x64x64, 4 warps
// of 32x32, 4 stages x 16 KB, 3 blocks/SM: 4x the blocks of kSmall.
inline constexpr TileConfig kTile64{.warps_m = 2, .warps_n = 2, .warp_m = 32, .warp_n = 32,
                                    .block_k = 64, .stages = 4, .min_blocks_per_sm = 3,
                                    .frag_double_buffer = true};
// General path: element-wise loads need registers of their own (254 without
// the second fragment set), so no fragment double-buffering there.
inline constexpr TileConfig kGeneral{.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64,
                                     .block_k = 32, .stages = 4};

// The same configuration without the copy engine (what runs where it cannot).
constexpr TileConfig without_tma(TileConfig c) {
  c.tma = false;
  return c;
}

// The same configuration storing fp32 partial sums (splitk.cu).
constexpr TileConfig with_f32_partials(TileConfig c) {
  c.f32_partials = true;
  return c;
}

// The copy-engine path exists only in code built for sm_90+. The same kernel
// built for an older target (e.g. sm_80 PTX that the driver compiles for an
// H100) keeps the cp.async path, so a tma launch is right on any build.
template <class C>
__host__ __device__ constexpr bool tma_in_this_build() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  return false;
#else
  return C::cfg.tma;
#endif
}

// Kernel parameters (by value; the batch offset calculator is ~0.5 KB).
struct Params {
  int64_t M, N, K, batch;
  const uint16_t* a;  // fp16/bf16 moved as raw 16-bit words until the mma
  const uint16_t* b;
  void* c;
  const void* bias;  // [N] or null
  int64_t a_sm, a_sk, b_sk, b_sn, c_sm, c_sn;
  OffsetCalculator<3> oc;  // z -> {C, A, B} element offsets
  int tiles_m, tiles_n;
  bool c_pairs;    // C rows contiguous and 4-byte aligned: store 2 elements at once
  bool c_vec16;    // C rows contiguous, rows and batch items 16-byte aligned
  bool a_k_inner;  // general path: consecutive threads walk k in A (else m)
  bool b_n_inner;  // general path: consecutive threads walk n in B (else k)
  // Stream-K grid (cfg.stream_k; sk_iters == 0: plain grid): tiles from
  // sk_first_tile on are split, sk_iters = their k tiles; per block of the
  // grid a BM x BN fp32 partial-sum slot and a ready flag (zeroed before the launch).
  int64_t sk_first_tile, sk_iters;
  float* sk_partial;
  int* sk_flags;
  // cfg.tma: tensor maps of A and B (mma_sync.cu: encode_tma_maps).
  CUtensorMap tma_a, tma_b;
};

// Per-dtype pieces: the mma instruction and the conversions of the epilogue
// (fragment layouts: csrc/cuda/mma_ptx.cuh).
template <typename T>
struct HalfOps;

template <>
struct HalfOps<__half> {
  using T2 = __half2;
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    mma_16816<__half>(d, a, b);
  }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ T2 pack(float x, float y) { return __floats2half2_rn(x, y); }
};

template <>
struct HalfOps<__nv_bfloat16> {
  using T2 = __nv_bfloat162;
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    mma_16816<__nv_bfloat16>(d, a, b);
  }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) {
    return __float2bfloat16_rn(x);
  }
  static __device__ __forceinline__ T2 pack(float x, float y) {
    return __floats2bfloat162_rn(x, y);
  }
};

}  // namespace cuops::cuda::mma_sync
