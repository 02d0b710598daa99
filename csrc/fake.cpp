// cuops._C.fake: the fake kernels of the ops with kernels, as Python
// functions; cuops/ops/_common.py (register_fake) registers each one with
// torch.library.register_fake. They are the frontends' own checks and output
// rules (csrc/add.cpp, csrc/matmul.cpp, csrc/conv2d.cpp: *_meta), run over
// symbolic sizes: torch.compile, torch.export and meta tensors see the real
// kernels' output sizes, strides, dtype and errors, written once.
//
// Why Python entry points rather than a C++ Meta kernel
// (TORCH_LIBRARY_IMPL(cuops, Meta, m)): under FakeTensorMode a Meta kernel
// sees every tensor on the meta device, and these rules need the device a
// fake tensor stands for (variant names are per device, float64 conv2d on
// CUDA is contiguous, a device mismatch must raise the real kernels' error).
// Called as a fake kernel, the same C++ code sees the fake devices, and the
// outputs it allocates are fake tensors (FakeTensorMode is active).
// pybind11 with torch's casters (Tensor, SymIntArrayRef, Scalar, dtype): a
// fraction of <torch/extension.h>'s parse time.
#include <torch/csrc/utils/pybind.h>

#include "add.h"
#include "conv2d.h"
#include "matmul.h"

namespace cuops {
namespace {

using Variant = std::optional<std::string>;

std::optional<c10::string_view> view(const Variant& v) {
  return v ? std::optional<c10::string_view>(*v) : std::nullopt;
}

}  // namespace

void def_fake_kernels(pybind11::module_& parent) {
  auto m = parent.def_submodule(
      "fake", "Fake kernels of the cuops ops, one per schema (arguments in schema order).");
  m.def("add", [](const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha,
                  const Variant& variant) {
    return add_meta(a, b, alpha, view(variant));
  });
  m.def("sum_to", [](const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale) {
    return sum_to_meta(x, size, scale);
  });
  m.def("gemm", [](const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias,
                   const Variant& variant) { return gemm_meta(a, b, bias, view(variant)); });
  m.def("conv2d", [](const at::Tensor& input, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                     const Variant& variant) {
    return conv2d_meta(input, weight, bias, stride, padding, dilation, groups, view(variant));
  });
  m.def("conv2d_backward_input",
        [](const at::Tensor& grad_output, const at::Tensor& weight, c10::SymIntArrayRef input_size,
           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
           int64_t groups, const Variant& variant) {
          return conv2d_backward_input_meta(grad_output, weight, input_size, stride, padding,
                                            dilation, groups, view(variant));
        });
  m.def("conv2d_backward_weight",
        [](const at::Tensor& grad_output, const at::Tensor& input, c10::SymIntArrayRef weight_size,
           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
           int64_t groups, const Variant& variant) {
          return conv2d_backward_weight_meta(grad_output, input, weight_size, stride, padding,
                                             dilation, groups, view(variant));
        });
}

}  // namespace cuops
