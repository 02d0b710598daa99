// Step 4 of the matmul ladder: warp tiling, the fp32 flagship (and the fp64
// path).
//
// Same register-blocked kernel as step 3 (tiled.cuh), reorganized around the
// warp, the unit that really issues shared-memory loads:
//  - a 128 x 128 block tile is split into four 64 x 64 warp tiles; each warp
//    computes its tile as 2 x 2 sub-tiles of 32 x 32, each thread an 8 x 4
//    piece of every sub-tile (16 x 8 = 128 outputs per thread). A warp's
//    shared loads then touch a compact 64-row / 64-column strip: few distinct
//    addresses per load (broadcasts), no bank conflicts;
//  - BK = 16 halves the number of barriers per FMA;
//  - double-buffered shared memory: slice t+1 is fetched into registers
//    while slice t is computed, one barrier per slice.
// 128 threads per block, ~2 blocks per SM: latency is hidden by per-thread
// ILP (128 independent FMA chains), not by more warps.
#include "cuda/matmul/tiled.cuh"

namespace cuops::cuda {
namespace {

//                          BM   BN  BK  WM  WN WMITER WNITER TM TN  DB
using WarpTile32 = mm::TileConfig<128, 128, 16, 64, 64, 2, 2, 8, 4, true>;
// fp64: 64 x 64 block, one 32 x 32 warp tile per warp, 8 x 4 per thread.
using WarpTile64 = mm::TileConfig<64, 64, 16, 32, 32, 1, 1, 8, 4, true>;

}  // namespace

void gemm_warptile(const GemmProblem& p) {
  switch (p.dtype) {
    case at::kFloat: return mm::launch_tiled<float, WarpTile32>(p);
    case at::kHalf: return mm::launch_tiled<at::Half, WarpTile32>(p);
    case at::kBFloat16: return mm::launch_tiled<at::BFloat16, WarpTile32>(p);
    case at::kDouble: return mm::launch_tiled<double, WarpTile64>(p);
    default: TORCH_CHECK_TYPE(false, "cuops.matmul(warptile): unsupported dtype ", p.dtype);
  }
}

}  // namespace cuops::cuda
