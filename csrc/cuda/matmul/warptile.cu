// Step 4 of the matmul ladder: warp tiling, the fp32 flagship (and the fp64
// path).
//
// Same register-blocked kernel as step 3 (tiled.cuh), reorganized around the
// warp, the unit that really issues shared-memory loads:
//  - a 128 x 128 block tile is split into eight 64 x 32 warp tiles; each warp
//    computes its tile as 2 x 2 sub-tiles of 32 x 16, each thread a 4 x 4
//    piece of every sub-tile (8 x 8 = 64 outputs per thread). A warp's
//    16-byte shared loads then cover 128 contiguous bytes (8 distinct A
//    chunks, 4 distinct B chunks): conflict-free, mostly broadcasts;
//  - BK = 16 halves the number of barriers per FMA;
//  - double-buffered shared memory: slice t+1 is fetched into registers
//    while slice t is computed, one barrier per slice.
// 256 threads. Registers: ptxas wants ~230 per thread (64 accumulators, 2 x
// 16 fragment values hoisted over the unrolled K slice, 16 prefetched values,
// addresses), so one block (8 warps) per SM; capping at 128 (MINB = 2, two
// blocks per SM) spills. A 128-thread block with 128 outputs per thread does
// not fit 255 registers and spills too. Tuning knob for the measurements.
#include "cuda/matmul/tiled.cuh"

namespace cuops::cuda {
namespace {

//                                BM   BN  BK  WM  WN WMITER WNITER TM TN  DB  MINB
using WarpTile32 = mm::TileConfig<128, 128, 16, 64, 32, 2, 2, 4, 4, true, 1>;
// fp64: 64 x 64 block, one 32 x 32 warp tile per warp, 8 x 4 per thread; BK = 8
// (with 16, ptxas hoists a whole slice of fp64 fragments and spills).
using WarpTile64 = mm::TileConfig<64, 64, 8, 32, 32, 1, 1, 8, 4, true, 1>;

// Tuning table for fp32 (CUOPS_MATMUL_CONFIG="warptile=<i>", see
// mm::tuning_config; 0 = WarpTile32 above; fp16/bf16/fp64 keep their
// default). Entries 1.. exist only in a CUOPS_EXPLORE build: around the
// default, BK = 8 (fewer fragments hoisted), 4-warp blocks (two resident per
// SM at <= 255 registers: a barrier stalls half the warps, not all), the
// transposed warp tile. Each uses 235-251 registers on sm_90 without spills.
// Not in the table because they spill (sm_90): any of these with MINB = 2 or
// 3 (72-744 bytes), 128 x 64 x 16 with 4 warps (72 bytes: 24 prefetched
// values), 128 x 256 with 128 outputs/thread (168 bytes).
#ifdef CUOPS_EXPLORE
//                             BM   BN  BK  WM  WN WMITER WNITER TM TN  DB  MINB
using WarpTune1 = mm::TileConfig<128, 128, 8, 64, 32, 2, 2, 4, 4, true, 1>;   // BK 8
using WarpTune2 = mm::TileConfig<64, 128, 8, 32, 64, 2, 2, 4, 4, true, 1>;    // 4 warps, BK 8
using WarpTune3 = mm::TileConfig<128, 64, 8, 64, 32, 2, 2, 4, 4, true, 1>;    // 4 warps, BK 8
using WarpTune4 = mm::TileConfig<128, 128, 16, 32, 64, 2, 2, 4, 4, true, 1>;  // 32 x 64 warps
constexpr int kNumWarpTune = 5;
#else
constexpr int kNumWarpTune = 1;
#endif

void warptile_fp32(const GemmProblem& p) {
  const int cfg = mm::tuning_config("warptile");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumWarpTune, "CUOPS_MATMUL_CONFIG: warptile=", cfg,
                    " is out of range (0..", kNumWarpTune - 1, ")");
  switch (cfg) {
#ifdef CUOPS_EXPLORE
    case 1: return mm::launch_tiled<float, WarpTune1>(p);
    case 2: return mm::launch_tiled<float, WarpTune2>(p);
    case 3: return mm::launch_tiled<float, WarpTune3>(p);
    case 4: return mm::launch_tiled<float, WarpTune4>(p);
#endif
    default: return mm::launch_tiled<float, WarpTile32>(p);
  }
}

}  // namespace

int warptile_tuning_entries() { return kNumWarpTune; }

void gemm_warptile(const GemmProblem& p) {
  switch (p.dtype) {
    case at::kFloat: return warptile_fp32(p);
    case at::kHalf: return mm::launch_tiled<at::Half, WarpTile32>(p);
    case at::kBFloat16: return mm::launch_tiled<at::BFloat16, WarpTile32>(p);
    case at::kDouble: return mm::launch_tiled<double, WarpTile64>(p);
    default: TORCH_CHECK_TYPE(false, "cuops.matmul(warptile): unsupported dtype ", p.dtype);
  }
}

}  // namespace cuops::cuda
