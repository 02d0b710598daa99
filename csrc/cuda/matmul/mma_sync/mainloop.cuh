// Main loop of the mma_sync GEMM: shared memory --ldmatrix--> fragments
// --mma.sync m16n8k16--> fp32 accumulators, while the stage loader keeps the
// next kStages-1 k tiles in flight.
//
// Per k16 step a 64x64 warp tile loads 4 A fragments (64x16) and 8 B
// fragments (16x64) with 8 ldmatrix.x4 and issues 32 mma: 128 bytes of shared
// memory read per mma, what an SM's 128 B/clock of shared-memory bandwidth
// sustains at the tensor cores' rate (a 64x32 warp tile would need 192 B/mma).
#pragma once

#include "cuda/matmul/mma_sync/load.cuh"

namespace cuops::cuda::mma_sync {

// ldmatrix addresses of one lane's fragments in a stage (tile-local
// row/chunk). Lane l addresses row (l % 8) of matrix l / 8.
// A kK  [m][k], no .trans: matrix j = (m + 8*(j&1), k + 8*(j>>1)) -> a0..a3.
// A kMN [k][m], .trans:    matrix j = (k + 8*(j>>1), m + 8*(j&1)) -> a0..a3;
//   .trans hands lane l the pair S[k=2t,2t+1][m=g] = A[g][2t..2t+1], as a0 needs.
// B kMN [k][n], .trans:    matrix j = (k + 8*(j&1), n + 8*(j>>1)) -> b0,b1 of
//   n8 tile 2nj, then b0,b1 of n8 tile 2nj+1; lane gets S[k=2t..][n=g] = b0.
// B kK  [n][k], no .trans: matrix j = (n + 8*(j>>1), k + 8*(j&1)), same order.
//
// The offsets are affine in one of their two indices: moving 16 tile rows
// (mi for A kK / nj for B kK, ks for the M/N-contiguous tiles) keeps
// (row % 8) and (row / 2 % 4), hence the swizzle, so it adds a constant.
// Only the other index needs a register per value (4 + 4 for 64x64x64);
// cross_tile_pipeline kernels precompute those once, so each ldmatrix in the
// main loop is stage base + register + immediate (the others keep the
// per-call formula: the compiler recomputes it inside the loop).
template <class C, Major AM, Major BMJ>
struct FragmentLoader {
  static constexpr bool kTma = tma_in_this_build<C>();
  static constexpr bool kPrecomputed = C::cfg.cross_tile_pipeline;
  using TA = TileShape<C, AM, true>;
  using TB = TileShape<C, BMJ, false>;
  static constexpr int kKS = C::kKSteps;
  // Fragments of one k16 step: A fragment j < MI, else the B fragments
  // 2(j-MI), 2(j-MI)+1 (one ldmatrix.x4 each).
  static constexpr int kFrags = C::MI + C::NI / 2;
  // Chunks per smem row (tma: M/N-contiguous tiles are 64-column halves).
  static constexpr int kAL = kTma ? 8 : TA::L, kBL = kTma ? 8 : TB::L;
  static constexpr uint32_t kArow16 = 16 * kAL * 16, kBrow16 = 16 * kBL * 16;  // 16 rows, bytes

  int lane, wm, wn;  // wm, wn: the warp's place in the block tile
  uint32_t a_off[AM == Major::kK ? kKS : C::MI], b_off[BMJ == Major::kK ? kKS : C::NI / 2];

  __device__ __forceinline__ FragmentLoader(int lane_, int wm_, int wn_)
      : lane(lane_), wm(wm_), wn(wn_) {
    if constexpr (kPrecomputed) {
      CUOPS_UNROLL
      for (int i = 0; i < (AM == Major::kK ? kKS : C::MI); ++i)
        a_off[i] = AM == Major::kK ? a_frag_offset(0, i) : a_frag_offset(i, 0);
      CUOPS_UNROLL
      for (int i = 0; i < (BMJ == Major::kK ? kKS : C::NI / 2); ++i)
        b_off[i] = BMJ == Major::kK ? b_frag_offset(0, i) : b_frag_offset(i, 0);
    }
  }

