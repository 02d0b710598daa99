// The device-independent host halves of conv2d ladder steps that the CPU
// (csrc/cpu/conv2d_cpu.cpp) and CUDA (csrc/cuda/conv2d_cuda.cpp) ladders both
// list: the planning (views, strides, sub-problems, ATen data movement) runs
// the same on either device, over that device's kernels, passed in. The CPU
// tests thereby prove the planning that the CUDA steps run.
#pragma once

#include <vector>

#include "conv2d.h"
#include "matmul.h"

namespace cuops {

using Conv2dForwardFn = void (*)(const Conv2dProblem&);
// Runs several forward problems at once where it can (true), else nothing.
using Conv2dForwardAllFn = bool (*)(const std::vector<Conv2dProblem>&);

// dgrad as one stride-1 forward convolution per output phase (h % stride_h,
// w % stride_w) of dx: dy with that phase's sub-filter (taps r = r0 +
// step*t), flipped and K<->C swapped, written to the phase's strided view of
// dx; phases no tap reaches are zeroed (csrc/conv2d_phases.cpp). Buffers are
// allocated on `device` (the problem's). `forward` runs the phases: it must
// take negative padding, any output strides and the dtype of p. CUDA:
// implicit_gemm_mma(_phases); CPU: phases. `forward_all`, where given, is
// offered all the phases with taps first (one launch for all of them).
//
// The sub-filters are one permutation of w: tap (r, s) belongs to exactly one
// phase (h0 = r*dil_h - pad_h mod stride_h, likewise w0), where its [C][K/groups]
// block lands transposed. The device's `pack` moves every tap's block in one
// pass from that table (CUDA: one transposing kernel, pack_subfilters.cu).
struct SubfilterTap {
  int64_t dst = -1;    // element offset of (c = 0, k = 0) in the packed buffer; -1: no phase
  int64_t c_step = 0;  // elements between channels c and c + 1 (k is unit-stride)
};
using SubfilterPackFn = void (*)(const Conv2dGradProblem& p,
                                 const std::vector<SubfilterTap>& taps /* r * S + s */,
                                 void* packed);
void conv2d_dgrad_by_phases(const Conv2dGradProblem& p, at::Device device,
                            Conv2dForwardFn forward, SubfilterPackFn pack,
                            Conv2dForwardAllFn forward_all = nullptr);
// The CPU's pack (loops over w): proves the tap table on the CPU.
void pack_subfilters_cpu(const Conv2dGradProblem& p, const std::vector<SubfilterTap>& taps,
                         void* packed);

// What the pointwise GEMM steps need from a device (csrc/conv2d_pointwise.cpp).
struct PointwiseKernels {
  at::Device device;  // of the problem's memory: temporaries are allocated there
  // C = A . B (+ bias) of a GemmProblem with K >= 1 (cuops.matmul's default).
  void (*gemm)(const GemmProblem&);
  // out[n][o][p][q] += bias[o] in place (a second rounding to the dtype, as an
  // unfused bias add); `bias` is [out.size(1)], contiguous, out's dtype.
  void (*add_bias)(const at::Tensor& out, const void* bias);
  // dw[k][c] (through p.w_sk, p.w_sc) = sum_n partial[n][k][c] in image order;
  // partial is dense [N][K][C/groups] of p.dtype.
  void (*sum_images)(const at::Tensor& partial, const Conv2dGradProblem& p);
};

// The "gemm" steps of the three ladders on a pointwise problem (is_pointwise,
// which the caller checks; others go to the ladder's default): the
// convolution as GEMMs over pixels x channels per group, through
// `kernels.gemm`.
void conv2d_pointwise(const Conv2dProblem& p, const PointwiseKernels& kernels);
void conv2d_backward_input_pointwise(const Conv2dGradProblem& p, const PointwiseKernels& kernels);
void conv2d_backward_weight_pointwise(const Conv2dGradProblem& p, const PointwiseKernels& kernels);

}  // namespace cuops
