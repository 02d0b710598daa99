// conv2d ladder step 3b: implicit_gemm_mma with split-K (fp16/bf16, sm_80+).
//
// Small-M layers (ResNet's 7x7 and 14x14 at batch 32) have too few output
// tiles to fill the GPU. Smaller tiles fill it but are L2-bandwidth bound: a
// 64x64 tile re-reads its A and B panels for only 64 FLOPs per byte, near
// the L2 ceiling on 512@7. Splitting GEMM-K instead keeps the big 128x128
// tile (half the L2 traffic per FLOP) and still fills the machine: each
// slice writes fp32 partials, a finishing pass sums them in order
// (deterministic) and adds the bias (mma/splitk.cuh).
//
// Stages of a call: the forward's setup (implicit_gemm_mma.cu: checks,
// 32-bit parameters, B packing) -> when a big tile already fills the GPU,
// the forward's unsplit kernel -> else the scheduler (split_choice: tile and
// slice count) -> the split kernel + deterministic finish.
#include "cuda/conv2d/mma/launch.cuh"
#include "cuda/conv2d/mma/splitk.cuh"

namespace cuops::cuda {
namespace conv_mma {
namespace {

struct SplitChoice {
  Tile tile;       // kBig (128x128, 8 warps) or kSmall (64x64, 4 warps)
  int64_t splits;  // 1 = no split
};

// The scheduler. 128x128 splits only pay when its tiles fill under half the
// SMs (512@7 at batch 32, docs/conv2d-worklog.md 3c); else 64x64, split up
// to 3 resident blocks per SM (TileSmall's 64 KB of smem). Development
// builds: CUOPS_CONV_CONFIG="implicit_gemm_mma_splitk=<i>" forces a tile and
// a split count (clamped to KT) instead.
SplitChoice split_choice(const MmaParams& prm, int64_t groups) {
  const int64_t sms = num_sms();
  const int64_t mt64 = ceil_div<int64_t>(prm.M, 64) * ceil_div<int64_t>(prm.Kg, 64) * groups;
  const int64_t mt128 = ceil_div<int64_t>(prm.M, 128) * ceil_div<int64_t>(prm.Kg, 128) * groups;
#ifdef CUOPS_EXPLORE
  switch (conv::conv_config("implicit_gemm_mma_splitk", conv::kSplitConfigs)) {
    case 1: return {Tile::kSmall, splits_for(prm, mt64, 4 * sms, TileSmall::BK)};
    case 2: return {Tile::kBig, 2};
    case 3: return {Tile::kBig, 3};
    case 4: return {Tile::kBig, 4};
    case 5: return {Tile::kBig, 5};
    case 6: return {Tile::kBig, 6};
    case 7: return {Tile::kSmall, 1};
    default: break;
  }
#endif
  if (prm.Kg > 64 && 2 * mt128 <= sms) {
    return {Tile::kBig, splits_for(prm, mt128, 2 * sms, TileBig::BK)};
  }
  return {Tile::kSmall, splits_for(prm, mt64, 3 * sms, TileSmall::BK)};
}

template <typename T>
void launch_split_typed(const MmaSetup& s, Tile tile, int64_t splits) {
  if (tile == Tile::kBig) {
    s.fast_a ? launch_split<T, TileBig, true>(s.prm, s.groups, splits)
             : launch_split<T, GeneralOf<TileBig>, false>(s.prm, s.groups, splits);
  } else {
    s.fast_a ? launch_split<T, TileSmall, true>(s.prm, s.groups, splits)
             : launch_split<T, GeneralOf<TileSmall>, false>(s.prm, s.groups, splits);
  }
}

}  // namespace
}  // namespace conv_mma

void conv2d_implicit_gemm_mma_splitk(const Conv2dProblem& p) {
  using namespace conv_mma;
  MmaSetup s;
  if (!prepare(p, s)) return;
#ifdef CUOPS_EXPLORE
  if (launch_forced(s, /*allow_split=*/true)) return;
#endif
  if (const Tile tile = choose_tile(s); tile != Tile::kSmall) return launch_tile(s, tile);
  const SplitChoice c = split_choice(s.prm, s.groups);
  if (c.splits <= 1) return launch_tile(s, c.tile);
  if (s.dtype == at::kHalf) {
    launch_split_typed<__half>(s, c.tile, c.splits);
  } else {
    launch_split_typed<__nv_bfloat16>(s, c.tile, c.splits);
  }
}

}  // namespace cuops::cuda
