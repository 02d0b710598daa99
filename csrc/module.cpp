// The Python module cuops._C: importing it loads the library, which runs the
// TORCH_LIBRARY registrations. It also exposes the variant table and the
// fake kernels (cuops._C.fake).
// pybind11 with torch's type casters (at::ScalarType <-> torch.dtype), without
// the rest of torch's C++ API that <torch/extension.h> would bring.
#include <torch/csrc/utils/pybind.h>

#include "cuops.h"
#include "cuda/conv2d/kernels.h"  // conv2d_tuning_tables (empty without CUDA kernels)
#ifdef CUOPS_WITH_CUDA
#include "cuda/matmul/kernels.h"
#endif

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
  cuops::def_fake_kernels(m);  // cuops._C.fake (csrc/fake.cpp)
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
