// cuops.gemm (and so cuops.matmul and cuops.linear): the problem every kernel
// (CPU and each CUDA variant) solves and the plan that the device-independent
// frontend (csrc/matmul.cpp) builds for the CPU kernel
// (csrc/cpu/matmul_cpu.cpp) and the CUDA ladder (csrc/cuda/matmul_cuda.cpp).
#pragma once

#include "cuops.h"
#include "indexing.h"

namespace cuops {

// One strided, batched GEMM: for every batch index z,
//   C[z] (M x N) = A[z] (M x K) . B[z] (K x N)  (+ bias[n] added to every row)
// Operands are addressed through element strides, so transposed and sliced
// views need no copy. Batch offsets come from an OffsetCalculator over the
// broadcast batch shape (stride 0 where an operand is broadcast).
// K == 0 gives C = 0 (+ bias). Accumulation is fp32 for fp16/bf16/fp32 and
// fp64 for fp64.
struct GemmProblem {
  int64_t M = 0, N = 0, K = 0, batch = 1;
  const void* a = nullptr;  // A[z][m][k] at a + off_a(z) + m*a_sm + k*a_sk
  int64_t a_sm = 0, a_sk = 0;
  const void* b = nullptr;  // B[z][k][n] at b + off_b(z) + k*b_sk + n*b_sn
  int64_t b_sk = 0, b_sn = 0;
  void* c = nullptr;  // C[z][m][n] at c + off_c(z) + m*c_sm + n*c_sn
  int64_t c_sm = 0, c_sn = 0;
  const void* bias = nullptr;  // [N], contiguous, same dtype; or null
  OffsetCalculator<3> batch_oc;  // z -> element offsets of {C, A, B}
  at::ScalarType dtype = at::kFloat;  // of A, B, C and bias
  // fp32: products of TF32-rounded operands are permitted. cuops.matmul and
  // linear follow torch.backends.cuda.matmul.allow_tf32, as torch.matmul
  // does; the convolutions compute true fp32 whatever cuDNN's flag says.
  bool allow_tf32 = false;
};

struct GemmPlan {
  at::Tensor a, b, out;
  std::optional<at::Tensor> bias;  // contiguous [N], or none
  GemmProblem p;
  // False when there is nothing for a kernel to do: an empty output, or
  // K == 0 (the frontend has already written zeros + bias). `p` is then
  // left unfilled.
  bool run_kernel = false;
};

// Checks the arguments of a [..., M, K] @ b [..., K, N] (+ bias [N]), batch
// dims broadcast, allocates the output and describes the work.
GemmPlan plan_gemm(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias);

// cuops.gemm's fake kernel (torch.compile, torch.export, meta tensors): the
// frontend's checks and output over symbolic sizes, no data; the variant is
// checked as the kernel's ladder would.
at::Tensor gemm_meta(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias,
                     std::optional<c10::string_view> variant);

}  // namespace cuops
