// Split-K for the tensor-core implicit GEMM: how many GEMM-K slices
// (splits_for), and the split launch: every slice writes an fp32 partial
// tile, then a finishing pass adds the slices in a fixed order
// (deterministic), adds the bias and converts once.
#pragma once

#include "cuda/conv2d/mma/kernel.cuh"

namespace cuops::cuda::conv_mma {

// Splits that bring `tiles` blocks to about `target` (blocks per wave),
// keeping >= 8 BK tiles per split (the pipeline needs a few to pay off) and
// the fp32 workspace (splits x M x K) <= 256 MB. bk: the configuration's BK.
inline int64_t splits_for(const MmaParams& prm, int64_t tiles, int64_t target, int bk) {
  const int64_t kt = ceil_div<int64_t>(prm.Ktot, bk);
  if (tiles >= target || kt < 16) return 1;
  int64_t splits = (target + tiles / 2) / tiles;  // nearest: a partial extra wave costs a wave
  splits = std::min<int64_t>(splits, kt / 8);
  splits = std::min<int64_t>(splits, (int64_t{64} << 20) / std::max<int64_t>(1, prm.M * prm.K));
  return std::max<int64_t>(1, std::min<int64_t>(splits, 64));
}

namespace {

// Deterministic finish: y[m][k] = bias[k] + the slices' partials, added in
// slice order, converted once. One thread = 4 consecutive channels of one
// pixel (16-byte workspace reads when K % 4 == 0), so the pixel decode is
// paid once per 4 outputs; threads walk k fastest: coalesced workspace reads
// and, for NHWC, coalesced y writes.
template <typename T>
__global__ void splitk_finish_kernel(const MmaParams p, int splits) {
  const int64_t k4 = ceil_div<int64_t>(p.K, 4), total = p.M * k4, plane = p.M * p.K;
  const bool vec = p.K % 4 == 0;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t m = i / k4, k0 = (i - m * k4) * 4;
    const int kn = p.K - k0 < 4 ? static_cast<int>(p.K - k0) : 4;
    float sum[4] = {0.f, 0.f, 0.f, 0.f};
    const float* src = p.ws + m * p.K + k0;
    if (vec) {
      // Groups of 4 slices: the 4 loads are issued before the adds, so a
      // thread waits for one memory latency per group, not one per slice
      // (the pass is bound by load latency, not bandwidth).
      for (int z0 = 0; z0 < splits; z0 += 4) {
        float4 v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u)
          v[u] = z0 + u < splits ? *reinterpret_cast<const float4*>(src + (z0 + u) * plane)
                                 : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          if (z0 + u < splits) {
            sum[0] += v[u].x, sum[1] += v[u].y, sum[2] += v[u].z, sum[3] += v[u].w;
          }
        }
      }
    } else {
      for (int z = 0; z < splits; ++z, src += plane)
        for (int e = 0; e < kn; ++e) sum[e] += src[e];
    }
    int64_t n;
    int pp, q;
    decode_pixel(m, p.PQ, p.Q, n, pp, q);
    uint16_t* yrow = p.y + n * p.y_sn + static_cast<int64_t>(pp) * p.y_sp +
                     static_cast<int64_t>(q) * p.y_sq;
    for (int e = 0; e < kn; ++e) {
      const float b = p.bias != nullptr ? bits_to_float<T>(p.bias[k0 + e]) : 0.f;
      yrow[(k0 + e) * p.y_sk] = float_to_bits<T>(sum[e] + b);
    }
  }
}

// One configuration with GEMM-K split over `splits` (>= 2 requested) blocks:
// the slices' partials into a workspace, then the finishing pass.
template <typename T, class C, bool kFastA>
void launch_split(MmaParams prm, int64_t groups, int64_t splits) {
  prm.KT = static_cast<int>(ceil_div<int64_t>(prm.Ktot, C::BK));
  prm.kt_per_split = static_cast<int>(ceil_div<int64_t>(prm.KT, splits));
  splits = ceil_div<int64_t>(prm.KT, prm.kt_per_split);  // no empty slice: each has >= 1 tile
  at::Tensor ws = at::empty({splits, prm.M, prm.K}, at::TensorOptions()
                                                        .dtype(at::kFloat)
                                                        .device(at::kCUDA,
                                                                at::cuda::current_device()));
  prm.ws = ws.data_ptr<float>();
  launch_grid<T, C, kFastA, true>(prm, groups, static_cast<int>(splits));
  constexpr int kFinishThreads = 256;
  splitk_finish_kernel<T><<<grid_for(prm.M * ceil_div<int64_t>(prm.K, 4), kFinishThreads),
                            kFinishThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      prm, static_cast<int>(splits));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace
}  // namespace cuops::cuda::conv_mma
