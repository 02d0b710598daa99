// Development builds only (CUOPS_EXPLORE=1, setup.py): the table of forced
// kernel configurations of the tensor-core forward,
// CUOPS_CONV_CONFIG="implicit_gemm_mma=<i>" (scripts/explore/tune_conv.py
// --tiles sweeps it; docs/conv2d-worklog.md 3e). 0 = the heuristic
// (choose_tile); i >= 1 forces configuration i for every tensor-core forward
// (and the dgrad that runs as one), in both steps: the split-K step splits
// it with splits_for(), targeting min(4, resident blocks per SM) blocks per
// SM (the occupancy API: registers and smem), and ignores
// implicit_gemm_mma_splitk. All use fragment double-buffering (DB) on the
// fast A path; the general A path runs GeneralOf<> (BK 32, plain loop).
#ifdef CUOPS_EXPLORE

#include "cuda/conv2d/mma/launch.cuh"
#include "cuda/conv2d/mma/splitk.cuh"

namespace cuops::cuda::conv_mma {
namespace {

// smem = stages x (BM + BN) x BK x 2 B (+ BM x 16 B row table, "T"); blocks
// per SM as smem allows (228 KB, 1 KB reserved per block). Entries 4 and 11
// are the heuristic's TileSmall and TileMid; 9 and 10 cut the L2 re-reads
// of 64x64 tiles by a quarter while keeping 4 warps.
//              BM   BN  WM WN  BK  DB minB   warp tile thr stages smem       blocks/SM
using Tile1 = ConvTile<64, 64, 2, 2, 32, true, 0>;    // 32x32 128  6  48 KB       4
using Tile2 = ConvTile<64, 64, 1, 2, 32, true, 4>;    // 64x32  64  6  48 KB       4
using Tile3 = ConvTile<64, 64, 1, 2, 64, true, 4>;    // 64x32  64  4  64 KB + T   3
using Tile4 = ConvTile<64, 64, 2, 2, 64, true, 0>;    // 32x32 128  4  64 KB       3
using Tile5 = ConvTile<128, 64, 2, 1, 64, true, 3>;   // 64x64  64  3  72 KB + T   3
using Tile6 = ConvTile<128, 128, 2, 2, 64, true, 2>;  // 64x64 128  3  96 KB + T   2
using Tile7 = ConvTile<128, 128, 2, 4, 32, true, 1>;  // 64x32 256  4  64 KB       1
using Tile8 = ConvTile<64, 128, 1, 2, 64, true, 3>;   // 64x64  64  3  72 KB + T   3
using Tile9 = ConvTile<128, 64, 2, 2, 64, true, 2>;   // 64x32 128  3  72 KB       2
using Tile10 = ConvTile<64, 128, 2, 2, 64, true, 2>;  // 32x64 128  3  72 KB       2
using Tile11 = ConvTile<128, 64, 4, 2, 64, true, 0>;  // 32x32 256  3  72 KB       2
static_assert(conv::kTileConfigs == 12, "one entry per configuration above, plus the heuristic");

template <typename T, class C, bool kFastA>
void launch_forced_path(const MmaSetup& s, bool allow_split) {
  int64_t splits = 1;
  if (allow_split) {
    int resident = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &resident, prepared_kernel<T, C, kFastA, true>(), C::kThreads, C::kSmem));
    const int64_t tiles = ceil_div<int64_t>(s.prm.M, C::BM) *
                          ceil_div<int64_t>(s.prm.Kg, C::BN) * s.groups;
    splits = splits_for(s.prm, tiles, std::clamp(resident, 1, 4) * num_sms(), C::BK);
  }
  if (splits <= 1) {
    launch_plain<T, C, kFastA>(s.prm, s.groups);
  } else {
    launch_split<T, C, kFastA>(s.prm, s.groups, splits);
  }
}

template <typename T, class C>
void launch_forced_tile(const MmaSetup& s, bool allow_split) {
  if (s.fast_a) {
    launch_forced_path<T, C, true>(s, allow_split);
  } else {
    launch_forced_path<T, GeneralOf<C>, false>(s, allow_split);
  }
}

template <typename T>
bool launch_forced_typed(const MmaSetup& s, int cfg, bool allow_split) {
  switch (cfg) {
    case 1: launch_forced_tile<T, Tile1>(s, allow_split); return true;
    case 2: launch_forced_tile<T, Tile2>(s, allow_split); return true;
    case 3: launch_forced_tile<T, Tile3>(s, allow_split); return true;
    case 4: launch_forced_tile<T, Tile4>(s, allow_split); return true;
    case 5: launch_forced_tile<T, Tile5>(s, allow_split); return true;
    case 6: launch_forced_tile<T, Tile6>(s, allow_split); return true;
    case 7: launch_forced_tile<T, Tile7>(s, allow_split); return true;
    case 8: launch_forced_tile<T, Tile8>(s, allow_split); return true;
    case 9: launch_forced_tile<T, Tile9>(s, allow_split); return true;
    case 10: launch_forced_tile<T, Tile10>(s, allow_split); return true;
    case 11: launch_forced_tile<T, Tile11>(s, allow_split); return true;
    default: return false;
  }
}

}  // namespace

bool launch_forced(const MmaSetup& s, bool allow_split) {
  const int cfg = conv::conv_config("implicit_gemm_mma", conv::kTileConfigs);
  if (cfg == 0) return false;
  return s.dtype == at::kHalf ? launch_forced_typed<__half>(s, cfg, allow_split)
                              : launch_forced_typed<__nv_bfloat16>(s, cfg, allow_split);
}

}  // namespace cuops::cuda::conv_mma

#endif  // CUOPS_EXPLORE
