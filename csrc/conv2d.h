// cuops.conv2d: the problem every conv2d kernel (CPU and each CUDA variant)
// solves, built once by the device-independent frontend (csrc/conv2d.cpp).
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
