#include "add.h"
#include "op_calls.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <sstream>

namespace cuops {
namespace {

constexpr const char* kAddOp = "cuops.add";
constexpr const char* kSumToOp = "cuops.sum_to";

// torch's broadcasting rule, with an error that names both arguments. Over
// symbolic sizes: the comparisons guard, as torch's own broadcasting does.
c10::SymDimVector broadcast_shape(const at::Tensor& a, const at::Tensor& b) {
  const auto sa = a.sym_sizes(), sb = b.sym_sizes();
  const int64_t nd = std::max(a.dim(), b.dim());
  c10::SymDimVector out(nd);
  for (int64_t i = 0; i < nd; ++i) {
    const c10::SymInt da = i < a.dim() ? sa[a.dim() - 1 - i] : c10::SymInt(1);
    const c10::SymInt db = i < b.dim() ? sb[b.dim() - 1 - i] : c10::SymInt(1);
    TORCH_CHECK_VALUE(da == db || da == 1 || db == 1, kAddOp, ": shapes of 'a' ",
                      shape_str(sa), " and 'b' ", shape_str(sb),
                      " cannot be broadcast together (size ", da, " vs ", db, " at dimension ",
                      nd - 1 - i, ")");
    out[nd - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// What cuops.add returns, decided before any data moves (shared by the plan
// and the fake kernel).
struct AddOutput {
  c10::SymDimVector shape;  // broadcast shape
  at::ScalarType dtype;     // torch's type promotion
  at::Device device;
  const at::Tensor* like;   // strides to copy, or null: contiguous
};

AddOutput check_add(const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha) {
  check_float_dtype(a, kAddOp, "a");
  check_float_dtype(b, kAddOp, "b");
  check_real_scalar(alpha, kAddOp, "alpha");
  check_max_dims(a, kAddOp, "a");
  check_max_dims(b, kAddOp, "b");
  // As in torch, a 0-dim CPU tensor may be combined with a tensor on any device.
  at::Device device = a.device();
  if (a.device() != b.device()) {
    if (b.dim() == 0 && b.is_cpu()) {
      // b joins a's device
    } else if (a.dim() == 0 && a.is_cpu()) {
      device = b.device();
    } else {
      check_same_device(a, "a", b, "b", kAddOp);
    }
  }
  AddOutput o{broadcast_shape(a, b), at::result_type(a, b), device, nullptr};
  // Output strides: those of the first dense input that has the output's
  // shape (keeps channels_last and other permuted layouts), else contiguous.
  for (const at::Tensor* t : {&a, &b}) {
    if (t->sym_sizes().equals(o.shape) &&
        t->unsafeGetTensorImpl()->is_non_overlapping_and_dense_or_false()) {
      o.like = t;
      break;
    }
  }
  return o;
}

at::Tensor empty_output(const AddOutput& o) {
  const auto opts = at::TensorOptions().dtype(o.dtype).device(o.device);
  return o.like ? at::empty_strided_symint(o.shape, o.like->sym_strides(), opts)
                : at::empty_symint(o.shape, opts);
}

// `size` is x's shape with leading dims dropped and any dims set to 1.
void check_sum_to(const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale) {
  check_float_dtype(x, kSumToOp, "x");
  check_real_scalar(scale, kSumToOp, "scale");
  check_max_dims(x, kSumToOp, "x");
  const auto xs = x.sym_sizes();
  const int64_t lead = x.dim() - static_cast<int64_t>(size.size());
  bool ok = lead >= 0;
  for (int64_t d = 0; ok && d < static_cast<int64_t>(size.size()); ++d)
    ok = size[d] == 1 || size[d] == xs[lead + d];
  TORCH_CHECK_VALUE(ok, kSumToOp, ": size ", shape_str(size),
                    " is not broadcast-compatible with 'x' of shape ", shape_str(xs));
}

}  // namespace

AddPlan plan_add(const at::Tensor& a_in, const at::Tensor& b_in, const c10::Scalar& alpha) {
  const AddOutput o = check_add(a_in, b_in, alpha);
  AddPlan p;
  // Mixed inputs are moved (a 0-dim CPU tensor) and converted to the result
  // dtype before the kernel runs.
  p.a = a_in.device() == o.device ? a_in : a_in.to(o.device);
  p.b = b_in.device() == o.device ? b_in : b_in.to(o.device);
  if (p.a.scalar_type() != o.dtype) p.a = p.a.to(o.dtype);
  if (p.b.scalar_type() != o.dtype) p.b = p.b.to(o.dtype);
  p.out = empty_output(o);

  const auto shape = p.out.sizes();
  p.oc = make_offset_calculator<3>(shape, {broadcast_strides(p.out, shape),
                                           broadcast_strides(p.a, shape),
                                           broadcast_strides(p.b, shape)});
  // Flat: one contiguous run after merging dims, or one shared dense layout
  // (e.g. all channels_last).
  const auto& oc = p.oc;
  p.flat = oc.ndim == 0 ||
           (oc.ndim == 1 && oc.strides[0][0] == 1 && oc.strides[1][0] == 1 &&
            oc.strides[2][0] == 1) ||
           (o.like != nullptr && p.a.sizes().equals(p.b.sizes()) &&
            p.a.strides().equals(p.out.strides()) && p.b.strides().equals(p.out.strides()));
  return p;
}

at::Tensor add_meta(const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha,
                    std::optional<c10::string_view> variant) {
  const AddOutput o = check_add(a, b, alpha);
  check_variant(kAddOp, "add", c10::DeviceTypeName(o.device.type(), /*lower_case=*/true), variant,
                o.dtype);
  return empty_output(o);
}

SumToPlan plan_sum_to(const at::Tensor& x, c10::SymIntArrayRef size_sym,
                      const c10::Scalar& scale) {
  check_sum_to(x, size_sym, scale);
  const auto size = C10_AS_INTARRAYREF_SLOW(size_sym);
  const int64_t nd = x.dim(), lead = nd - static_cast<int64_t>(size.size());

  SumToPlan p;
  p.x = x;
  p.out = at::empty(size, x.options());
  std::vector<int64_t> kept_sizes, kept_strides, red_sizes, red_strides;
  for (int64_t d = 0; d < nd; ++d) {
    const bool reduced = d < lead || (size[d - lead] == 1 && x.size(d) != 1);
    (reduced ? red_sizes : kept_sizes).push_back(x.size(d));
    (reduced ? red_strides : kept_strides).push_back(x.stride(d));
  }
  p.n_out = p.out.numel();
  p.n_red = c10::multiply_integers(red_sizes);
  p.kept = make_offset_calculator<1>(kept_sizes, {kept_strides});
  p.red = make_offset_calculator<1>(red_sizes, {red_strides});
  return p;
}

at::Tensor sum_to_meta(const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale) {
  check_sum_to(x, size, scale);
  return at::empty_symint(size, x.options());
}

at::Tensor call_sum_to(const at::Tensor& x, c10::SymIntArrayRef size) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("cuops::sum_to", "")
          .typed<at::Tensor(const at::Tensor&, c10::SymIntArrayRef, const c10::Scalar&)>();
  // sum_to's autograd kernel is torch.library's Python one (cuops/ops/add.py):
  // ~40 us of host time per call even when no graph is recorded (a backward
  // without create_graph), so it is skipped then, as cuops.sum_to does.
  if (!at::GradMode::is_enabled() || !x.requires_grad()) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(x, size, 1);
  }
  return op.call(x, size, 1);
}

}  // namespace cuops
