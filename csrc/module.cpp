// The Python module cuops._C: importing it loads the library, which runs the
// TORCH_LIBRARY registrations. It also exposes the variant table and the
// fake kernels (cuops._C.fake).
// pybind11 with torch's type casters (at::ScalarType <-> torch.dtype), without
// the rest of torch's C++ API that <torch/extension.h> would bring.
#include <torch/csrc/utils/pybind.h>
#include <torch/csrc/utils/python_symnode.h>

#include <atomic>
#include <map>
#include <mutex>

#include "add.h"
#include "conv2d.h"
#include "cuops.h"
#include "matmul.h"
#include "op_calls.h"
#include "cuda/conv2d/kernels.h"  // conv2d_tuning_tables (empty without CUDA kernels)
#ifdef CUOPS_WITH_CUDA
#include "cuda/matmul/kernels.h"
#endif

namespace cuops {

std::vector<VariantInfo>& variant_registry() {
  static std::vector<VariantInfo> registry;  // filled by Ladder constructors at load time
  return registry;
}

namespace {
// (op, device type name) -> variant; written by cuops.use_variant only. The
// flag keeps the lookup (a lock and two strings) off the gradient calls of a
// process that never sets one.
std::mutex override_mutex;
std::atomic<bool> any_override{false};
std::map<std::pair<std::string, std::string>, std::string>& overrides() {
  static std::map<std::pair<std::string, std::string>, std::string> table;
  return table;
}
}  // namespace

std::optional<std::string> variant_override(const char* op, c10::DeviceType device) {
  if (!any_override.load(std::memory_order_acquire)) return std::nullopt;
  const std::lock_guard<std::mutex> lock(override_mutex);
  const auto it = overrides().find({op, c10::DeviceTypeName(device, /*lower_case=*/true)});
  return it == overrides().end() ? std::nullopt : std::optional<std::string>(it->second);
}

void set_variant_override(const std::string& op, const std::string& device,
                          const std::optional<std::string>& name) {
  const std::lock_guard<std::mutex> lock(override_mutex);
  if (name)
    overrides()[{op, device}] = *name;
  else
    overrides().erase({op, device});
  any_override.store(!overrides().empty(), std::memory_order_release);
}

}  // namespace cuops

namespace {

py::list list_variants() {
  py::list out;
  for (const auto& v : cuops::variant_registry()) {
    py::dict d;
    d["op"] = v.op;
    d["device"] = v.device;
    d["name"] = v.name;
    d["summary"] = v.summary;
    py::list dtypes, when;
    for (auto t : v.dtypes) dtypes.append(py::str(c10::toString(t)));
    for (const auto& [t, condition] : v.default_when)
      when.append(py::make_tuple(py::str(c10::toString(t)), condition));
    d["dtypes"] = dtypes;
    d["default_when"] = when;
    out.append(d);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// cuops._C.fake
// The fake kernels of the ops with kernels, as Python
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
namespace cuops {
namespace {

using Variant = std::optional<std::string>;

std::optional<c10::string_view> view(const Variant& v) {
  return v ? std::optional<c10::string_view>(*v) : std::nullopt;
}

// A Python number (or SymInt/SymFloat) as a Scalar, as the dispatcher
// converts it (torch's pybind11 Scalar caster only converts to Python).
c10::Scalar to_scalar(py::handle x) {
  if (py::isinstance<py::bool_>(x)) return x.cast<bool>();
  if (py::isinstance<py::int_>(x) || torch::is_symint(x)) return x.cast<c10::SymInt>();
  if (py::isinstance<py::float_>(x) || torch::is_symfloat(x)) return x.cast<c10::SymFloat>();
  if (PyComplex_Check(x.ptr()))
    return c10::complex<double>(PyComplex_RealAsDouble(x.ptr()), PyComplex_ImagAsDouble(x.ptr()));
  TORCH_CHECK_TYPE(false, "expected a number, but got ", Py_TYPE(x.ptr())->tp_name);
}

}  // namespace

void def_fake_kernels(pybind11::module_& parent) {
  auto m = parent.def_submodule(
      "fake", "Fake kernels of the cuops ops, one per schema (arguments in schema order).");
  m.def("add", [](const at::Tensor& a, const at::Tensor& b, py::handle alpha,
                  const Variant& variant) {
    return add_meta(a, b, to_scalar(alpha), view(variant));
  });
  m.def("sum_to", [](const at::Tensor& x, c10::SymIntArrayRef size, py::handle scale) {
    return sum_to_meta(x, size, to_scalar(scale));
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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "cuops native library: operators are reached through torch.ops.cuops";
  m.def("variants", &list_variants,
        "Every registered kernel variant as dicts (op, device, name, summary, dtypes, "
        "default_when); dtypes are c10 names such as 'Float', 'Half', 'BFloat16'; default_when "
        "lists (dtype, condition) for each default rule that picks the variant, condition '' "
        "when the rule has none.");
  m.def("float_dtypes", []() { return cuops::kAllFloat; },
        "The floating dtypes cuops supports (csrc/cuops.h's kAllFloat), as torch dtypes.");
  m.def("dtype_name", [](at::ScalarType t) { return std::string(c10::toString(t)); },
        "A dtype's c10 name, as the C++ checks print it ('Float', 'Long', 'ComplexFloat').");
  cuops::def_fake_kernels(m);  // cuops._C.fake (above)
  m.def("set_variant_override", &cuops::set_variant_override, py::arg("op"), py::arg("device"),
        py::arg("name"),
        "Mirror of cuops.use_variant for the C++ autograd formulas: the variant `name` (None: "
        "the default) for `op` on `device` ('cuda', 'cpu').");
  m.def(
      "variant_override",
      [](const std::string& op, const std::string& device) {
        return cuops::variant_override(op.c_str(), c10::Device(device).type());
      },
      py::arg("op"), py::arg("device"),
      "The variant the C++ autograd formulas will pass for `op` on `device` (None: the default).");
  m.def(
      "tuning_tables",
      []() {
        py::dict out;  // {op: {variant: entries}}; empty without the CUDA kernels
#ifdef CUOPS_WITH_CUDA
        py::dict matmul;
        for (const auto& [variant, n] : cuops::cuda::matmul_tuning_tables())
          matmul[py::str(variant)] = n;
        out["matmul"] = matmul;
#endif
        py::dict conv2d;
        for (const auto& [variant, n] : cuops::cuda::conv2d_tuning_tables())
          conv2d[py::str(variant)] = n;
        if (!conv2d.empty()) out["conv2d"] = conv2d;
        return out;
      },
      "Sizes of the CUDA kernels' development tuning tables (CUOPS_MATMUL_CONFIG, ...): "
      "{op: {variant: entries}}; entries beyond 0 exist only in a CUOPS_EXPLORE=1 build.");
  m.def("cuda_built", []() {
#ifdef CUOPS_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
}
