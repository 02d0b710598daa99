// cuops.conv2d and its gradients: the problem every kernel (CPU and each CUDA
// variant) solves and the plans that the device-independent frontend
// (csrc/conv2d.cpp) builds for the CPU kernels (csrc/cpu/conv2d_cpu.cpp) and
// the CUDA ladders (csrc/cuda/conv2d_cuda.cpp).
#pragma once

#include "cuops.h"

namespace cuops {

// y[n][k][p][q] = bias[k] + sum_{c,r,s} x[n][g*Cg + c][p*sh - ph + r*dh][q*sw - pw + s*dw]
//                                       * w[k][c][r][s],   g = k / Kg
// (x reads outside the input are zero: implicit padding). Only the top/left
// padding enters the indexing; the output size P x Q encodes the rest, so
// asymmetric padding (padding="same" with even kernels) needs nothing extra.
// Every tensor is addressed through element strides given in NCHW / KCRS
// dimension order, so NCHW and channels_last (NHWC) data both work in place.
struct Conv2dProblem {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t K = 0, R = 0, S = 0;         // output channels, kernel height, width
  int64_t P = 0, Q = 0;                // output height, width
  int64_t groups = 1;                  // C and K are multiples of it
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  const void* x = nullptr;
  int64_t x_sn = 0, x_sc = 0, x_sh = 0, x_sw = 0;
  const void* w = nullptr;  // [K][C/groups][R][S]
  int64_t w_sk = 0, w_sc = 0, w_sr = 0, w_ss = 0;
  void* y = nullptr;
  int64_t y_sn = 0, y_sk = 0, y_sp = 0, y_sq = 0;
  const void* bias = nullptr;  // [K], contiguous, or null
  at::ScalarType dtype = at::kFloat;
};

// The gradient problems reuse the forward's description (sizes, arguments,
// strides of x, w and y in NCHW / KCRS order). `dy` is grad_output, addressed
// with the y strides; the written gradient is `dx` (x strides, dgrad) or `dw`
// (w strides, wgrad). The forward's x/w/y pointers name the operands that are
// read: wgrad reads x, dgrad reads w.
struct Conv2dGradProblem : Conv2dProblem {
  const void* dy = nullptr;
  void* dx = nullptr;
  void* dw = nullptr;
};

struct Conv2dPlan {
  Conv2dProblem prob;
  at::Tensor out;     // 4-D result the kernels write (N, K, P, Q)
  at::Tensor result;  // what the op returns (out, or out[0] for unbatched input)
  at::Tensor bias;    // dense bias the kernels read (keeps a strided bias's copy alive)
};

// Validates every argument of cuops.conv2d (padding = top, bottom, left,
// right), allocates the output in the memory format torch picks (channels_last
// when the input or the weight suggests it) and describes the problem.
Conv2dPlan plan_conv2d(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups);

struct Conv2dGradPlan {
  Conv2dGradProblem prob;
  // grad_input (N, C, H, W) or grad_weight (K, C/groups, R, S). A wgrad with
  // N == 0 still runs its kernel: an empty reduction must write zeros.
  at::Tensor out;
};

// dgrad: grad_input of the forward with input of `input_size` (4-D). Output is
// channels_last when grad_output or weight suggests it.
Conv2dGradPlan plan_conv2d_backward_input(const at::Tensor& grad_output, const at::Tensor& weight,
                                          at::IntArrayRef input_size, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation,
                                          int64_t groups);

// wgrad: grad_weight of the forward with weight of `weight_size`. Output is
// channels_last when grad_output or input suggests it.
Conv2dGradPlan plan_conv2d_backward_weight(const at::Tensor& grad_output, const at::Tensor& input,
                                           at::IntArrayRef weight_size, at::IntArrayRef stride,
                                           at::IntArrayRef padding, at::IntArrayRef dilation,
                                           int64_t groups);

// A depthwise problem: every group has one input channel (groups == C; K is
// then a multiple of C). The dedicated CUDA kernels' domain.
inline bool is_depthwise(const Conv2dProblem& p) {
  return p.groups == p.C && p.C > 0;
}

// A pointwise problem: a 1x1 kernel without padding, so every output pixel
// reads exactly one input pixel (p*sh, q*sw) and the convolution is a GEMM
// over pixels x channels per group (the CUDA "gemm" steps). Any stride,
// dilation (a 1x1 kernel never uses it) and groups. Bottom/right padding
// lives in P and Q: an output row or column that would read it is excluded.
inline bool is_pointwise(const Conv2dProblem& p) {
  return p.R == 1 && p.S == 1 && p.pad_h == 0 && p.pad_w == 0 && p.P > 0 && p.Q > 0 &&
         (p.P - 1) * p.stride_h < p.H && (p.Q - 1) * p.stride_w < p.W;
}
// is_pointwise in words, for the ladders' default rules (cuops.variants()).
inline constexpr const char* kPointwiseWhen = "1x1, no padding";

// y (grad_output in the gradient problems) is one dense [N*P*Q][K] matrix:
// channels_last with no gaps between pixels.
inline bool y_dense_channels_last(const Conv2dProblem& p) {
  return p.y_sk == 1 && p.y_sq == p.K && p.y_sp == p.Q * p.K && p.y_sn == p.P * p.Q * p.K;
}

// Fake kernels (torch.compile, torch.export, meta tensors) of conv2d and its
// gradients: the frontend's checks and outputs (sizes, memory format, dtype,
// device) over symbolic sizes, no data; the variant is checked as the
// kernel's ladder would (csrc/conv2d.cpp).
at::Tensor conv2d_meta(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       std::optional<c10::string_view> variant);
at::Tensor conv2d_backward_input_meta(const at::Tensor& grad_output, const at::Tensor& weight,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      int64_t groups, std::optional<c10::string_view> variant);
at::Tensor conv2d_backward_weight_meta(const at::Tensor& grad_output, const at::Tensor& input,
                                       c10::SymIntArrayRef weight_size, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation,
                                       int64_t groups, std::optional<c10::string_view> variant);

}  // namespace cuops
