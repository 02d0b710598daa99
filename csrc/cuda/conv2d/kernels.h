// Launchers of the CUDA conv2d ladder, one file per step (csrc/cuda/conv2d/).
// Each solves the whole Conv2dProblem for the dtypes its ladder entry lists,
// on the current stream, launch-checked.
#pragma once

#include "conv2d.h"
#include "conv2d_plan.h"

namespace cuops::cuda {

void conv2d_direct(const Conv2dProblem& p);         // 1. one thread per output
void conv2d_implicit_gemm(const Conv2dProblem& p);  // 2. implicit GEMM, smem tiles (SIMT)
void conv2d_implicit_gemm_mma(const Conv2dProblem& p);  // 3. tensor cores (fp16/bf16, NHWC)
void conv2d_depthwise(const Conv2dProblem& p);      // 4. groups == C == K

// Gradients (Conv2dGradProblem, csrc/conv2d_plan.h). dgrad: grad_input.
void conv2d_backward_input_direct(const Conv2dGradProblem& p);         // one thread per dx
void conv2d_backward_input_implicit_gemm(const Conv2dGradProblem& p);  // implicit GEMM (SIMT)
// wgrad: grad_weight; the N*P*Q reduction is split across blocks into
// deterministic acc_t partials, summed by a finishing pass (common.cuh).
void conv2d_backward_weight_direct(const Conv2dGradProblem& p);         // one thread per dw
void conv2d_backward_weight_implicit_gemm(const Conv2dGradProblem& p);  // implicit GEMM, split-K

}  // namespace cuops::cuda
