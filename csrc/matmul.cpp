// cuops.gemm / matmul / linear: the device-independent part.
//  - plan_gemm: argument checks, output allocation, and the GemmProblem that
//    every kernel (CPU and each CUDA variant) solves; gemm_meta: the same
//    checks and output for the fake kernel.
//  - matmul and linear: CompositeImplicitAutograd, i.e. views around gemm,
//    so autograd, torch.compile and torch.export only ever see gemm.
// gemm's autocast kernels are in csrc/autocast.cpp.
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/library.h>

#include <sstream>

#include "matmul.h"
#include "op_calls.h"

namespace cuops {
namespace {

constexpr const char* kGemmOp = "cuops.gemm";

// Element strides of t's batch dims (all but the last two) as seen through
// broadcasting to `batch` (right-aligned; 0 where t is broadcast).
std::vector<int64_t> batch_strides(const at::Tensor& t, at::IntArrayRef batch) {
  const int64_t nb = static_cast<int64_t>(batch.size()), tb = t.dim() - 2;
  std::vector<int64_t> s(nb, 0);
  for (int64_t d = 0; d < tb; ++d)
    s[nb - tb + d] = t.size(d) == 1 ? 0 : t.stride(d);
  return s;
}

// a's batch items are one run of rows: every batch dim's stride is the
// extent of the dims below it (the M rows included), so [..., M, K] reads as
// one [B*M, K] matrix with row stride a.stride(-2).
bool rows_run(const at::Tensor& a) {
  int64_t expect = -1;  // the stride the next outer dim must have
  for (int64_t d = a.dim() - 2; d >= 0; --d) {
    if (a.size(d) == 1) continue;
    if (expect >= 0 && a.stride(d) != expect) return false;
    expect = a.stride(d) * a.size(d);
  }
  return true;
}

// plan_gemm's checks, in order, and the output shape [...batch, M, N]. Shared
// with the fake kernel, so over symbolic sizes.
c10::SymDimVector check_gemm(const at::Tensor& a, const at::Tensor& b,
                             const std::optional<at::Tensor>& bias) {
  TORCH_CHECK_VALUE(a.dim() >= 2, kGemmOp, ": argument 'a' must have at least 2 dimensions "
                    "[..., M, K], but got shape ", shape_str(a.sym_sizes()));
  TORCH_CHECK_VALUE(b.dim() >= 2, kGemmOp, ": argument 'b' must have at least 2 dimensions "
                    "[..., K, N], but got shape ", shape_str(b.sym_sizes()));
  check_float_dtype(a, kGemmOp, "a");
  check_float_dtype(b, kGemmOp, "b");
  check_same_dtype(a, "a", b, "b", kGemmOp);
  check_same_device(a, "a", b, "b", kGemmOp);
  check_max_dims(a, kGemmOp, "a");
  check_max_dims(b, kGemmOp, "b");
  const auto sa = a.sym_sizes(), sb = b.sym_sizes();
  const c10::SymInt &M = sa[a.dim() - 2], &K = sa[a.dim() - 1], &N = sb[b.dim() - 1];
  TORCH_CHECK_VALUE(sb[b.dim() - 2] == K, kGemmOp, ": inner dimensions do not match: 'a' has "
                    "shape ", shape_str(sa), " (K=", K, ") but 'b' has shape ", shape_str(sb),
                    " (K=", sb[b.dim() - 2], ")");
  if (bias.has_value() && bias->defined()) {
    const at::Tensor& t = *bias;
    check_float_dtype(t, kGemmOp, "bias");
    check_same_dtype(a, "a", t, "bias", kGemmOp);
    check_same_device(a, "a", t, "bias", kGemmOp);
    TORCH_CHECK_VALUE(t.dim() == 1 && t.sym_size(0) == N, kGemmOp,
                      ": argument 'bias' must have shape [", N, "] (N of 'b' ", shape_str(sb),
                      "), but got shape ", shape_str(t.sym_sizes()));
  }
  // Broadcast batch shape (torch's rule over all but the last two dims).
  const int64_t ba = a.dim() - 2, bb = b.dim() - 2, nb = std::max(ba, bb);
  c10::SymDimVector shape(nb + 2);
  for (int64_t i = 0; i < nb; ++i) {
    const c10::SymInt da = i < ba ? sa[ba - 1 - i] : c10::SymInt(1);
    const c10::SymInt db = i < bb ? sb[bb - 1 - i] : c10::SymInt(1);
    TORCH_CHECK_VALUE(da == db || da == 1 || db == 1, kGemmOp, ": batch dimensions of 'a' ",
                      shape_str(sa), " and 'b' ", shape_str(sb),
                      " cannot be broadcast together (size ", da, " vs ", db, ")");
    shape[nb - 1 - i] = da == 1 ? db : da;
  }
  shape[nb] = M;
  shape[nb + 1] = N;
  return shape;
}

}  // namespace

GemmPlan plan_gemm(const at::Tensor& a, const at::Tensor& b,
                   const std::optional<at::Tensor>& bias_in) {
  const c10::SymDimVector sym_shape = check_gemm(a, b, bias_in);
  const at::IntArrayRef shape = C10_AS_INTARRAYREF_SLOW(sym_shape);
  const int64_t nb = static_cast<int64_t>(shape.size()) - 2;
  const int64_t M = shape[nb], N = shape[nb + 1], K = a.size(-1);
  std::optional<at::Tensor> bias;
  if (bias_in.has_value() && bias_in->defined())
    bias = bias_in->contiguous();  // copies only a strided 1-D view: N elements

  GemmPlan plan;
  plan.a = a;
  plan.b = b;
  plan.bias = bias;
  plan.out = at::empty(shape, a.options());
  if (plan.out.numel() == 0) return plan;
  if (K == 0) {
    // An empty sum: C = 0 (+ bias). Written here (an allocation-time fill and
    // a broadcast copy, no arithmetic) so no kernel has to special-case it.
    if (bias.has_value()) {
      plan.out.copy_(bias->expand_as(plan.out));
    } else {
      plan.out.zero_();
    }
    return plan;
  }

  // b shared by every batch item (a linear layer's weight) while a's items
  // are not one run of rows (a permuted view, e.g. a channels-first gradient
  // entering ConvNeXt's NHWC blocks): one contiguous copy of a lets the batch
  // fold into M below -- one tall GEMM where there would be a batch of short
  // products over strided operands (ConvNeXt-T's last stage: ~4.8 ms per
  // layer, H100 bf16 2026-12-08). torch's matmul reshapes the same way.
  const bool b_shared = b.dim() == 2 || c10::multiply_integers(b.sizes().slice(0, b.dim() - 2)) == 1;
  if (b_shared && a.dim() > 2 && !rows_run(a)) plan.a = a.contiguous();
  const at::Tensor& A = plan.a;
  GemmProblem& p = plan.p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.dtype = a.scalar_type();
  p.allow_tf32 = a.is_cuda() && at::globalContext().allowTF32CuBLAS();
  p.a = A.const_data_ptr();
  p.a_sm = A.stride(-2);
  p.a_sk = A.stride(-1);
  p.b = b.const_data_ptr();
  p.b_sk = b.stride(-2);
  p.b_sn = b.stride(-1);
  p.c = plan.out.data_ptr();
  p.c_sm = N;
  p.c_sn = 1;
  p.bias = bias.has_value() ? bias->const_data_ptr() : nullptr;

  const at::IntArrayRef batch(shape.data(), nb);
  p.batch = c10::multiply_integers(batch);
  p.batch_oc = make_offset_calculator<3>(
      batch, {plan.out.strides().slice(0, nb).vec(), batch_strides(A, batch), batch_strides(b, batch)});

  // Fold the batch into M when B is shared by every batch item and A's rows
  // run on evenly across items (e.g. x[B, T, K] @ W^T in a linear layer):
  // one tall GEMM fills the GPU better than many short ones.
  auto& oc = p.batch_oc;
  if (oc.ndim == 1 && oc.strides[2][0] == 0) {
    if (M == 1) p.a_sm = oc.strides[1][0];  // a size-1 dim's stride is arbitrary
    if (oc.strides[1][0] == M * p.a_sm && oc.strides[0][0] == M * p.c_sm) {
      p.M = M * oc.sizes[0];
      p.batch = 1;
      oc.ndim = 0;
    }
  }
  plan.run_kernel = true;
  return plan;
}

at::Tensor gemm_meta(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias,
                     std::optional<c10::string_view> variant) {
  const c10::SymDimVector shape = check_gemm(a, b, bias);
  check_variant(kGemmOp, "matmul", c10::DeviceTypeName(a.device().type(), /*lower_case=*/true),
                variant, a.scalar_type());
  return at::empty_symint(shape, a.options());
}

// ---------------------------------------------------------------------------
// matmul and linear: checks under their own names and their own argument
// names, then views (unsqueeze/squeeze) around gemm. The checks use symbolic
// sizes, so they also run under torch.compile (these composites are traced
// through, with fake tensors).
// ---------------------------------------------------------------------------
at::Tensor call_gemm(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias,
                     std::optional<c10::string_view> variant) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("cuops::gemm", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&,
                                         std::optional<c10::string_view>)>();
  return op.call(a, b, bias, variant);
}

