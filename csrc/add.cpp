#include "add.h"

#include <sstream>

namespace cuops {
namespace {

// torch's broadcasting rule, with an error that names both arguments.
std::vector<int64_t> broadcast_shape(const at::Tensor& a, const at::Tensor& b, const char* op) {
  const int64_t nd = std::max(a.dim(), b.dim());
  std::vector<int64_t> out(nd);
  for (int64_t i = 0; i < nd; ++i) {
    const int64_t da = i < a.dim() ? a.size(a.dim() - 1 - i) : 1;
    const int64_t db = i < b.dim() ? b.size(b.dim() - 1 - i) : 1;
    TORCH_CHECK_VALUE(da == db || da == 1 || db == 1, op, ": shapes of 'a' ",
                      shape_str(a.sizes()), " and 'b' ", shape_str(b.sizes()),
                      " cannot be broadcast together (size ", da, " vs ", db,
                      " at dimension ", nd - 1 - i, ")");
    out[nd - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace

AddPlan plan_add(const at::Tensor& a_in, const at::Tensor& b_in, const c10::Scalar& alpha) {
  constexpr const char* op = "cuops.add";
  check_float_dtype(a_in, op, "a");
  check_float_dtype(b_in, op, "b");
  check_real_scalar(alpha, op, "alpha");
  check_max_dims(a_in, op, "a");
  check_max_dims(b_in, op, "b");

  AddPlan p;
  p.a = a_in;
  p.b = b_in;
  // As in torch, a 0-dim CPU tensor may be combined with a tensor on any device.
  if (p.a.device() != p.b.device()) {
    if (p.b.dim() == 0 && p.b.is_cpu()) {
      p.b = p.b.to(p.a.device());
    } else if (p.a.dim() == 0 && p.a.is_cpu()) {
      p.a = p.a.to(p.b.device());
    } else {
      check_same_device(p.a, "a", p.b, "b", op);
    }
  }
  const auto shape = broadcast_shape(p.a, p.b, op);
  // torch's type promotion (a 0-dim tensor does not widen a dimensioned one).
  // Mixed inputs are converted to the result dtype before the kernel runs.
  const auto dtype = at::result_type(a_in, b_in);
  if (p.a.scalar_type() != dtype) p.a = p.a.to(dtype);
  if (p.b.scalar_type() != dtype) p.b = p.b.to(dtype);

  // Output strides: those of the first dense input that has the output's
  // shape (keeps channels_last and other permuted layouts), else contiguous.
  // (Judged on the arguments as given, before any conversion.)
  const at::Tensor* like = nullptr;
  if (a_in.sizes().equals(shape) && a_in.is_non_overlapping_and_dense()) {
    like = &a_in;
  } else if (b_in.sizes().equals(shape) && b_in.is_non_overlapping_and_dense()) {
    like = &b_in;
  }
  const auto opts = p.a.options().dtype(dtype);
  p.out = like ? at::empty_strided(shape, like->strides(), opts) : at::empty(shape, opts);

  p.oc = make_offset_calculator<3>(shape, {broadcast_strides(p.out, shape),
                                           broadcast_strides(p.a, shape),
                                           broadcast_strides(p.b, shape)});
  // Flat: one contiguous run after merging dims, or one shared dense layout
  // (e.g. all channels_last).
  const auto& oc = p.oc;
  p.flat = oc.ndim == 0 ||
           (oc.ndim == 1 && oc.strides[0][0] == 1 && oc.strides[1][0] == 1 &&
            oc.strides[2][0] == 1) ||
           (like != nullptr && p.a.sizes().equals(p.b.sizes()) &&
            p.a.strides().equals(p.out.strides()) && p.b.strides().equals(p.out.strides()));
  return p;
}

SumToPlan plan_sum_to(const at::Tensor& x, c10::SymIntArrayRef size_sym,
                      const c10::Scalar& scale) {
  constexpr const char* op = "cuops.sum_to";
  check_float_dtype(x, op, "x");
  check_real_scalar(scale, op, "scale");
  check_max_dims(x, op, "x");
  const auto size = C10_AS_INTARRAYREF_SLOW(size_sym);
  const int64_t nd = x.dim(), lead = nd - static_cast<int64_t>(size.size());
  bool ok = lead >= 0;
  for (int64_t d = 0; ok && d < static_cast<int64_t>(size.size()); ++d)
    ok = size[d] == 1 || size[d] == x.size(lead + d);
  TORCH_CHECK_VALUE(ok, op, ": size ", shape_str(size),
                    " is not broadcast-compatible with 'x' of shape ", shape_str(x.sizes()));

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

}  // namespace cuops
