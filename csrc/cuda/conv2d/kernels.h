// Launchers of the CUDA conv2d ladder, one file per step (csrc/cuda/conv2d/).
// Each solves the whole Conv2dProblem for the dtypes its ladder entry lists,
// on the current stream, launch-checked.
#pragma once

#include "conv2d.h"

namespace cuops::cuda {

void conv2d_direct(const Conv2dProblem& p);         // 1. one thread per output
void conv2d_implicit_gemm(const Conv2dProblem& p);  // 2. implicit GEMM, smem tiles (SIMT)
void conv2d_implicit_gemm_mma(const Conv2dProblem& p);  // 3. tensor cores (fp16/bf16, NHWC)
void conv2d_depthwise(const Conv2dProblem& p);      // 4. groups == C == K

}  // namespace cuops::cuda
