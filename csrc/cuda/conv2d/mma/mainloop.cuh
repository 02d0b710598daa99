// Tensor-core implicit GEMM: the warp's fragments and MMAs, the cp.async
// pipeline prologue and the two main loops (plain, and fragment
// double-buffered for configurations with C::kFragDB).
#pragma once

#include "cuda/conv2d/mma/loaders.cuh"

namespace cuops::cuda::conv_mma {

// The warp's share of the block tile: ldmatrix addresses, fragments and the
// fp32 accumulators of its MT x NT mma tiles.
// A, 16x16 per mma tile: lanes 0-15 address rows 0-15 at k-chunk 0, lanes
// 16-31 rows 0-15 at k-chunk 1 -> registers {a0,a1,a2,a3} = {rows 0-7 k0-7,
// rows 8-15 k0-7, rows 0-7 k8-15, rows 8-15 k8-15}, the m16n8k16 A fragment.
// B (smem rows = output channels, kk contiguous = the "col" operand), two
// n8 tiles per ldmatrix: lanes 0-7 n0-7 k0-7, 8-15 n0-7 k8-15, 16-23 n8-15
// k0-7, 24-31 n8-15 k8-15 -> {b0,b1} of n-tile 0, then of n-tile 1.
// Rows move in steps of 16 and the swizzle only depends on row % 8, so the
// per-tile offsets are constants; the k16 step ks sets chunk bits 1-2,
// i.e. XOR (ks << 5) on the in-tile offset (A_BYTES is a multiple of 128).
template <typename T, class C>
struct WarpMma {
  static constexpr int MT = C::MT, NT = C::NT;
  using AFrag = uint32_t[MT][4];
  using BFrag = uint32_t[NT][2];
  uint32_t a_ld, b_ld;

  __device__ __forceinline__ explicit WarpMma(const WarpPos& w) {
    a_ld = swz_off<C::BK>(w.warp_m * C::WM + (w.lane & 15), w.lane >> 4);
    b_ld = C::A_BYTES + swz_off<C::BK>(w.warp_n * C::WN + (w.lane & 7) + ((w.lane >> 4) << 3),
                                       (w.lane >> 3) & 1);
  }

  // All A and B fragments of one k16 step of the warp tile, from the stage
  // at smem address `stage`.
  __device__ __forceinline__ void load_frags(uint32_t stage, int ks, AFrag& af, BFrag& bf) const {
#pragma unroll
    for (int i = 0; i < MT; ++i)
      ldmatrix_x4(af[i], stage + ((a_ld ^ (ks << 5)) + i * 16 * C::kRowBytes));
#pragma unroll
    for (int j = 0; j < NT / 2; ++j) {
      uint32_t t[4];
      ldmatrix_x4(t, stage + ((b_ld ^ (ks << 5)) + j * 16 * C::kRowBytes));
      bf[2 * j][0] = t[0];
      bf[2 * j][1] = t[1];
      bf[2 * j + 1][0] = t[2];
      bf[2 * j + 1][1] = t[3];
    }
  }

  __device__ __forceinline__ static void mma_all(float (&acc)[MT][NT][4], const AFrag& af,
                                                 const BFrag& bf) {
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
      for (int j = 0; j < NT; ++j) mma_16816<T>(acc[i][j], af[i], bf[j]);
  }
};

// The whole GEMM-K range of the block: acc = sum over its BK tiles of
// A tile x B tile. kStages-deep cp.async ring; each thread's loaders fill
// their rows of the next tiles while the warps multiply the current one.
template <typename T, class C, bool kFastA>
__device__ __forceinline__ void mainloop(const MmaParams& p, uint32_t smem_base, const WarpPos& wp,
                                         const BlockTile& blk, ALoader<C, kFastA>& load_a,
                                         BLoader<C, kFastA>& load_b,
                                         float (&acc)[C::MT][C::NT][4]) {
  constexpr int kStages = C::kStages, KS = C::KS, STAGE_BYTES = C::STAGE_BYTES;
  using A = ALoader<C, kFastA>;
  using Mma = WarpMma<T, C>;
  const int kt0 = blk.kt0, nkt = blk.nkt;
  const Mma warp(wp);

#pragma unroll
  for (int i = 0; i < C::MT; ++i)
#pragma unroll
    for (int j = 0; j < C::NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  // ---- prologue: tiles 0 .. kStages-2 in flight ----------------------------
  // One commit per tile (even when empty) keeps "group index == tile index",
  // which is what the wait_group counts below rely on.
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < nkt) {
      if constexpr (kFastA) {
        load_a.load(p, smem_base, st);
      } else {
        typename A::Staged v;
        load_a.load_regs(p, kt0 + st, v);
        load_a.store_regs(smem_base, st, v);
      }
      load_b.load(p, smem_base, st);
    }
    cp_async_commit();
  }

