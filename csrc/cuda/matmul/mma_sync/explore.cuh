// Development tuning table of the mma_sync GEMM, compiled only with
// -DCUOPS_EXPLORE (setup.py: CUOPS_EXPLORE=1). CUOPS_MATMUL_CONFIG=
// "mma_sync=<i>" forces entry i (1..) for the fast path of a plain row-major
// a @ b (A K-contiguous, B N-contiguous; other layouts and the general path
// keep the default); scripts/explore/tune_matmul.py sweeps them. Measurements
// and the reasoning behind each entry: docs/matmul-worklog.md, step 5.
#pragma once

#include <iterator>  // std::size
#include <utility>   // std::index_sequence

#include "cuda/matmul/mma_sync/config.cuh"

namespace cuops::cuda::mma_sync {

// Entry i is kExploreConfigs[i - 1]; the numbering is the worklog's.
inline constexpr TileConfig kExploreConfigs[] = {
    // 1-7: block and warp tile shapes, stages, register caps (no cross-tile pipeline).
    // A 64x32 warp tile needs 192 B of shared memory per mma instead of 128.
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 32, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 3, .frag_double_buffer = true},  // 128x64x64, 72 KB, 3 blocks/SM
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 32, .stages = 4,
     .min_blocks_per_sm = 2, .frag_double_buffer = true},  // 128x128x32, 64 KB (= kSmall)
    {.warps_m = 2, .warps_n = 4, .warp_m = 64, .warp_n = 32, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2},  // 128x128x64, 96 KB, 16 warps/SM
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true},  // 128x128x64, 96 KB
    {.warps_m = 4, .warps_n = 2, .warp_m = 32, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2},  // 128x128x64, 96 KB, 16 warps/SM
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 32, .block_k = 64, .stages = 2,
     .min_blocks_per_sm = 4},  // 128x64x64, 48 KB, 4 blocks/SM
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 32, .stages = 4,
     .min_blocks_per_sm = 2},  // 128x128x32, 64 KB, single-buffered fragments
    // 8-18: the cross-tile pipeline; 8-warp blocks (a bigger tile writes fewer
    // cp.async bytes to shared memory per FLOP: 0.75x for 128x256), deeper
    // rings, other rasterization groups.
    kBig,  // 8: 128x128x64, 96 KB, 2 blocks/SM
    {.warps_m = 2, .warps_n = 4, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 1, .frag_double_buffer = true, .cross_tile_pipeline = true},  // 128x256x64
    {.warps_m = 2, .warps_n = 4, .warp_m = 64, .warp_n = 64, .block_k = 32, .stages = 4,
     .min_blocks_per_sm = 1, .frag_double_buffer = true, .cross_tile_pipeline = true},  // 128x256x32
    {.warps_m = 4, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 1, .frag_double_buffer = true, .cross_tile_pipeline = true},  // 256x128x64
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 32, .stages = 4,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true},  // 128x128x32
    {.warps_m = 2, .warps_n = 4, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 4,
     .min_blocks_per_sm = 1, .frag_double_buffer = true,
     .cross_tile_pipeline = true},  // 128x256x64, 192 KB, 3 tiles ahead
    {.warps_m = 4, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 4,
     .min_blocks_per_sm = 1, .frag_double_buffer = true,
     .cross_tile_pipeline = true},  // 256x128x64, 192 KB, 3 tiles ahead
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .group_m = 16},  // kBig, rasterization groups of 16 tile rows
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .group_m = 4},  // kBig, groups of 4
    // BK 32 with 5/6 stages: more bytes in flight in the same shared memory,
    // at one barrier per 64 mma instead of 128.
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 32, .stages = 6,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .group_m = 16},  // 128x128x32, 96 KB
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 32, .stages = 5,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .group_m = 16},  // 128x128x32, 80 KB
    // 19-21: kBig against the MIO-throttle stall (the queue ldmatrix and
    // LDGSTS share): ldmatrix interleaved with the mma, cp.async spread over
    // the k16 steps, both.
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .interleave_ldmatrix = true},
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .spread_cp_async = true},
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .interleave_ldmatrix = true, .spread_cp_async = true},
    // 22: kBig on a stream-K grid (single GEMMs with more tiles than block
    // slots and a partial last wave; others run the plain grid). Its fix-up
    // waits on other blocks of the grid, so it needs the whole grid resident
    // at once (not guaranteed under MPS SM limits or next to another
    // persistent kernel): a development entry only.
    {.warps_m = 2, .warps_n = 2, .warp_m = 64, .warp_n = 64, .block_k = 64, .stages = 3,
     .min_blocks_per_sm = 2, .frag_double_buffer = true, .cross_tile_pipeline = true,
     .stream_k = true},
    // 23: kBigTma (sm_90, one GEMM; elsewhere kBig runs).
    kBigTma,
    // 24: kTile64 (the splitk planner's tile for too few 128x128 tiles), to
    // measure it where the planner does not pick it, e.g. the batched
    // 512 x (1024x128 @ 128x1024), bound by writing C (docs/matmul-worklog.md).
    kTile64,
};

}  // namespace cuops::cuda::mma_sync
