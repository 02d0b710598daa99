// Step 1 of the conv2d ladder: direct convolution, one thread per output.
//
// Each thread walks C/groups * R * S taps, reading x and w through their
// strides (any layout, every argument). The thread -> output mapping follows
// the output's memory order (k fastest for channels_last, q fastest for
// NCHW), so stores are coalesced and neighbouring threads read neighbouring
// inputs. Arithmetic intensity is ~1 FMA per two loads from L1/L2: the
// baseline the tiled steps improve on.
#include "cuda/conv2d/common.cuh"

namespace cuops::cuda {
namespace {

using conv::kThreads;
using conv::ld;

template <typename T, bool KFAST>
__global__ void conv2d_direct_kernel(Conv2dProblem p, int64_t total) {
  const T* __restrict__ x = static_cast<const T*>(p.x);
  const T* __restrict__ w = static_cast<const T*>(p.w);
  const T* __restrict__ bias = static_cast<const T*>(p.bias);
  T* __restrict__ y = static_cast<T*>(p.y);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    int64_t n, k, pp, q, t = i;
    if (KFAST) {
      k = t % p.K, t /= p.K, q = t % p.Q, t /= p.Q, pp = t % p.P, n = t / p.P;
    } else {
      q = t % p.Q, t /= p.Q, pp = t % p.P, t /= p.P, k = t % p.K, n = t / p.K;
    }
    const int64_t g = k / Kg;
    const T* xn = x + n * p.x_sn + g * Cg * p.x_sc;
    const T* wk = w + k * p.w_sk;
    acc_t<T> acc = bias ? ld(bias, k) : acc_t<T>(0);
    for (int64_t c = 0; c < Cg; ++c) {
      for (int64_t r = 0; r < p.R; ++r) {
        const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
        if (ih < 0 || ih >= p.H) continue;
        for (int64_t s = 0; s < p.S; ++s) {
          const int64_t iw = q * p.stride_w - p.pad_w + s * p.dil_w;
          if (iw < 0 || iw >= p.W) continue;
          acc += ld(xn, c * p.x_sc + ih * p.x_sh + iw * p.x_sw) *
                 ld(wk, c * p.w_sc + r * p.w_sr + s * p.w_ss);
        }
      }
    }
    y[n * p.y_sn + k * p.y_sk + pp * p.y_sp + q * p.y_sq] = static_cast<T>(acc);
  }
}

}  // namespace

void conv2d_direct(const Conv2dProblem& p) {
  const int64_t total = p.N * p.K * p.P * p.Q;
  if (total == 0) return;
  const bool kfast = p.y_sk == 1 && p.K > 1;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(direct)", [&] {
    auto kernel = kfast ? conv2d_direct_kernel<scalar_t, true> : conv2d_direct_kernel<scalar_t, false>;
    kernel<<<grid_for(total, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(p, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace cuops::cuda
