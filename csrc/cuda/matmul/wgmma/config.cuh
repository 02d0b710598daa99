// Configuration of the wgmma GEMM (sm_90a): the tile choices as a struct of
// named fields (TileConfig), the shapes derived from one (Tile<cfg>) with the
// invariants the kernel relies on, the configurations the launcher picks
// from, and the kernel's parameters.
#pragma once

#include <cuda.h>  // CUtensorMap

#include "cuda/matmul/common.cuh"
#include "cuda/matmul/mma_sync/config.cuh"  // HalfOps: the epilogue's conversions
#include "cuda/matmul/wgmma/ptx.cuh"

namespace cuops::cuda::wgmma {

using namespace ptx;  // TMA + mbarrier (mma_ptx.cuh), wgmma + setmaxnreg (wgmma/ptx.cuh)
using mma_sync::HalfOps;

// One block: a producer warpgroup (one thread issues the TMA copies) and two
// consumer warpgroups, each multiplying 64 rows of the block tile by all
// block_n columns with one m64n<block_n>k16 wgmma per k16 step.
struct TileConfig {
  int block_n = 256;  // BN: the N extent of the tile and of each wgmma (64, 128 or 256)
  int stages = 4;     // k tiles in the shared-memory ring (A + B of one k tile each)
  // setmaxnreg: registers per thread after the role split. The block starts
  // at 65536 / 384 = 168 (rounded to 8); the producer needs few, the
  // consumers hold block_n / 2 fp32 accumulators each.
  int producer_regs = 40;
  int consumer_regs = 232;
  // wgmma batches a consumer leaves running while it issues the next k
  // tile's (0 or 1; CUTLASS's K_PIPE_MMAS): with 1, a stage is freed one k
  // tile later, and the tensor cores never wait for the issuing warps.
  int batches_in_flight = 0;
};

template <TileConfig kCfg>
struct Tile {
  static constexpr TileConfig cfg = kCfg;
  static constexpr int kConsumers = 2;                 // consumer warpgroups
  static constexpr int WM = 64;                        // rows per consumer (wgmma M)
  static constexpr int BM = kConsumers * WM, BN = kCfg.block_n;
  static constexpr int BK = 64;                        // 64 x 2 bytes = one 128-byte swizzle row
  static constexpr int kKSteps = BK / 16;              // wgmma k16 steps per k tile
  static constexpr int kStages = kCfg.stages;
  static constexpr int kInFlight = kCfg.batches_in_flight;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kConsumerWarps = 4 * kConsumers;  // arrivals that free a stage
  static constexpr int kAccRegs = BN / 2;               // fp32 accumulators per consumer thread
  static constexpr int kABytes = BM * BK * 2, kBBytes = BN * BK * 2;
  static constexpr int kStageBytes = kABytes + kBBytes;
  // A box of an M/N-major operand: BK rows (k) x 64 columns (m or n) = 8 KB.
  static constexpr int kMnBoxCols = 64;
  static constexpr int kMnBoxBytes = BK * 128;
  // The epilogue's staging, after the ring: per consumer warp 16 rows x 64
  // columns of C (2 KB), so that C leaves in whole 128-byte row segments
  // (pipeline.cuh: store_tile_staged).
  static constexpr int kOutWarpBytes = 16 * 128;
  static constexpr int kOutBytes = kConsumerWarps * kOutWarpBytes;
  // + slack to align the ring to 1024 bytes (the swizzle atom).
  static constexpr int kDynSmem = kStages * kStageBytes + kOutBytes + 1024;

