// Epilogue of the mma_sync GEMM: C tile = accumulators (+ bias[n], in fp32),
// rounded to T once, stored with guards at the edges of C.
#pragma once

#include "cuda/matmul/mma_sync/config.cuh"

namespace cuops::cuda::mma_sync {

// What the epilogue of one warp needs to know about its tile of C.
template <typename T>
struct WarpOutput {
  T* c;           // C of the unit's batch item
  const T* bias;  // [N] or null
  int64_t m0, n0;  // the block tile's origin in C
  int warp, wm, wn, lane;
};

// Staged store (cross_tile_pipeline configs; the whole block tile inside C,
// C rows contiguous and 16-byte aligned); returns whether it stored the tile.
// Each warp converts its tile into its own smem patch (the k loop is drained),
// then writes whole 128-byte row segments with 16-byte stores. Stored straight
// from the fragments, each 4-lane group writes 16 of a sector's 32 bytes, so
// every C sector would take two partial writes. Row pitch WN*2 + 16 bytes: the
// 8 rows of a fragment store then start 4 banks apart (conflict-free); a
// 16-byte read phase (8 lanes) covers one row.
template <typename T, class C>
__device__ __forceinline__ bool store_tile_staged(const Params& p, const WarpOutput<T>& o,
                                                  const float (&acc)[C::MI][C::NI][4],
                                                  uint32_t s_base) {
  using Ops = HalfOps<T>;
  constexpr int kCPitch = C::WN * 2 + 16;
  static_assert(C::cfg.warps_m * C::cfg.warps_n * C::WM * kCPitch <= C::kSmemBytes,
                "staging fits");
  if (!(p.c_vec16 && o.m0 + C::BM <= p.M && o.n0 + C::BN <= p.N)) return false;
  const int g = o.lane >> 2, t = o.lane & 3;
  const uint32_t s_c = s_base + o.warp * (C::WM * kCPitch);
  CUOPS_UNROLL
  for (int ni = 0; ni < C::NI; ++ni) {
    const int col = ni * 8 + 2 * t;
    float b0 = 0.f, b1 = 0.f;
    if (o.bias != nullptr) {
      b0 = Ops::to_float(o.bias[o.n0 + o.wn * C::WN + col]);
      b1 = Ops::to_float(o.bias[o.n0 + o.wn * C::WN + col + 1]);
    }
    CUOPS_UNROLL
    for (int mi = 0; mi < C::MI; ++mi)
      CUOPS_UNROLL
      for (int h = 0; h < 2; ++h) {
        const typename Ops::T2 v = Ops::pack(acc[mi][ni][2 * h] + b0, acc[mi][ni][2 * h + 1] + b1);
        st_shared_b32(s_c + (mi * 16 + g + h * 8) * kCPitch + col * 2,
                      *reinterpret_cast<const uint32_t*>(&v));
      }
  }
  __syncwarp();
  constexpr int kChunksPerRow = C::WN / 8;
  T* dst0 = o.c + (o.m0 + o.wm * C::WM) * p.c_sm + o.n0 + o.wn * C::WN;
  CUOPS_UNROLL
  for (int i = 0; i < C::WM * kChunksPerRow / 32; ++i) {
    const int idx = i * 32 + o.lane, row = idx / kChunksPerRow, ch = idx % kChunksPerRow;
    const uint4 v = ld_shared_v4(s_c + row * kCPitch + ch * 16);
    *reinterpret_cast<uint4*>(dst0 + row * p.c_sm + ch * 8) = v;
  }
  __syncthreads();  // the next unit's prologue refills the smem
  return true;
}

// Store straight from the accumulator layout: lane (g, t) owns
// C[g][2t..2t+1] and C[g+8][2t..2t+1] of each 16x8 tile. Pairs of adjacent
// columns are stored as one 4-byte word when C allows.
template <typename T, class C>
__device__ __forceinline__ void store_tile_direct(const Params& p, const WarpOutput<T>& o,
                                                  const float (&acc)[C::MI][C::NI][4]) {
  using Ops = HalfOps<T>;
  const int g = o.lane >> 2, t = o.lane & 3;
  CUOPS_UNROLL
  for (int ni = 0; ni < C::NI; ++ni) {
    const int64_t n = o.n0 + o.wn * C::WN + ni * 8 + 2 * t;
    if (n >= p.N) continue;
    const bool has2 = n + 1 < p.N;
    float b0 = 0.f, b1 = 0.f;
    if (o.bias != nullptr) {
      b0 = Ops::to_float(o.bias[n]);
      if (has2) b1 = Ops::to_float(o.bias[n + 1]);
    }
    CUOPS_UNROLL
    for (int mi = 0; mi < C::MI; ++mi) {
      CUOPS_UNROLL
      for (int h = 0; h < 2; ++h) {
        const int64_t m = o.m0 + o.wm * C::WM + mi * 16 + g + h * 8;
        if (m >= p.M) continue;
        const float v0 = acc[mi][ni][2 * h] + b0, v1 = acc[mi][ni][2 * h + 1] + b1;
        T* dst = o.c + m * p.c_sm + n * p.c_sn;
        if (p.c_pairs && has2) {
          *reinterpret_cast<typename Ops::T2*>(dst) = Ops::pack(v0, v1);
        } else {
          dst[0] = Ops::from_float(v0);
          if (has2) dst[p.c_sn] = Ops::from_float(v1);
        }
      }
    }
  }
}

// f32_partials: the raw accumulators into the fp32 workspace (rows of p.N
// floats, unit column stride), pairs of columns as one 8-byte store when
// p.c_pairs (even row pitch, 8-byte aligned items).
template <class C>
__device__ __forceinline__ void store_tile_partials(const Params& p, const WarpOutput<float>& o,
                                                    const float (&acc)[C::MI][C::NI][4]) {
  const int g = o.lane >> 2, t = o.lane & 3;
  CUOPS_UNROLL
  for (int ni = 0; ni < C::NI; ++ni) {
    const int64_t n = o.n0 + o.wn * C::WN + ni * 8 + 2 * t;
    if (n >= p.N) continue;
    const bool has2 = n + 1 < p.N;
    CUOPS_UNROLL
    for (int mi = 0; mi < C::MI; ++mi) {
      CUOPS_UNROLL
      for (int h = 0; h < 2; ++h) {
        const int64_t m = o.m0 + o.wm * C::WM + mi * 16 + g + h * 8;
        if (m >= p.M) continue;
        float* dst = o.c + m * p.c_sm + n * p.c_sn;
        if (p.c_pairs && has2) {
          *reinterpret_cast<float2*>(dst) = make_float2(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
        } else {
          dst[0] = acc[mi][ni][2 * h];
          if (has2) dst[p.c_sn] = acc[mi][ni][2 * h + 1];
        }
      }
    }
  }
}

}  // namespace cuops::cuda::mma_sync