  __device__ __forceinline__ uint32_t a_frag_offset(int mi, int ks) const {
    if constexpr (AM == Major::kK) {
      const int row = wm * C::WM + mi * 16 + (lane & 15);
      const int ch = ks * 2 + (lane >> 4);
      return swizzle<TA::L>(row, ch) * 16;
    } else {
      const int row = ks * 16 + (lane & 7) + (lane >> 4) * 8;
      const int m = wm * C::WM + mi * 16;  // first row of the 16-row fragment
      if constexpr (kTma)  // 64-row halves of BK rows x 128 bytes
        return (m / 64) * (C::BK * 128) + swizzle<8>(row, (m % 64) / 8 + ((lane >> 3) & 1)) * 16;
      return swizzle<TA::L>(row, m / 8 + ((lane >> 3) & 1)) * 16;
    }
  }
  __device__ __forceinline__ uint32_t b_frag_offset(int nj, int ks) const {
    if constexpr (BMJ == Major::kMN) {
      const int row = ks * 16 + (lane & 15);
      const int n = wn * C::WN + nj * 16;  // first column of the pair of n8 tiles
      if constexpr (kTma)  // 64-column halves of BK rows x 128 bytes
        return (n / 64) * (C::BK * 128) + swizzle<8>(row, (n % 64) / 8 + (lane >> 4)) * 16;
      return swizzle<TB::L>(row, n / 8 + (lane >> 4)) * 16;
    } else {
      const int row = wn * C::WN + nj * 16 + (lane & 7) + (lane >> 4) * 8;
      const int ch = ks * 2 + ((lane >> 3) & 1);
      return swizzle<TB::L>(row, ch) * 16;
    }
  }
  __device__ __forceinline__ uint32_t a_offset(int mi, int ks) const {
    if constexpr (!kPrecomputed) return a_frag_offset(mi, ks);
    else if constexpr (AM == Major::kK) return a_off[ks] + mi * kArow16;
    else return a_off[mi] + ks * kArow16;
  }
  __device__ __forceinline__ uint32_t b_offset(int nj, int ks) const {
    if constexpr (!kPrecomputed) return b_frag_offset(nj, ks);
    else if constexpr (BMJ == Major::kK) return b_off[ks] + nj * kBrow16;
    else return b_off[nj] + ks * kBrow16;
  }

  // Fragment j of k16 step ks of the stage at sA (A tile), sB (B tile).
  __device__ __forceinline__ void load(uint32_t sA, uint32_t sB, int ks, int j,
                                       uint32_t (&af)[C::MI][4], uint32_t (&bf)[C::NI][2]) const {
    if (j < C::MI) {
      if constexpr (AM == Major::kK)
        ldmatrix_x4(af[j], sA + a_offset(j, ks));
      else
        ldmatrix_x4_trans(af[j], sA + a_offset(j, ks));
    } else {
      const int nj = j - C::MI;
      uint32_t r[4];
      if constexpr (BMJ == Major::kMN)
        ldmatrix_x4_trans(r, sB + b_offset(nj, ks));
      else
        ldmatrix_x4(r, sB + b_offset(nj, ks));
      bf[2 * nj][0] = r[0];
      bf[2 * nj][1] = r[1];
      bf[2 * nj + 1][0] = r[2];
      bf[2 * nj + 1][1] = r[3];
    }
  }
  __device__ __forceinline__ void load_all(uint32_t sA, uint32_t sB, int ks,
                                           uint32_t (&af)[C::MI][4],
                                           uint32_t (&bf)[C::NI][2]) const {
    CUOPS_UNROLL
    for (int j = 0; j < kFrags; ++j) load(sA, sB, ks, j, af, bf);
  }
};

// The warp tile's fp32 accumulators: acc[mi][ni] is the 16x8 mma tile
// (mi, ni) in the C fragment layout (csrc/cuda/mma_ptx.cuh).
template <typename T, class C>
struct Accumulators {
  float acc[C::MI][C::NI][4];

  __device__ __forceinline__ void zero() {
    CUOPS_UNROLL
    for (int i = 0; i < C::MI; ++i)
      CUOPS_UNROLL
      for (int j = 0; j < C::NI; ++j)
        CUOPS_UNROLL
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;
  }

