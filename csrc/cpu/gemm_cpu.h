// The CPU GEMM (csrc/cpu/matmul_cpu.cpp), for other CPU kernels that reduce
// their work to matrix products (the im2col convolution step).
#pragma once

#include "matmul.h"

namespace cuops {

// C = A . B (+ bias) for every batch item of `p`, accumulating in acc_t.
void gemm_cpu_run(const GemmProblem& p);

}  // namespace cuops
