// cuops.conv2d and its gradients: the device-independent frontend
// (csrc/conv2d.cpp) shared by the CPU kernels (csrc/cpu/conv2d_cpu.cpp) and
// the CUDA ladders (csrc/cuda/conv2d_cuda.cu).
#pragma once

#include "conv2d.h"

namespace cuops {

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
// then a multiple of C). The dedicated CUDA kernel's domain.
inline bool is_depthwise(const Conv2dProblem& p) {
  return p.groups == p.C && p.C > 0;
}

}  // namespace cuops
