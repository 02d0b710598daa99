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

#include <algorithm>
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

// The dtypes every cuops op supports (CUOPS_DISPATCH_FLOATING_TYPES below
// instantiates exactly these): the one list, which Python reads through
// cuops._C.float_dtypes().
inline const std::vector<at::ScalarType> kAllFloat = {at::kHalf, at::kBFloat16, at::kFloat,
                                                      at::kDouble};

inline bool is_supported_float(at::ScalarType t) {
  return std::find(kAllFloat.begin(), kAllFloat.end(), t) != kAllFloat.end();
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

// Alpha-like scalars multiply floating-point data: real numbers only. (Worded
// as the Python check_real_number in cuops/ops/_common.py, which names the
// Python type.)
inline void check_real_scalar(const c10::Scalar& s, const char* op, const char* arg) {
  TORCH_CHECK_TYPE(!s.isBoolean() && !s.isComplex(), op, ": argument '", arg,
                   "' must be a real number (int or float), but got ",
                   s.isBoolean() ? "bool" : "complex");
}

// ---------------------------------------------------------------------------
// Dtype dispatch: every cuops kernel supports exactly these four types.
// ---------------------------------------------------------------------------
#define CUOPS_DISPATCH_FLOATING_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

// Accumulation type: fp32 for fp16/bf16/fp32, fp64 for fp64.
template <typename T>
using acc_t = at::opmath_type<T>;

inline const std::vector<at::ScalarType> kHalfTypes = {at::kHalf, at::kBFloat16};
inline const std::vector<at::ScalarType> kFloatOnly = {at::kFloat};

// ---------------------------------------------------------------------------
// Kernel variants ("the ladder").
//
// Every implementation of an op on a device is a named step of a Ladder, in
// teaching order (naive first). Each step lists the dtypes it handles and must
// be correct for every input of those dtypes (it may route awkward layouts to
// a general path internally).
//
// The default is the Ladder's alone to choose, by its ordered default rules:
// the first rule whose condition holds for the problem and whose step supports
// the dtype. A rule without a condition is a plain name (add's ladder is a
// list of names, fastest first); a conditional rule carries the text that
// cuops.variants() shows. The order is the measured one (docs/*-worklog.md).
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
  // (dtype, condition) for every rule that can pick this step: "" when the
  // rule has no condition, "otherwise" when it follows conditional rules.
  std::vector<std::pair<at::ScalarType, std::string>> default_when;
};

// All registered variants, in registration (ladder) order. Defined in module.cpp.
std::vector<VariantInfo>& variant_registry();

inline std::string dtype_list(const std::vector<at::ScalarType>& ts) {
  std::ostringstream os;
  for (size_t i = 0; i < ts.size(); ++i) os << (i ? ", " : "") << ts[i];
  return os.str();
}

// A variant named by the user exists in `ladder`'s table on `device` and
// supports `dtype` (unknown name -> ValueError listing the names, dtype ->
// TypeError); errors name `op`, the function the user called. No name, or a
// device with no registered variants (meta; CUDA in a CPU-only build), checks
// nothing. Ladder::select runs it; so do matmul and linear before calling
// gemm, so that their errors carry their own names.
inline void check_variant(const char* op, const std::string& ladder, const std::string& device,
                          const std::optional<c10::string_view>& variant, at::ScalarType dtype) {
  if (!variant.has_value() || variant->empty()) return;
  const std::string name(variant->data(), variant->size());
  std::ostringstream names;
  bool any = false;
  for (const auto& v : variant_registry()) {
    if (v.op != ladder || v.device != device) continue;
    if (v.name == name) {
      bool ok = false;
      for (auto t : v.dtypes) ok = ok || t == dtype;
      TORCH_CHECK_TYPE(ok, op, ": variant '", name, "' does not support dtype ", dtype,
                       " (it supports ", dtype_list(v.dtypes), ")");
      return;
    }
    names << (any ? ", " : "") << v.name;
    any = true;
  }
  TORCH_CHECK_VALUE(!any, op, ": unknown ", device, " variant '", name, "'; available: ",
                    names.str());
}

// A step's function takes the op's problem first: void (*)(const Problem&, ...).
template <typename Fn>
struct ladder_problem;
template <typename P, typename... Args>
struct ladder_problem<void (*)(const P&, Args...)> {
  using type = P;
};

template <typename Fn>
class Ladder {
 public:
  using Problem = typename ladder_problem<Fn>::type;

  struct Step {
    const char* name;
    std::vector<at::ScalarType> dtypes;
    Fn fn;
    const char* summary;
  };

