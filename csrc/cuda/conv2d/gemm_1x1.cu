// Ladder step "gemm" of the CUDA conv2d, conv2d_backward_input and
// conv2d_backward_weight ladders: a pointwise convolution (1x1, unpadded;
// is_pointwise in csrc/conv2d.h) as plain GEMMs run by what cuops.matmul runs
// by default (gemm_default: the fastest GEMM step and its planning). The
// planning (pixel dims merged, orientation, copies for strides and NCHW) is
// device-independent host code shared with the CPU `gemm` steps
// (csrc/conv2d_pointwise.cpp), so the CPU tests prove it; this file holds
// the CUDA pieces it calls: the NCHW bias pass and the per-image partials'
// sum.
#include <algorithm>

#include "conv2d_steps.h"
#include "cuda/conv2d/common.cuh"
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"
#include "cuda/matmul/kernels.h"

namespace cuops::cuda {
namespace {

// out[n][o][p][q] += bias[o] in place: the bias of the channels-as-rows
// orientation (a second rounding to T, as an unfused bias add). One block per
// (n, o) plane at a time; a plane is `rows` runs of `cols` pixels (one run
// when p and q merge).
template <typename T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t planes,
                                int64_t O, int64_t rows, int64_t cols, int64_t s_n, int64_t s_o,
                                int64_t s_row, int64_t s_col) {
  for (int64_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
    const int64_t n = pl / O, o = pl - n * O;
    T* plane = y + n * s_n + o * s_o;
    const acc_t<T> b = static_cast<acc_t<T>>(bias[o]);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        T& v = plane[r * s_row + c * s_col];
        v = static_cast<T>(static_cast<acc_t<T>>(v) + b);
      }
  }
}

void add_bias(const at::Tensor& out, const void* bias) {
  int64_t rows = out.size(2), cols = out.size(3), s_row = out.stride(2), s_col = out.stride(3);
  if (rows == 1 || cols == 1 || s_row == cols * s_col) {  // p and q merge
    s_col = cols == 1 ? s_row : s_col;
    cols *= rows;
    rows = 1;
  }
  const int64_t planes = out.size(0) * out.size(1);
  if (planes == 0 || rows * cols == 0) return;
  constexpr int kThreads = 256;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(planes, int64_t{num_sms()} * 32));
  CUOPS_DISPATCH_FLOATING_TYPES(out.scalar_type(), "conv2d_gemm_bias", [&] {
    add_bias_kernel<scalar_t><<<blocks, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        static_cast<scalar_t*>(out.data_ptr()), static_cast<const scalar_t*>(bias), planes,
        out.size(1), rows, cols, out.stride(0), out.stride(1), s_row, s_col);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

// dw[k][c] = sum_n partial[n][k][c] in image order (deterministic): wgrad's
// finishing pass with one split per image (R = S = 1, so its (k, c, r, s)
// rows are the partials' [K][Cg] planes; fp32/fp64 only, acc_t<T> == T).
void sum_images(const at::Tensor& partial, const Conv2dGradProblem& p) {
  AT_DISPATCH_FLOATING_TYPES(p.dtype, "conv2d_wgrad_sum_images", [&] {
    conv::launch_wgrad_finish<scalar_t>(p, partial, p.N);
  });
}

PointwiseKernels cuda_kernels() {
  return {at::Device(at::kCUDA, at::cuda::current_device()), &gemm_default, &add_bias,
          &sum_images};
}

}  // namespace

void conv2d_gemm(const Conv2dProblem& p) {
  if (!is_pointwise(p)) return conv2d_default(p);
  conv2d_pointwise(p, cuda_kernels());
}

void conv2d_backward_input_gemm(const Conv2dGradProblem& p) {
  if (!is_pointwise(p)) return conv2d_backward_input_default(p);
  conv2d_backward_input_pointwise(p, cuda_kernels());
}

void conv2d_backward_weight_gemm(const Conv2dGradProblem& p) {
  if (!is_pointwise(p)) return conv2d_backward_weight_default(p);
  conv2d_backward_weight_pointwise(p, cuda_kernels());
}

}  // namespace cuops::cuda
