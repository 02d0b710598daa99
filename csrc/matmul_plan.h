// cuops.gemm: the device-independent frontend (csrc/matmul.cpp) shared by the
// CPU kernel (csrc/cpu/matmul_cpu.cpp) and the CUDA ladder
// (csrc/cuda/matmul_cuda.cu). It checks the arguments, allocates the output
// and describes the work as one GemmProblem (csrc/matmul.h).
#pragma once

#include "matmul.h"

namespace cuops {

struct GemmPlan {
  at::Tensor a, b, out;
  std::optional<at::Tensor> bias;  // contiguous [N], or none
  GemmProblem p;
  // False when there is nothing for a kernel to do: an empty output, or
  // K == 0 (the frontend has already written zeros + bias).
  bool run_kernel = false;
};

// a [..., M, K] @ b [..., K, N] (+ bias [N]); batch dims broadcast.
GemmPlan plan_gemm(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias);

}  // namespace cuops