  // A default rule: `step` is the default when `holds(problem)` (no predicate:
  // always) and the step supports the dtype. `when` says the condition in
  // words for cuops.variants(). A plain step name converts to an
  // unconditional rule.
  struct Rule {
    const char* when;
    std::function<bool(const Problem&)> holds;
    const char* step;
    Rule(const char* step_name) : when(""), step(step_name) {}  // NOLINT: a name is a rule
    Rule(const char* condition, std::function<bool(const Problem&)> pred, const char* step_name)
        : when(condition), holds(std::move(pred)), step(step_name) {}
  };

  // `op` names the ladder in cuops.variants(op); errors say `label` (default
  // "cuops.<op>"), the op whose kernel runs the ladder. The device ("cpu",
  // "cuda") also names the device the entry point's tensors must be on.
  Ladder(const char* op, const char* device, std::vector<Step> steps, std::vector<Rule> defaults,
         const char* label = nullptr)
      : op_(op), device_(device), label_(label ? label : "cuops." + op_),
        device_type_(c10::Device(device).type()), steps_(std::move(steps)),
        rules_(std::move(defaults)) {
    for (const auto& r : rules_) {
      rule_step_.push_back(find(r.step));
      TORCH_INTERNAL_ASSERT(rule_step_.back() != nullptr, label_, ": default rule names unknown ",
                            device_, " step '", r.step, "'");
      TORCH_INTERNAL_ASSERT(!r.holds == !*r.when, label_, ": default rule for '", r.step,
                            "' needs both a condition and its text, or neither");
    }
    for (const auto& s : steps_)
      variant_registry().push_back({op_, device_, s.name, s.summary, s.dtypes, default_when(s)});
  }

  Ladder(const Ladder&) = delete;  // rule_step_ points into steps_
  Ladder& operator=(const Ladder&) = delete;

  const std::string& label() const { return label_; }
  c10::DeviceType device_type() const { return device_type_; }

  // The step to run on `problem` of `dtype` (the output's dtype; passed apart
  // because an empty problem may be left unfilled): the named one, or the
  // first default rule that holds when `variant` is empty. Unknown names and
  // unsupported dtypes raise a ValueError/TypeError.
  const Step& select(const std::optional<c10::string_view>& variant, const Problem& problem,
                     at::ScalarType dtype) const {
    if (variant.has_value() && !variant->empty()) {
      check_variant(label_.c_str(), op_, device_, variant, dtype);
      for (const auto& s : steps_)
        if (*variant == s.name) return s;
      TORCH_CHECK(false, label_, ": variant table out of sync");  // registered above: unreachable
    }
    for (size_t i = 0; i < rules_.size(); ++i)
      if (supports(*rule_step_[i], dtype) && (!rules_[i].holds || rules_[i].holds(problem)))
        return *rule_step_[i];
    TORCH_CHECK_TYPE(false, label_, ": no ", device_, " variant supports dtype ", dtype);
  }

  // Runs the default step on a filled problem (of its own dtype): how a step,
  // or another op, hands a problem back to this ladder's rules.
  void run_default(const Problem& problem) const {
    select(std::nullopt, problem, problem.dtype).fn(problem);
  }

 private:
  static bool supports(const Step& s, at::ScalarType t) {
    for (auto d : s.dtypes)
      if (d == t) return true;
    return false;
  }
  const Step* find(const char* name) const {
    for (const auto& s : steps_)
      if (std::string(name) == s.name) return &s;
    return nullptr;
  }
  // The rules that can pick `s`, per dtype: those before the dtype's first
  // unconditional rule (the later ones are never reached for it).
  std::vector<std::pair<at::ScalarType, std::string>> default_when(const Step& s) const {
    std::vector<std::pair<at::ScalarType, std::string>> out;
    for (at::ScalarType t : kAllFloat) {
      bool after_condition = false;
      for (size_t i = 0; i < rules_.size(); ++i) {
        if (!supports(*rule_step_[i], t)) continue;
        const bool always = !rules_[i].holds;
        if (rule_step_[i] == &s)
          out.emplace_back(t, always ? (after_condition ? "otherwise" : "") : rules_[i].when);
        if (always) break;
        after_condition = true;
      }
    }
    return out;
  }

  std::string op_, device_, label_;
  c10::DeviceType device_type_;
  std::vector<Step> steps_;
  std::vector<Rule> rules_;
  std::vector<const Step*> rule_step_;  // rules_[i]'s step (steps_ does not change)
};

}  // namespace cuops
