// Helpers shared by the conv2d CUDA kernels (forward and gradients).
#pragma once

#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda::conv {

constexpr int kThreads = 256;

// Row m of an implicit GEMM over the N*P*Q output pixels: image n and output
// coordinates (p, q). p and q fit 32 bits; P*Q may not.
struct OutPixel {
  int64_t n;
  int p, q;
};
__device__ __forceinline__ OutPixel out_pixel(int64_t m, int64_t PQ, int Q) {
  const int64_t n = m / PQ, pq = m - n * PQ;
  const int p = static_cast<int>(pq / Q);
  return {n, p, static_cast<int>(pq - static_cast<int64_t>(p) * Q)};
}

template <typename T>
__device__ __forceinline__ acc_t<T> ld(const T* p, int64_t i) {
  return static_cast<acc_t<T>>(p[i]);
}

// wgrad's split reduction: `partial` holds `splits` rows of acc_t sums, each
// over its own slice of N*P*Q, indexed by the canonical (k, c, r, s) order.
// The finishing pass adds the rows in a fixed order (deterministic) and
// writes dw through its strides.
template <typename T>
__global__ void wgrad_finish_kernel(Conv2dGradProblem p, const acc_t<T>* __restrict__ partial,
                                    int64_t splits, int64_t total) {
  const int64_t Cg = p.C / p.groups, RS = p.R * p.S;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    acc_t<T> s = 0;
    for (int64_t k = 0; k < splits; ++k) s += partial[k * total + i];
    const int64_t rs = i % RS, kc = i / RS;
    const int64_t c = kc % Cg, k = kc / Cg, r = rs / p.S, ss = rs % p.S;
    static_cast<T*>(p.dw)[k * p.w_sk + c * p.w_sc + r * p.w_sr + ss * p.w_ss] = static_cast<T>(s);
  }
}

template <typename T>
void launch_wgrad_finish(const Conv2dGradProblem& p, const at::Tensor& partial, int64_t splits) {
  const int64_t total = p.K * (p.C / p.groups) * p.R * p.S;
  wgrad_finish_kernel<T><<<grid_for(total, kThreads), kThreads, 0,
                           at::cuda::getCurrentCUDAStream()>>>(
      p, partial.const_data_ptr<acc_t<T>>(), splits, total);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T>
at::Tensor acc_workspace(int64_t n) {
  return at::empty({n}, at::TensorOptions()
                            .dtype(c10::CppTypeToScalarType<acc_t<T>>::value)
                            .device(at::kCUDA, c10::cuda::current_device()));
}

}  // namespace cuops::cuda::conv