  // One k16 step: every mma of the warp tile.
  __device__ __forceinline__ void mma_all(const uint32_t (&af)[C::MI][4],
                                          const uint32_t (&bf)[C::NI][2]) {
    CUOPS_UNROLL
    for (int mi = 0; mi < C::MI; ++mi)
      CUOPS_UNROLL
      for (int ni = 0; ni < C::NI; ++ni) HalfOps<T>::mma(acc[mi][ni], af[mi], bf[ni]);
  }

  // interleave_ldmatrix: one k16 step's mma with the next step's fragments
  // (step nks of the stage at nA, nB) loaded one after every kPer-th mma;
  // both are volatile asm, so they stay in this order.
  template <class Frags>
  __device__ __forceinline__ void mma_interleaved(const Frags& frags,
                                                  const uint32_t (&af)[C::MI][4],
                                                  const uint32_t (&bf)[C::NI][2], uint32_t nA,
                                                  uint32_t nB, int nks, uint32_t (&naf)[C::MI][4],
                                                  uint32_t (&nbf)[C::NI][2]) {
    constexpr int kMmas = C::MI * C::NI, kPer = kMmas / Frags::kFrags;
    static_assert(kMmas % Frags::kFrags == 0, "loads spread evenly over the mma");
    CUOPS_UNROLL
    for (int i = 0; i < kMmas; ++i) {
      mma_16816_ordered<T>(acc[i / C::NI][i % C::NI], af[i / C::NI], bf[i % C::NI]);
      if (i % kPer == 0) frags.load(nA, nB, nks, i / kPer, naf, nbf);
    }
  }
};

// The k loop of one work unit (ktiles k tiles), cross_tile_pipeline kernels.
//
// Prologue: tiles 0..kS-2 in flight, one commit group per tile, even an empty
// one past the end, so "group g == tile g" always holds and the wait counts
// are constants. The wait + barrier for tile kt+1 sit before the last k16 step
// of tile kt: after the commit of tile kt+kS-1, kS+kt groups exist and
// wait<kS-2> leaves tiles 0..kt+1 complete. Slot reuse: iteration kt refills
// tile kt-1's slot, and every warp issued its last ldmatrix of tile kt-1 (step
// kKS-2's prefetch) before the barrier of iteration kt-1's last step, which it
// passed. kKS is even, so tile kt+1's step-0 fragments land in buffer 0.
// Units whose tiles are all interior run a copy of the loop whose loads have
// no edge path.
template <class C, class Ring, class Loader, class Frags, class Acc>
__device__ __forceinline__ void mainloop_pipelined(Ring& ring, Loader& loader, const Frags& frags,
                                                   Acc& acc, int64_t ktiles) {
  constexpr int kS = C::kStages, kKS = C::kKSteps;
  CUOPS_UNROLL
  for (int s = 0; s < kS - 1; ++s) {
    if (s < ktiles) loader.template load<true>(s, s);
    cp_async_commit();
  }

  int read_slot = 0, write_slot = kS - 1;
  uint32_t af[2][C::MI][4], bf[2][C::NI][2];
  ring.wait(0);
  uint32_t sA = ring.base, sB = ring.base + C::kABytes;
  frags.load_all(sA, sB, 0, af[0], bf[0]);
  // Waits for tile kt+1 and returns its stage.
  auto wait_next = [&]() -> uint32_t {
    const int next = read_slot == kS - 1 ? 0 : read_slot + 1;
    ring.wait(next);
    return ring.stage(next);
  };
  auto main_loop = [&](auto checked) {
    constexpr bool kChecked = decltype(checked)::value;
    // Spreading needs the edge-free loader (interior units).
    constexpr bool kSpreadHere = C::cfg.spread_cp_async && !kChecked;
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      const bool more = kt + kS - 1 < ktiles;  // a tile left to request
      if constexpr (!kSpreadHere) {
        if (more) loader.template load<kChecked>(kt + kS - 1, write_slot);
        cp_async_commit();
      }
      CUOPS_UNROLL
      for (int ks = 0; ks < kKS; ++ks) {
        if constexpr (kSpreadHere) {
          if (ks + 1 < kKS) {
            if (more) loader.load_part(ks, write_slot);
            if (ks + 2 == kKS) cp_async_commit();  // same group count before the wait
          }
        }
        // The next fragments: step ks+1 of this tile, or step 0 of tile
        // kt+1 behind its wait + barrier (block-uniform branch), or none
        // after the last tile.
        if constexpr (C::cfg.interleave_ldmatrix) {
          if (ks + 1 < kKS) {
            acc.mma_interleaved(frags, af[ks & 1], bf[ks & 1], sA, sB, ks + 1, af[(ks + 1) & 1],
                                bf[(ks + 1) & 1]);
          } else if (kt + 1 < ktiles) {
            const uint32_t nA = wait_next();
            acc.mma_interleaved(frags, af[ks & 1], bf[ks & 1], nA, nA + C::kABytes, 0, af[0],
                                bf[0]);
          } else {
            acc.mma_all(af[ks & 1], bf[ks & 1]);
          }
        } else {
          if (ks + 1 < kKS) {
            frags.load_all(sA, sB, ks + 1, af[(ks + 1) & 1], bf[(ks + 1) & 1]);
          } else if (kt + 1 < ktiles) {
            const uint32_t nA = wait_next();
            frags.load_all(nA, nA + C::kABytes, 0, af[0], bf[0]);
          }
          acc.mma_all(af[ks & 1], bf[ks & 1]);
        }
      }
      read_slot = read_slot == kS - 1 ? 0 : read_slot + 1;
      write_slot = write_slot == kS - 1 ? 0 : write_slot + 1;
      sA = ring.stage(read_slot);
      sB = sA + C::kABytes;
    }
  };
  if constexpr (Ring::kTma)
    main_loop(std::false_type{});  // the copy engine handles the edges
  else if (loader.interior())
    main_loop(std::false_type{});
  else
    main_loop(std::true_type{});
}

