// Direct gradient kernels of conv2d (step 1 of the dgrad and wgrad ladders).
//
// dgrad: one thread per dx element. A forward tap (p, r) touches row
//   h = p*stride - pad + r*dil, so for a given h only the taps with
//   (h + pad - r*dil) divisible by the stride contribute; the others are
//   skipped (with stride 1 every in-range tap counts).
// wgrad: one thread per (dw element, slice of N*P*Q). A weight has few
//   elements and each sums over N*P*Q products, so the reduction is split
//   across grid.y into acc_t partials finished by conv::wgrad_finish_kernel.
#include "cuda/conv2d/common.cuh"

namespace cuops::cuda {
namespace {

using conv::kThreads;
using conv::ld;

template <typename T, bool CFAST>
__global__ void dgrad_direct_kernel(Conv2dGradProblem p, int64_t total) {
  const T* __restrict__ dy = static_cast<const T*>(p.dy);
  const T* __restrict__ w = static_cast<const T*>(p.w);
  T* __restrict__ dx = static_cast<T*>(p.dx);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    int64_t n, c, h, x, t = i;
    if (CFAST) {
      c = t % p.C, t /= p.C, x = t % p.W, t /= p.W, h = t % p.H, n = t / p.H;
    } else {
      x = t % p.W, t /= p.W, h = t % p.H, t /= p.H, c = t % p.C, n = t / p.C;
    }
    const int64_t g = c / Cg, cg = c % Cg;
    acc_t<T> acc = 0;
    for (int64_t kk = 0; kk < Kg; ++kk) {
      const int64_t k = g * Kg + kk;
      const T* dyk = dy + n * p.y_sn + k * p.y_sk;
      const T* wk = w + k * p.w_sk + cg * p.w_sc;
      for (int64_t r = 0; r < p.R; ++r) {
        const int64_t th = h + p.pad_h - r * p.dil_h;
        if (th < 0 || th % p.stride_h != 0) continue;
        const int64_t pp = th / p.stride_h;
        if (pp >= p.P) continue;
        for (int64_t s = 0; s < p.S; ++s) {
          const int64_t tw = x + p.pad_w - s * p.dil_w;
          if (tw < 0 || tw % p.stride_w != 0) continue;
          const int64_t q = tw / p.stride_w;
          if (q >= p.Q) continue;
          acc += ld(dyk, pp * p.y_sp + q * p.y_sq) * ld(wk, r * p.w_sr + s * p.w_ss);
        }
      }
    }
    dx[n * p.x_sn + c * p.x_sc + h * p.x_sh + x * p.x_sw] = static_cast<T>(acc);
  }
}

// Thread (i, split): weight element i in canonical (k, c, r, s) order, summed
// over the split's slice [j0, j1) of the N*P*Q reduction.
template <typename T>
__global__ void wgrad_direct_kernel(Conv2dGradProblem p, int64_t total, int64_t chunk,
                                    acc_t<T>* __restrict__ partial) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const T* __restrict__ dy = static_cast<const T*>(p.dy);
  const T* __restrict__ x = static_cast<const T*>(p.x);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, RS = p.R * p.S, PQ = p.P * p.Q;
  const int64_t rs = i % RS, kc = i / RS, c = kc % Cg, k = kc / Cg;
  const int64_t r = rs / p.S, s = rs % p.S, g = k / Kg;
  const int64_t NPQ = p.N * PQ;
  const int64_t j0 = blockIdx.y * chunk, j1 = j0 + chunk < NPQ ? j0 + chunk : NPQ;
  const T* xc = x + (g * Cg + c) * p.x_sc;
  const T* dyk = dy + k * p.y_sk;
  acc_t<T> acc = 0;
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t n = j / PQ, pq = j % PQ, pp = pq / p.Q, q = pq % p.Q;
    const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
    const int64_t iw = q * p.stride_w - p.pad_w + s * p.dil_w;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
    acc += ld(dyk, n * p.y_sn + pp * p.y_sp + q * p.y_sq) *
           ld(xc, n * p.x_sn + ih * p.x_sh + iw * p.x_sw);
  }
  partial[blockIdx.y * total + i] = acc;
}

}  // namespace

void conv2d_backward_input_direct(const Conv2dGradProblem& p) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  const bool cfast = p.x_sc == 1 && p.C > 1;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input(direct)", [&] {
    auto kernel = cfast ? dgrad_direct_kernel<scalar_t, true> : dgrad_direct_kernel<scalar_t, false>;
    kernel<<<grid_for(total, kThreads), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(p, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void conv2d_backward_weight_direct(const Conv2dGradProblem& p) {
  const int64_t total = p.K * (p.C / p.groups) * p.R * p.S;
  if (total == 0) return;
  const int64_t npq = p.N * p.P * p.Q;
  const int64_t blocks = ceil_div<int64_t>(total, kThreads);
  // Enough splits for ~2 waves of blocks, each slice at least 256 long.
  const int64_t splits = std::max<int64_t>(
      1, std::min<int64_t>({ceil_div<int64_t>(2 * num_sms(), blocks),
                            ceil_div<int64_t>(npq, 256), 65535}));
  const int64_t chunk = std::max<int64_t>(1, ceil_div<int64_t>(npq, splits));
  TORCH_CHECK(blocks <= INT32_MAX, "cuops.conv2d_backward_weight: weight too large");
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(direct)", [&] {
    at::Tensor partial = conv::acc_workspace<scalar_t>(splits * total);
    const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(splits));
    wgrad_direct_kernel<scalar_t><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        p, total, chunk, partial.data_ptr<acc_t<scalar_t>>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    conv::launch_wgrad_finish<scalar_t>(p, partial, splits);
  });
}

}  // namespace cuops::cuda
