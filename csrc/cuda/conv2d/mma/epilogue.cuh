// Tensor-core implicit GEMM: the accumulators out, either as the output
// (+ bias, converted to T, through y's strides) or, for split-K, as an fp32
// partial tile of the workspace (no bias: the finishing pass adds it once).
// Accumulator fragment: acc[i][j][0..1] = row g, cols 2t, 2t+1 and
// acc[i][j][2..3] = row g+8, same cols (g = lane/4, t = lane%4), of the 16x8
// tile (i, j) of the warp.
#pragma once

#include "cuda/conv2d/mma/loaders.cuh"

namespace cuops::cuda::conv_mma {

template <typename T, class C>
__device__ __forceinline__ void store_output(const MmaParams& p, const WarpPos& wp,
                                             const BlockTile& blk,
                                             const float (&acc)[C::MT][C::NT][4]) {
  constexpr int MT = C::MT, NT = C::NT, WM = C::WM, WN = C::WN;
  const auto [lane, warp_m, warp_n] = wp;
  const int64_t kbase = static_cast<int64_t>(blk.g) * p.Kg;
  float bias_v[NT][2];
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    const int k = blk.k0 + warp_n * WN + j * 8 + 2 * (lane & 3);
#pragma unroll
    for (int e = 0; e < 2; ++e)
      bias_v[j][e] = (p.bias != nullptr && k + e < p.Kg)
                         ? bits_to_float<T>(p.bias[kbase + k + e]) : 0.f;
  }
#pragma unroll
  for (int i = 0; i < MT; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t m = blk.m0 + warp_m * WM + i * 16 + h * 8 + (lane >> 2);
      if (m >= p.M) continue;
      int64_t n;
      int pp, q;
      decode_pixel(m, p.PQ, p.Q, n, pp, q);
      uint16_t* yrow = p.y + n * p.y_sn + static_cast<int64_t>(pp) * p.y_sp +
                       static_cast<int64_t>(q) * p.y_sq;
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int k = blk.k0 + warp_n * WN + j * 8 + 2 * (lane & 3);
        if (k >= p.Kg) continue;
        const float v0 = acc[i][j][2 * h] + bias_v[j][0];
        const float v1 = acc[i][j][2 * h + 1] + bias_v[j][1];
        uint16_t* dst = yrow + (kbase + k) * p.y_sk;
        if (p.y_vec2 && k + 1 < p.Kg) {
          *reinterpret_cast<uint32_t*>(dst) = pack2<T>(v0, v1);
        } else {
          dst[0] = float_to_bits<T>(v0);
          if (k + 1 < p.Kg) dst[p.y_sk] = float_to_bits<T>(v1);
        }
      }
    }
  }
}

// Partial tile -> ws[split][m][kbase + k]. Every (m < M, k < Kg) of the
// tile is written by every split, so the workspace needs no zeroing. A
// lane's two values are adjacent channels (k even): one 8-byte store when K
// and Kg are even (then every pair starts 8-byte aligned).
template <class C>
__device__ __forceinline__ void store_partial(const MmaParams& p, const WarpPos& wp,
                                              const BlockTile& blk,
                                              const float (&acc)[C::MT][C::NT][4]) {
  constexpr int MT = C::MT, NT = C::NT, WM = C::WM, WN = C::WN;
  const auto [lane, warp_m, warp_n] = wp;
  const int64_t kbase = static_cast<int64_t>(blk.g) * p.Kg;
  float* ws = p.ws + static_cast<int64_t>(blockIdx.y) * p.M * p.K;
  const bool pairs = ((p.K | p.Kg) & 1) == 0;
#pragma unroll
  for (int i = 0; i < MT; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t m = blk.m0 + warp_m * WM + i * 16 + h * 8 + (lane >> 2);
      if (m >= p.M) continue;
      float* wrow = ws + m * p.K + kbase;
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int k = blk.k0 + warp_n * WN + j * 8 + 2 * (lane & 3);
        if (pairs && k + 1 < p.Kg) {
          *reinterpret_cast<float2*>(wrow + k) =
              make_float2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
        } else {
          if (k < p.Kg) wrow[k] = acc[i][j][2 * h];
          if (k + 1 < p.Kg) wrow[k + 1] = acc[i][j][2 * h + 1];
        }
      }
    }
  }
}

}  // namespace cuops::cuda::conv_mma
