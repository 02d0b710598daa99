// The cuops ops as C++ calls through the dispatcher (autocast, autograd, then
// the backend, as torch.ops.cuops.<op> from Python), for C++ code that
// composes them: matmul and linear (csrc/matmul.cpp) and the autograd
// formulas (csrc/*_autograd.cpp).
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <optional>
#include <string>

namespace cuops {

// cuops::gemm(a, b, bias, variant). Defined in csrc/matmul.cpp.
at::Tensor call_gemm(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias,
                     std::optional<c10::string_view> variant);

// cuops::sum_to(x, size, 1). Defined in csrc/add.cpp.
at::Tensor call_sum_to(const at::Tensor& x, c10::SymIntArrayRef size);

// Whether an autograd graph is recorded for a call on these inputs: grad mode
// on and some input requiring grad. The C++ autograd kernels call their op
// below autograd otherwise (no graph node, no saved state), as
// cuops/ops/_common.py's call() does for the Python ones.
inline bool records_graph(const at::Tensor& a, const at::Tensor& b,
                          const std::optional<at::Tensor>& bias = std::nullopt) {
  return at::GradMode::is_enabled() &&
         (a.requires_grad() || b.requires_grad() ||
          (bias.has_value() && bias->defined() && bias->requires_grad()));
}

// The variant cuops.use_variant(op, name, device) has set for `op` on
// `device` (nullopt: none, the ladder's default). cuops/variants.py keeps the
// choice and mirrors it here for the C++ autograd formulas, whose gradient
// calls Python never sees. Defined in csrc/module.cpp.
std::optional<std::string> variant_override(const char* op, c10::DeviceType device);

}  // namespace cuops
