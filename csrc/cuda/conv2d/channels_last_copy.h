// Channels_last copies of conv2d operands: the wgmma steps' gathers read
// 128-byte rows of channels, which NCHW tensors do not have, so those steps
// read an NCHW x (or dy) from a dense channels_last copy
// (channels_last_copy.cu). The helpers keep the problem's description and
// the copy together: a staged operand's pointer and strides describe the copy.
#pragma once

#include "conv2d.h"

namespace cuops::cuda::conv {

// A dense channels_last copy of the [N][C][H][W] operand at `src`, any strides
// (channels_last_copy.cu): the layout the wgmma steps' gathers read.
at::Tensor channels_last_copy(const void* src, at::IntArrayRef sizes, at::IntArrayRef strides,
                              at::ScalarType dtype);

// p's x described as a dense channels_last tensor at `x` (strides only).
inline void set_x_channels_last(Conv2dProblem& p, const void* x) {
  p.x = x, p.x_sn = p.H * p.W * p.C, p.x_sc = 1, p.x_sh = p.W * p.C, p.x_sw = p.C;
}
// p's y (grad_output in the gradient problems) described likewise.
inline void set_y_channels_last(Conv2dProblem& p) {
  p.y_sn = p.P * p.Q * p.K, p.y_sk = 1, p.y_sp = p.Q * p.K, p.y_sq = p.K;
}
// p as the gathers would see it after stage_x_channels_last (asked before any
// copy is made; null is 16-byte aligned).
inline Conv2dProblem with_x_staged(Conv2dProblem p) {
  if (p.x_sc != 1) set_x_channels_last(p, nullptr);
  return p;
}
// x as the gathers read it: unchanged where its channels are unit-stride,
// else a channels_last copy that `holder` keeps alive.
inline void stage_x_channels_last(Conv2dProblem& p, at::Tensor& holder) {
  if (p.x_sc == 1) return;
  holder = channels_last_copy(p.x, {p.N, p.C, p.H, p.W}, {p.x_sn, p.x_sc, p.x_sh, p.x_sw},
                              p.dtype);
  set_x_channels_last(p, holder.const_data_ptr());
}
// y at `y` (p's y strides) as one dense [N*P*Q][K] matrix: `y` itself, or a
// copy that `holder` keeps alive (p's y strides then describe it).
inline const void* stage_y_channels_last(Conv2dProblem& p, const void* y, at::Tensor& holder) {
  if (y_dense_channels_last(p)) return y;
  holder = channels_last_copy(y, {p.N, p.K, p.P, p.Q}, {p.y_sn, p.y_sk, p.y_sp, p.y_sq}, p.dtype);
  set_y_channels_last(p);
  return holder.const_data_ptr();
}

}  // namespace cuops::cuda::conv
