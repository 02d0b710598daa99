// The Python module cuops._C: importing it loads the library, which runs the
// TORCH_LIBRARY registrations. It also exposes the variant table and the
// fake kernels (cuops._C.fake).
#include <torch/extension.h>

#include "cuops.h"

namespace cuops {

std::vector<VariantInfo>& variant_registry() {
  static std::vector<VariantInfo> registry;  // filled by Ladder constructors at load time
  return registry;
}

void def_fake_kernels(pybind11::module_& m);  // csrc/fake.cpp

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
  cuops::def_fake_kernels(m);  // cuops._C.fake (csrc/fake.cpp)
  m.def("cuda_built", []() {
#ifdef CUOPS_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
}
