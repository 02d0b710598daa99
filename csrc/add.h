// cuops.add and cuops.sum_to: the device-independent part (argument checks,
// type promotion, output allocation, indexing plans) shared by the CPU and
// CUDA kernels in csrc/cpu/add_cpu.cpp and csrc/cuda/add_kernels.cu, and by the
// fake kernels (add_meta, sum_to_meta).
#pragma once

#include "cuops.h"
#include "indexing.h"

namespace cuops {

struct AddPlan {
  at::Tensor a, b, out;  // a and b converted to out's dtype and device
  // a, b and out have one shape and the same dense strides: the kernels may
  // treat them as flat arrays (the vectorized fast path).
  bool flat = false;
  OffsetCalculator<3> oc;  // general path: offsets of {out, a, b}
};

// Validates the arguments of cuops.add and allocates the output (its strides
// follow the first input of the output's shape that is dense, as torch does).
AddPlan plan_add(const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha);

struct SumToPlan {
  at::Tensor x, out;
  int64_t n_out = 0, n_red = 0;  // output elements, elements summed into each
  OffsetCalculator<1> kept;      // output linear index -> offset into x
  OffsetCalculator<1> red;       // reduction index -> offset into x (added)
};

SumToPlan plan_sum_to(const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale);

// Fake kernels (torch.compile, torch.export, meta tensors): the plans' checks
// and outputs (sizes, strides, dtype, device) over symbolic sizes, no data;
// the variant is checked as the kernel's ladder would.
at::Tensor add_meta(const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha,
                    std::optional<c10::string_view> variant);
at::Tensor sum_to_meta(const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale);

}  // namespace cuops
