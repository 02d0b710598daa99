// Channels_last copies of conv2d operands: the wgmma steps' gathers read
// 16-byte aligned rows of channels, which NCHW tensors (and views whose
// pixels are not 16-byte aligned) do not have, so those steps read such an x
// (or dy) from a dense channels_last copy (channels_last_copy.cu). The
// helpers keep the problem's description and the copy together: a copied
// operand's pointer and strides describe the copy.
#pragma once

#include "conv2d.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda {

// An operand's layout as the wgmma steps' gathers read it (strides in
// elements): unit-stride channels and 16-byte aligned pixels. The copies below
// always have it.
inline bool gather_layout(const void* t, int64_t sn, int64_t sc, int64_t sh, int64_t sw,
                          at::ScalarType dtype) {
  const int64_t vec = 16 / c10::elementSize(dtype);  // elements per 16-byte chunk
  return sc == 1 && aligned16(t) && sn % vec == 0 && sh % vec == 0 && sw % vec == 0;
}

}  // namespace cuops::cuda

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
// p as it would be with x (or y) replaced by such a copy: the eligibility
// checks of the wgmma steps ask this before any copy is made (null is
// 16-byte aligned).
inline Conv2dProblem with_x_copied(Conv2dProblem p) {
  set_x_channels_last(p, nullptr);
  return p;
}
inline Conv2dProblem with_y_copied(Conv2dProblem p) {
  p.y = nullptr;
  set_y_channels_last(p);
  return p;
}
// Replaces p's x by a channels_last copy that `holder` keeps alive.
inline void copy_x_channels_last(Conv2dProblem& p, at::Tensor& holder) {
  holder = channels_last_copy(p.x, {p.N, p.C, p.H, p.W}, {p.x_sn, p.x_sc, p.x_sh, p.x_sw},
                              p.dtype);
  set_x_channels_last(p, holder.const_data_ptr());
}
// A channels_last copy of the y at `y` (p's y strides: grad_output in the
// gradient problems) that `holder` keeps alive; p's y strides then describe it.
inline const void* copy_y_channels_last(Conv2dProblem& p, const void* y, at::Tensor& holder) {
  holder = channels_last_copy(y, {p.N, p.K, p.P, p.Q}, {p.y_sn, p.y_sk, p.y_sp, p.y_sq}, p.dtype);
  set_y_channels_last(p);
  return holder.const_data_ptr();
}

}  // namespace cuops::cuda::conv