// The k loop of one work unit, the other kernels: one wait + barrier at the
// top of each k tile, then its k16 steps.
template <class C, class Ring, class Loader, class Frags, class Acc>
__device__ __forceinline__ void mainloop_multistage(Ring& ring, Loader& loader, const Frags& frags,
                                                    Acc& acc, int64_t ktiles) {
  constexpr int kS = C::kStages, kKS = C::kKSteps;
  CUOPS_UNROLL
  for (int s = 0; s < kS - 1; ++s) {  // as mainloop_pipelined's prologue
    if (s < ktiles) loader.template load<true>(s, s);
    cp_async_commit();
  }

  int read_slot = 0, write_slot = kS - 1;
  for (int64_t kt = 0; kt < ktiles; ++kt) {
    // kS-1+kt groups committed; allowing kS-2 pending means tile kt (ours)
    // has landed. The barrier then makes every thread's copies visible, and
    // proves all warps finished tile kt-1, whose slot (write_slot) we refill.
    cp_async_wait<kS - 2>();
    __syncthreads();
    if (kt + kS - 1 < ktiles) loader.template load<true>(kt + kS - 1, write_slot);
    cp_async_commit();

    const uint32_t sA = ring.stage(read_slot);
    const uint32_t sB = sA + C::kABytes;
    if constexpr (C::cfg.frag_double_buffer) {
      // Fragments of step ks+1 are requested before the mma of step ks, so
      // the ldmatrix latency hides behind 32 mma instead of stalling them.
      uint32_t af[2][C::MI][4], bf[2][C::NI][2];
      frags.load_all(sA, sB, 0, af[0], bf[0]);
      CUOPS_UNROLL
      for (int ks = 0; ks < kKS; ++ks) {
        if (ks + 1 < kKS) frags.load_all(sA, sB, ks + 1, af[(ks + 1) & 1], bf[(ks + 1) & 1]);
        acc.mma_all(af[ks & 1], bf[ks & 1]);
      }
    } else {
      CUOPS_UNROLL
      for (int ks = 0; ks < kKS; ++ks) {
        uint32_t af[C::MI][4], bf[C::NI][2];
        frags.load_all(sA, sB, ks, af, bf);
        acc.mma_all(af, bf);
      }
    }
    read_slot = read_slot == kS - 1 ? 0 : read_slot + 1;
    write_slot = write_slot == kS - 1 ? 0 : write_slot + 1;
  }
}

}  // namespace cuops::cuda::mma_sync
