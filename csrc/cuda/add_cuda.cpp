// CUDA entry points of cuops.add and cuops.sum_to: the add ladder and its
// default, the op registrations (a C++ file: op_entry.h says why). The
// kernels: csrc/cuda/add_kernels.cu.
#include <torch/library.h>

#include "add.h"
#include "cuda/add_kernels.h"
#include "cuda/cuda_utils.cuh"
#include "op_entry.h"

namespace cuops::cuda {
namespace {

using AddFn = void (*)(const AddPlan&, const c10::Scalar&);

const Ladder<AddFn> kAddCuda(
    "add", "cuda",
    {{"grid_stride", kAllFloat, &add_grid_stride,
      "one element per thread per iteration; any strides and broadcasting"},
     {"vec16", kAllFloat, &add_vec16, "16-byte vector loads/stores on the flat fast path"},
     {"vec16x4", kAllFloat, &add_vec16x4,
      "16-byte vectors, 4 per operand in flight per thread, one chunk per block"}},
    // Default: the fastest that supports the dtype (measured, docs/add-worklog.md).
    {"vec16x4", "vec16", "grid_stride"});

at::Tensor add_cuda(const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha,
                    std::optional<c10::string_view> variant) {
  AddPlan p = plan_add(a, b, alpha);
  run_ladder<c10::cuda::CUDAGuard>(kAddCuda, variant, p.out, p, p.out.numel() > 0, alpha);
  return p.out;
}

at::Tensor sum_to_cuda(const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale) {
  SumToPlan p = plan_sum_to(x, size, scale);
  const c10::cuda::CUDAGuard guard(x.device());
  if (p.n_out > 0) sum_to_launch(p, scale);
  return p.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, CUDA, m) {
  m.impl("add", &add_cuda);
  m.impl("sum_to", &sum_to_cuda);
}

}  // namespace cuops::cuda
