// Shared helpers for every cuops operator: argument checks, dtype dispatch,
// and the kernel-variant ladder. Each op uses these; none re-implements them.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>
#include <c10/util/Optional.h>
#include <c10/util/string_view.h>

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace cuops {

// Largest rank the strided/broadcast kernels index (see indexing.h).
constexpr int kMaxDims = 16;

// `#pragma unroll` for code compiled by both nvcc and the host compiler.
#if defined(__CUDACC__)
#define CUOPS_UNROLL _Pragma("unroll")
#else
#define CUOPS_UNROLL
#endif

// Tile math shared by host and device code.
template <typename T>
C10_HOST_DEVICE constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}
template <typename T>
C10_HOST_DEVICE constexpr T round_up(T a, T b) {
  return ceil_div(a, b) * b;
}

// "[2, 3, 4]": a shape for error messages (a std::vector converts to IntArrayRef).
inline std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}
inline std::string shape_str(c10::SymIntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

// ---------------------------------------------------------------------------
// Argument checks. Messages follow torch's style and always name the op and
// the argument, so a user can tell which input was wrong.
// TORCH_CHECK_TYPE -> TypeError, TORCH_CHECK_VALUE -> ValueError,
// TORCH_CHECK -> RuntimeError (as torch uses them).
// ---------------------------------------------------------------------------

inline bool is_supported_float(at::ScalarType t) {
  return t == at::kHalf || t == at::kBFloat16 || t == at::kFloat || t == at::kDouble;
}

inline void check_float_dtype(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK_TYPE(is_supported_float(t.scalar_type()), op, ": argument '", arg,
                   "' has unsupported dtype ", t.scalar_type(),
                   "; supported dtypes are float16, bfloat16, float32 and float64");
}

inline void check_same_dtype(const at::Tensor& a, const char* arg_a, const at::Tensor& b,
                             const char* arg_b, const char* op) {
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), op, ": expected '", arg_a, "' and '",
                   arg_b, "' to have the same dtype, but got ", arg_a, ".dtype=",
                   a.scalar_type(), " and ", arg_b, ".dtype=", b.scalar_type());
}

inline void check_same_device(const at::Tensor& a, const char* arg_a, const at::Tensor& b,
                              const char* arg_b, const char* op) {
  TORCH_CHECK(a.device() == b.device(), op, ": expected '", arg_a, "' and '", arg_b,
              "' to be on the same device, but got ", arg_a, " on ", a.device(), " and ", arg_b,
              " on ", b.device());
}

inline void check_max_dims(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(t.dim() <= kMaxDims, op, ": argument '", arg, "' has ", t.dim(),
                    " dimensions; at most ", kMaxDims, " are supported");
}

// Alpha-like scalars multiply floating-point data: real numbers only.
inline void check_real_scalar(const c10::Scalar& s, const char* op, const char* arg) {
  TORCH_CHECK_TYPE(!s.isBoolean(), op, ": argument '", arg,
                   "' must be a real number, but got a bool");
  TORCH_CHECK_TYPE(!s.isComplex(), op, ": argument '", arg,
                   "' must be a real number, but got a complex number");
}

// ---------------------------------------------------------------------------
// Dtype dispatch: every cuops kernel supports exactly these four types.
// ---------------------------------------------------------------------------
#define CUOPS_DISPATCH_FLOATING_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

// Accumulation type: fp32 for fp16/bf16/fp32, fp64 for fp64.
template <typename T>
using acc_t = at::opmath_type<T>;

// ---------------------------------------------------------------------------
// Kernel variants ("the ladder").
//
// Every implementation of an op on a device is a named step of a Ladder, in
// teaching order (naive first). Each step lists the dtypes it handles and must
// be correct for every input of those dtypes (it may route awkward layouts to
// a general path internally). The default for a dtype is the first name in the
// ladder's `fastest_first` list that supports the dtype: that list is ordered
// by measured speed (docs/*-worklog.md).
//
// Ladders register themselves (at library load) in a global table so Python
// can list them: cuops.variants("add").
// ---------------------------------------------------------------------------

struct VariantInfo {
  std::string op;
  std::string device;
  std::string name;
  std::string summary;
  std::vector<at::ScalarType> dtypes;
  std::vector<at::ScalarType> default_for;  // dtypes for which this is the default
};

// All registered variants, in registration (ladder) order. Defined in module.cpp.
std::vector<VariantInfo>& variant_registry();

template <typename Fn>
class Ladder {
 public:
  struct Step {
    const char* name;
    std::vector<at::ScalarType> dtypes;
    Fn fn;
    const char* summary;
  };

  Ladder(const char* op, const char* device, std::vector<Step> steps,
         std::vector<const char*> fastest_first)
      : op_(op), device_(device), steps_(std::move(steps)), fastest_(std::move(fastest_first)) {
    for (const auto& s : steps_) {
      VariantInfo info{op_, device_, s.name, s.summary, s.dtypes, {}};
      for (at::ScalarType t : {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) {
        const Step* d = default_step(t);
        if (d != nullptr && std::string(d->name) == s.name) info.default_for.push_back(t);
      }
      variant_registry().push_back(std::move(info));
    }
  }

  // The step to run: the named one, or the default for `dtype` when `variant`
  // is empty. Unknown names and unsupported dtypes raise a ValueError/TypeError.
  const Step& select(const std::optional<c10::string_view>& variant, at::ScalarType dtype) const {
    if (!variant.has_value() || variant->empty()) {
      const Step* d = default_step(dtype);
      TORCH_CHECK_TYPE(d != nullptr, "cuops.", op_, ": no ", device_, " variant supports dtype ",
                       dtype);
      return *d;
    }
    for (const auto& s : steps_) {
      if (*variant == s.name) {
        TORCH_CHECK_TYPE(supports(s, dtype), "cuops.", op_, ": variant '", s.name,
                         "' does not support dtype ", dtype, " (it supports ",
                         dtype_list(s.dtypes), ")");
        return s;
      }
    }
    TORCH_CHECK_VALUE(false, "cuops.", op_, ": unknown ", device_, " variant '",
                      std::string(variant->data(), variant->size()), "'; available: ", names());
  }

 private:
  static bool supports(const Step& s, at::ScalarType t) {
    for (auto d : s.dtypes)
      if (d == t) return true;
    return false;
  }
  const Step* default_step(at::ScalarType t) const {
    for (const char* name : fastest_)
      for (const auto& s : steps_)
        if (std::string(name) == s.name && supports(s, t)) return &s;
    return nullptr;
  }
  std::string names() const {
    std::ostringstream os;
    for (size_t i = 0; i < steps_.size(); ++i) os << (i ? ", " : "") << steps_[i].name;
    return os.str();
  }
  static std::string dtype_list(const std::vector<at::ScalarType>& ts) {
    std::ostringstream os;
    for (size_t i = 0; i < ts.size(); ++i) os << (i ? ", " : "") << ts[i];
    return os.str();
  }

  std::string op_, device_;
  std::vector<Step> steps_;
  std::vector<const char*> fastest_;
};

inline const std::vector<at::ScalarType> kAllFloat = {at::kHalf, at::kBFloat16, at::kFloat,
                                                      at::kDouble};
inline const std::vector<at::ScalarType> kHalfTypes = {at::kHalf, at::kBFloat16};
inline const std::vector<at::ScalarType> kFloatOnly = {at::kFloat};

}  // namespace cuops