  static_assert(BN == 64 || BN == 128 || BN == 256, "wgmma wrappers exist for N = 64, 128, 256");
  static_assert(BK * 2 == 128, "a K-major tile row is exactly one 128-byte swizzle row");
  static_assert(kABytes % 1024 == 0 && kBBytes % 1024 == 0 && (WM * BK * 2) % 1024 == 0,
                "every operand tile, and each consumer's part of A, starts on a 1024-byte atom");
  static_assert(BN <= 256 && BM <= 256, "a TMA box has at most 256 rows");
  static_assert(kStages >= 2, "a ring of at least two stages");
  static_assert(BN % 64 == 0, "the epilogue stages C in 64-column blocks");
  static_assert(kInFlight == 0 || kInFlight == 1, "wgmma.wait_group 0 or 1 per k tile");
  // 232448 bytes: the most shared memory a block may opt into on sm_90
  // (the barriers are a few bytes of static shared memory on top).
  static_assert(kDynSmem + 16 * kStages <= 232448, "the ring and the staging fit in shared memory");
  // setmaxnreg moves registers within the block's launch allocation (168
  // per thread for 384 threads under __launch_bounds__(kThreads, 1)): an
  // increase beyond what the decrease freed waits forever.
  static constexpr int kLaunchRegs = (65536 / kThreads) / 8 * 8;
  static_assert(kCfg.producer_regs + kConsumers * kCfg.consumer_regs <=
                    (1 + kConsumers) * kLaunchRegs,
                "the warpgroups' registers after setmaxnreg fit the block's launch allocation");
  static_assert(kCfg.producer_regs <= kLaunchRegs && kCfg.consumer_regs >= kLaunchRegs,
                "setmaxnreg: the producer gives registers up, the consumers take them");
  static_assert(kCfg.consumer_regs >= kAccRegs + 40, "accumulators + addressing fit");
};

// 128 x 256 tiles (the public Hopper kernels' shape): 64 FLOP per smem byte
// read by the tensor cores, 4 stages x 48 KB.
inline constexpr TileConfig kWide{.block_n = 256, .stages = 4};
// 128 x 128 tiles, 6 stages x 32 KB: twice the blocks where 128 x 256 tiles
// would leave SMs idle.
inline constexpr TileConfig kNarrow{.block_n = 128, .stages = 6};
// `cfg` with one wgmma batch left in flight per consumer where `on` (the
// tuning tables' second configuration: CUOPS_MATMUL_CONFIG="wgmma=1",
// CUOPS_CONV_CONFIG="implicit_gemm_wgmma=1"). A 128 x 64 k tile of the
// convolutions is only ~128 tensor-core cycles per consumer: short enough
// that waiting for each batch may show where the GEMM's 128 x 256 did not.
constexpr TileConfig in_flight(TileConfig cfg, bool on) {
  cfg.batches_in_flight = on ? 1 : 0;
  return cfg;
}

// The convolutions' gather producers (conv2d/implicit_gemm_wgmma.cu,
// wgrad_wgmma.cu) are 128 threads computing addresses, not one issuing
// copies: 16 more registers for them than the GEMM's producer (the 128 x 256
// tiles' consumers keep 224: 128 accumulators + addressing).
inline constexpr TileConfig kConvWide{.block_n = 256, .stages = 4, .producer_regs = 56,
                                      .consumer_regs = 224};
inline constexpr TileConfig kConvNarrow{.block_n = 128, .stages = 6, .producer_regs = 56,
                                        .consumer_regs = 224};
// 128 x 64 tiles for 64 filters (ResNet's first stage), where a 128-wide
// tile would compute as many zero columns as real ones; 8 stages x 24 KB.
inline constexpr TileConfig kConvSlim{.block_n = 64, .stages = 8, .producer_regs = 56,
                                      .consumer_regs = 224};

// Kernel parameters (by value, __grid_constant__: the tensor maps must stay
// in parameter space for the copy engine).
struct Params {
  CUtensorMap tma_a, tma_b;  // 128-byte swizzled 2-D maps (wgmma.cu: encode_maps)
  int64_t M, N, K;
  void* c;            // C[m][n] at c + m*c_sm + n*c_sn
  const void* bias;   // [N] or null
  int64_t c_sm, c_sn;
  int64_t tiles_m, tiles_n;  // output tiles; tile t of the grouped order (mm::tile_coords)
  int ktiles;                // k tiles per output tile (K < 2^31: fits)
  bool c_pairs;              // C rows contiguous, pairs of columns 4-byte aligned
  bool partials;             // c is an fp32 workspace [batch][M][N] of split-K chunks
                             // (store_partials; no bias, no rounding)
  bool c_rows16;             // stage C (pipeline.cuh: store_tile_staged); only where every
                             // row of C is contiguous and 16-byte aligned and N % 8 == 0
  // Batched products, stacked along each map's row dim (wgmma.cu: run): the
  // rows of product z start at z * zrows (M or N rows of a K-major operand,
  // K rows of an M/N-major one); C of product z at z * c_sz.
  int64_t batch;
  int64_t a_zrows, b_zrows, c_sz;
};

// Splits of a long GEMM-K (the convolutions' wgrad pixels, a small forward
// grid's taps x channels): about two waves of (tile, split) units over the
// SMs, each split at least 4 k tiles (the ring's prologue pays off), the fp32
// partials (`partial_elems` per split) within 256 MB. Returns the k tiles per
// split; the split count is ceil(ktiles / per), each split >= 1 k tile.
inline int64_t split_length(int64_t units, int64_t ktiles, int64_t partial_elems) {
  int64_t splits = ceil_div<int64_t>(2 * num_sms(), units);
  splits = std::min<int64_t>(splits, std::max<int64_t>(1, ktiles / 4));
  splits = std::min<int64_t>(splits, std::max<int64_t>(1, (int64_t{64} << 20) / partial_elems));
  return ceil_div<int64_t>(ktiles, std::max<int64_t>(1, splits));
}

// Whether a kernel of tile C (the GEMM's or the convolution's) has its sm_90a
// body in the binary that runs on the current device: its barriers are
// static shared memory of that body only, and a build whose 9.0 target is
// plain sm_90, or without one, has only the empty body. Cached per
// instantiation: one kind of GPU.
template <class C, class Kernel>
bool kernel_in_build(Kernel kernel) {
  static const bool built = [&] {
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, kernel) != cudaSuccess) {
      (void)cudaGetLastError();  // no image for this device: clear the (non-sticky) error
      return false;
    }
    return attr.sharedSizeBytes >= 2 * C::kStages * sizeof(uint64_t);
  }();
  return built;
}

}  // namespace cuops::cuda::wgmma