  if constexpr (C::kFragDB) {
    // ---- fragment double-buffering (fast A path only) ----------------------
    // The fragments of k16 step ks+1 are loaded before the mma of step ks, so
    // the ldmatrix latency hides behind a step of mma instead of stalling it;
    // across tiles the same holds: the last step of tile kt first waits for
    // tile kt+1 (cp.async wait + barrier), loads its ks = 0 fragments, and
    // only then issues tile kt's last mma.
    // cp.async groups: the prologue commits tiles 0..S-2 (S = kStages), then
    // iteration kt commits exactly one group (tile kt+S-1, maybe empty) at
    // its step 0. At the barrier in iteration kt's last step, tiles
    // 0..kt+S-1 are committed and tile kt+1 must be complete: at most
    // (kt+S-1) - (kt+1) = S-2 newer groups may pend, the constant below. The
    // barrier then publishes everyone's copies of tile kt+1.
    // Slot reuse: tile kt+S-1 refills slot (kt-1) % S (tile kt-1's) at step 0
    // of iteration kt. Every warp's last ldmatrix of tile kt-1 (its last
    // step's fragments) was issued before the barrier of iteration kt-1's
    // last step, and every warp passed that barrier before any thread reaches
    // iteration kt: so no warp still reads the slot. (The mma of tile kt-1's
    // last step runs after that barrier, but from registers.)
    typename Mma::AFrag af[2];
    typename Mma::BFrag bf[2];
    int rd = 0, wr = kStages - 1;  // ring slots: tile kt, and the next one to refill
    cp_async_wait<kStages - 2>();
    __syncthreads();
    warp.load_frags(smem_base, 0, af[0], bf[0]);
    for (int kt = 0; kt < nkt; ++kt) {
      const uint32_t stage = smem_base + rd * STAGE_BYTES;
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        if (ks + 1 < KS) {
          warp.load_frags(stage, ks + 1, af[(ks + 1) & 1], bf[(ks + 1) & 1]);
        } else if (kt + 1 < nkt) {  // block-uniform: every thread takes the barrier
          cp_async_wait<kStages - 2>();
          __syncthreads();
          rd = rd == kStages - 1 ? 0 : rd + 1;
          warp.load_frags(smem_base + rd * STAGE_BYTES, 0, af[0], bf[0]);  // KS even: buffer 0
        }
        if (ks == 0) {
          if (kt + kStages - 1 < nkt) {
            load_a.load(p, smem_base, wr);
            load_b.load(p, smem_base, wr);
          }
          cp_async_commit();
          wr = wr == kStages - 1 ? 0 : wr + 1;
        }
        Mma::mma_all(acc, af[ks & 1], bf[ks & 1]);
      }
    }
  } else {
    // ---- plain loop ---------------------------------------------------------
    for (int kt = 0; kt < nkt; ++kt) {  // kt: local tile index (stage = kt % kStages)
      // Tile kt's group is complete once at most kStages-2 newer ones pend;
      // the barrier then (1) publishes everyone's copies of tile kt and (2)
      // proves everyone finished reading tile kt-1, whose stage is refilled
      // next.
      cp_async_wait<kStages - 2>();
      __syncthreads();

      const int kn = kt + kStages - 1;  // tile to prefetch
      const int sn = kn % kStages;
      typename A::Staged av;
      if (kn < nkt) {
        if constexpr (kFastA) {
          load_a.load(p, smem_base, sn);
        } else {
          load_a.load_regs(p, kt0 + kn, av);  // consumed after the MMAs below
        }
        load_b.load(p, smem_base, sn);
      }
      cp_async_commit();

      const uint32_t stage = smem_base + (kt % kStages) * STAGE_BYTES;
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        typename Mma::AFrag af;
        typename Mma::BFrag bf;
        warp.load_frags(stage, ks, af, bf);
        Mma::mma_all(acc, af, bf);
      }

      if constexpr (!kFastA) {
        // Stage sn held tile kt-1, which every thread finished before the
        // barrier above; it is read again only after a later barrier (tile kn
        // is first read in iteration kn = kt + kStages - 1 > kt).
        if (kn < nkt) load_a.store_regs(smem_base, sn, av);
      }
    }
  }
  cp_async_wait<0>();  // only empty groups remain; drain for hygiene
}

}  // namespace cuops::cuda::conv_mma
