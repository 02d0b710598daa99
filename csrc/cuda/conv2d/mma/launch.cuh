// Tensor-core implicit GEMM, host side shared by the ladder steps
// implicit_gemm_mma (implicit_gemm_mma.cu, which defines these functions),
// implicit_gemm_mma_splitk (implicit_gemm_mma_splitk.cu) and the tuning
// table of development builds (implicit_gemm_mma_explore.cu).
#pragma once

#include "cuda/conv2d/mma/config.cuh"
#include "cuda/conv2d/tuning.h"

namespace cuops::cuda::conv_mma {

// The heuristic's four tiles (choose_tile). Big and mid: BK = 32 / 64;
// small and narrow: BK 64 with fragment double-buffering. The general A path
// runs GeneralOf<> of each (narrow: of mid, its loader needs 16-row steps).
using TileBig = ConvTile<128, 128, 2, 4>;                // 8 warps of 64x32, BK 32
using TileMid = ConvTile<128, 64, 4, 2, 64, true, 0>;    // 8 warps of 32x32, BK 64, DB
using TileSmall = ConvTile<64, 64, 2, 2, 64, true, 0>;   // 4 warps of 32x32, BK 64, DB
using TileNarrow = ConvTile<128, 16, 4, 1, 64, true, 0>;  // 4 warps of 32x16, BK 64, DB
enum class Tile { kBig, kMid, kSmall, kNarrow };

// A forward problem ready for the kernels: the parameters, which A path
// applies, and the packed weight copy (kept alive until the kernels are
// enqueued: the caching allocator keeps it valid for work on this stream).
struct MmaSetup {
  MmaParams prm;
  bool fast_a;
  int64_t groups;
  at::ScalarType dtype;
  at::Tensor packed;
};

// Checks the problem, converts it to 32-bit parameters, chooses the A path
// and packs B when the weight cannot be read in place. False: nothing to
// compute (empty output).
bool prepare(const Conv2dProblem& p, MmaSetup& s);

// The tile that gives every SM a block without splitting GEMM-K; kSmall when
// neither big tile does.
Tile choose_tile(const MmaSetup& s);

// The unsplit kernel of one of the heuristic's tiles.
void launch_tile(const MmaSetup& s, Tile tile);

#ifdef CUOPS_EXPLORE
// CUOPS_CONV_CONFIG="implicit_gemm_mma=<i>", i >= 1: launch table entry i
// (split by splits_for when `allow_split`) and return true; i = 0: false.
bool launch_forced(const MmaSetup& s, bool allow_split);
#endif

}  // namespace cuops::cuda::conv_mma
