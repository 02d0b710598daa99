// The Python module cuops._C: importing it loads the library, which runs the
// TORCH_LIBRARY registrations. It also exposes the variant table.
// pybind11 with torch's type casters (at::ScalarType <-> torch.dtype), without
// the rest of torch's C++ API that <torch/extension.h> would bring.
#include <torch/csrc/utils/pybind.h>

#include "cuops.h"

namespace cuops {

std::vector<VariantInfo>& variant_registry() {
  static std::vector<VariantInfo> registry;  // filled by Ladder constructors at load time
  return registry;
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
    py::list dtypes, defaults;
    for (auto t : v.dtypes) dtypes.append(py::str(c10::toString(t)));
    for (auto t : v.default_for) defaults.append(py::str(c10::toString(t)));
    d["dtypes"] = dtypes;
    d["default_for"] = defaults;
    out.append(d);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "cuops native library: operators are reached through torch.ops.cuops";
  m.def("variants", &list_variants,
        "Every registered kernel variant as dicts (op, device, name, summary, dtypes, "
        "default_for); dtypes are c10 names such as 'Float', 'Half', 'BFloat16'.");
  // For the fake kernels' checks (cuops/ops/_common.py), so that they raise the
  // C++ checks' messages word for word.
  m.attr("MAX_DIMS") = cuops::kMaxDims;
  m.def("dtype_name", [](at::ScalarType t) { return std::string(c10::toString(t)); },
        "A dtype's c10 name, as the C++ checks print it ('Float', 'Long', 'ComplexFloat').");
  m.def(
      "check_variant",
      [](const std::string& op, const std::string& ladder, const std::string& device,
         const std::string& variant, at::ScalarType dtype) {
        cuops::check_variant(op.c_str(), ladder, device, variant, dtype);
      },
      "csrc/cuops.h's check_variant: a named variant exists and supports the dtype.");
  m.def("cuda_built", []() {
#ifdef CUOPS_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
}