namespace {

// The dtype gemm will see: these composites run before gemm's autocast kernel
// (csrc/autocast.cpp), which casts eligible inputs (floating, not float64, on
// the autocast device).
at::ScalarType gemm_dtype(const at::Tensor& t) {
  const auto dev = t.device().type();
  if ((dev == c10::DeviceType::CPU || dev == c10::DeviceType::CUDA) &&
      at::autocast::is_autocast_enabled(dev) && at::autocast::is_eligible(t, dev))
    return at::autocast::get_autocast_dtype(dev);
  return t.scalar_type();
}

// gemm's dtype/device checks (plan_gemm), named for the caller: `t` joins
// `first` in one product. Mixed dtypes that autocast makes equal are fine.
void check_operand(const char* op, const at::Tensor& first, const char* first_name,
                   const at::Tensor& t, const char* name) {
  check_float_dtype(t, op, name);
  if (gemm_dtype(first) != gemm_dtype(t)) check_same_dtype(first, first_name, t, name, op);
  check_same_device(first, first_name, t, name, op);
  check_max_dims(t, op, name);
}

// The variant exists for the device and dtype (else gemm's ladder would
// report it under gemm's name).
void check_gemm_variant(const char* op, const at::Tensor& a,
                        const std::optional<c10::string_view>& variant) {
  check_variant(op, "matmul", c10::DeviceTypeName(a.device().type(), /*lower_case=*/true),
                variant, gemm_dtype(a));
}

at::Tensor matmul_composite(const at::Tensor& a, const at::Tensor& b,
                            std::optional<c10::string_view> variant) {
  constexpr const char* op = "cuops.matmul";
  TORCH_CHECK_VALUE(a.dim() >= 1 && b.dim() >= 1, op,
                    ": both arguments must be at least 1-D, but got 'a' of shape ",
                    shape_str(a.sym_sizes()), " (", a.dim(), "-D) and 'b' of shape ",
                    shape_str(b.sym_sizes()), " (", b.dim(), "-D)");
  check_float_dtype(a, op, "a");
  check_operand(op, a, "a", b, "b");
  check_max_dims(a, op, "a");
  const c10::SymInt k_a = a.sym_size(-1);
  const c10::SymInt k_b = b.dim() == 1 ? b.sym_size(0) : b.sym_size(-2);
  TORCH_CHECK_VALUE(k_a == k_b, op, ": inner dimensions do not match: 'a' has shape ",
                    shape_str(a.sym_sizes()), " and 'b' has shape ", shape_str(b.sym_sizes()),
                    " (", k_a, " != ", k_b, ")");
  const int64_t ba = std::max<int64_t>(a.dim() - 2, 0), bb = std::max<int64_t>(b.dim() - 2, 0);
  for (int64_t i = 0; i < std::min(ba, bb); ++i) {
    const c10::SymInt da = a.sym_size(ba - 1 - i), db = b.sym_size(bb - 1 - i);
    TORCH_CHECK_VALUE(da == db || da == 1 || db == 1, op, ": batch dimensions of 'a' ",
                      shape_str(a.sym_sizes()), " and 'b' ", shape_str(b.sym_sizes()),
                      " cannot be broadcast together (size ", da, " vs ", db, ")");
  }
  check_gemm_variant(op, a, variant);
  // torch.matmul's rule: a 1-D left operand is a row [1, K], a 1-D right
  // operand a column [K, 1]; the added dim is removed from the result.
  const at::Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const at::Tensor b2 = b.dim() == 1 ? b.unsqueeze(-1) : b;
  at::Tensor out = call_gemm(a2, b2, std::nullopt, variant);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(b.dim() == 1 ? -1 : -2);
  return out;
}

at::Tensor linear_composite(const at::Tensor& input, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias,
                            std::optional<c10::string_view> variant) {
  constexpr const char* op = "cuops.linear";
  TORCH_CHECK_VALUE(input.dim() >= 1, op,
                    ": argument 'input' must be at least 1-D [..., in_features], but got shape ",
                    shape_str(input.sym_sizes()));
  TORCH_CHECK_VALUE(weight.dim() == 2, op,
                    ": argument 'weight' must be 2-D [out_features, in_features], but got shape ",
                    shape_str(weight.sym_sizes()));
  check_float_dtype(input, op, "input");
  check_operand(op, input, "input", weight, "weight");
  check_max_dims(input, op, "input");
  TORCH_CHECK_VALUE(input.sym_size(-1) == weight.sym_size(1), op, ": 'input' of shape ",
                    shape_str(input.sym_sizes()), " has ", input.sym_size(-1),
                    " features but 'weight' of shape ", shape_str(weight.sym_sizes()), " expects ",
                    weight.sym_size(1));
  if (bias.has_value() && bias->defined()) {
    check_operand(op, input, "input", *bias, "bias");
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->sym_size(0) == weight.sym_size(0), op,
                      ": argument 'bias' must have shape [", weight.sym_size(0),
                      "] (out_features of 'weight' ", shape_str(weight.sym_sizes()),
                      "), but got shape ", shape_str(bias->sym_sizes()));
  }
  check_gemm_variant(op, input, variant);
  // weight.mT() is a strided view: gemm reads W^T without a copy.
  const at::Tensor x = input.dim() == 1 ? input.unsqueeze(0) : input;
  at::Tensor out = call_gemm(x, weight.mT(), bias, variant);
  return input.dim() == 1 ? out.squeeze(0) : out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, CompositeImplicitAutograd, m) {
  m.impl("matmul", &matmul_composite);
  m.impl("linear", &linear_composite);
}

}  // namespace cuops
