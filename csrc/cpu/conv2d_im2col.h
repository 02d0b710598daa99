// CPU step `im2col_gemm` of conv2d, dgrad and wgrad (csrc/cpu/conv2d_im2col.cpp).
#pragma once

#include "conv2d.h"

namespace cuops {

void conv2d_im2col_cpu(const Conv2dProblem& p);
void conv2d_backward_input_im2col_cpu(const Conv2dGradProblem& p);
void conv2d_backward_weight_im2col_cpu(const Conv2dGradProblem& p);

}  // namespace cuops
