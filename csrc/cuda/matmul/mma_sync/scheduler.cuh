// Work scheduling of the mma_sync GEMM: which block computes which output
// tile (rasterization), over which k tiles (stream-K), for which batch item,
// and the deterministic fix-up that sums a tile split between blocks.
#pragma once

#include "cuda/matmul/mma_sync/config.cuh"

namespace cuops::cuda::mma_sync {

// One block's piece of work: k tiles [kt0, kt1) of output tile `pid` of
// batch item z; m_block, n_block: the tile's origin in C.
struct WorkUnit {
  int64_t z, pid, kt0, kt1;
  int64_t m_block, n_block;
};

// Plain grid: tile blockIdx.x, all its k tiles, batch items blockIdx.y,
// + gridDim.y, ... (65535 at most in the grid). Stream-K grid (p.sk_iters > 0,
// one GEMM): first the data-parallel tiles blockIdx.x, + gridDim.x, ... below
// p.sk_first_tile (whole waves, in raster order as the plain grid runs them),
// then the block's equal share [it, it_end) of the remaining tiles' k tiles,
// cut at tile boundaries.
//
// Rasterization: groups of group_m tile rows; inside a group the tile row
// varies fastest, so the blocks resident at one time cover a compact
// ~group_m x (#SMs / group_m) patch of C and share its A and B panels through L2.
template <class C>
struct TileScheduler {
  static constexpr int kGroupM = C::cfg.group_m;
  const Params& p;
  int64_t ktiles_all;  // k tiles of a whole output tile
  int64_t per_group;   // tiles per rasterization group
  bool stream_k;
  int64_t next_z, dp_tile, it = 0, it_end = 0;

  __device__ __forceinline__ explicit TileScheduler(const Params& p_)
      : p(p_),
        ktiles_all(ceil_div<int64_t>(p_.K, C::BK)),
        per_group(int64_t{kGroupM} * p_.tiles_n),
        stream_k(C::cfg.stream_k && p_.sk_iters > 0),
        next_z(blockIdx.y),
        dp_tile(blockIdx.x) {
    if (stream_k) {
      it = blockIdx.x * p.sk_iters / gridDim.x;
      it_end = (blockIdx.x + 1) * p.sk_iters / gridDim.x;
    }
  }

  // The block's next unit; false when it has none left.
  __device__ __forceinline__ bool next(WorkUnit& u) {
    u.z = 0;
    u.pid = blockIdx.x;
    u.kt0 = 0;
    u.kt1 = ktiles_all;
    if (!stream_k) {
      if (next_z >= p.batch) return false;
      u.z = next_z;
      next_z += gridDim.y;
    } else if (dp_tile < p.sk_first_tile) {
      u.pid = dp_tile;
      dp_tile += gridDim.x;
    } else {
      if (it >= it_end) return false;
      u.pid = p.sk_first_tile + it / ktiles_all;
      u.kt0 = it % ktiles_all;
      u.kt1 = min(ktiles_all, u.kt0 + (it_end - it));
      it += u.kt1 - u.kt0;
    }
    const int64_t first_m = (u.pid / per_group) * kGroupM;
    const int64_t group_m = min(p.tiles_m - first_m, int64_t{kGroupM});
    u.m_block = (first_m + (u.pid % per_group) % group_m) * C::BM;
    u.n_block = ((u.pid % per_group) / group_m) * C::BN;
    return true;
  }
};

// Stream-K fix-up of a tile split between blocks (a no-op for a whole tile);
// returns whether this block goes on to store the tile. The block owning k
// tile 0 finishes the tile: it processes that segment at the END of its
// range, while every other segment of the tile comes first in its block's
// range (or is the whole range), so its wait is normally already over. The
// grid never exceeds the blocks resident at once, so the blocks it waits for
// are running. It adds the other segments in block order: deterministic.
// Partial slot layout: float4 j of thread tid at (j * kThreads + tid) * 4
// (coalesced, the same in both blocks).
template <class C>
__device__ __forceinline__ bool stream_k_fixup(const Params& p, const WorkUnit& u,
                                               int64_t ktiles_all, float (&acc)[C::MI][C::NI][4],
                                               int tid) {
  if constexpr (C::cfg.stream_k) {
    if (u.kt0 != 0 || u.kt1 != ktiles_all) {  // only in a stream-K grid
      constexpr int kVec = C::MI * C::NI;     // float4 per thread
      if (u.kt0 != 0) {  // a later segment: hand the partial sums over
        float4* slot =
            reinterpret_cast<float4*>(p.sk_partial) + blockIdx.x * int64_t{kVec * C::kThreads};
        CUOPS_UNROLL
        for (int j = 0; j < kVec; ++j) {
          const float* a4 = acc[j / C::NI][j % C::NI];
          __stcg(slot + j * C::kThreads + tid, make_float4(a4[0], a4[1], a4[2], a4[3]));
        }
        __syncthreads();  // every thread's stores precede the flag
        if (tid == 0) {
          __threadfence();
          atomicExch(p.sk_flags + blockIdx.x, 1);
        }
        return false;
      }
      // k tile 0's owner: add the segments of the blocks that own the tile's
      // later k tiles (block c owns split iteration i when
      // c * I / G <= i < (c + 1) * I / G).
      const int64_t last = (u.pid - p.sk_first_tile) * ktiles_all + ktiles_all - 1;
      const int64_t owner_last = ((last + 1) * gridDim.x - 1) / p.sk_iters;
      for (int64_t c = blockIdx.x + 1; c <= owner_last; ++c) {
        if (tid == 0) {
          while (atomicAdd(p.sk_flags + c, 0) == 0) __nanosleep(64);
          __threadfence();
        }
        __syncthreads();
        const float4* slot =
            reinterpret_cast<const float4*>(p.sk_partial) + c * int64_t{kVec * C::kThreads};
        CUOPS_UNROLL
        for (int j = 0; j < kVec; ++j) {
          const float4 v = __ldcg(slot + j * C::kThreads + tid);
          float* a4 = acc[j / C::NI][j % C::NI];
          a4[0] += v.x;
          a4[1] += v.y;
          a4[2] += v.z;
          a4[3] += v.w;
        }
      }
    }
  }
  return true;
}

}  // namespace cuops::cuda::mma_sync
