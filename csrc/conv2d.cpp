// cuops.conv2d and its gradients: argument checks, output allocation and the
// problem description shared by the CPU and CUDA kernels (csrc/conv2d.h),
// and the fake kernels (conv2d_meta, ...), which run the same checks and
// allocate the same output over symbolic sizes.
//
// Error kinds follow the project rule: ValueError for shapes and values,
// TypeError for dtypes, RuntimeError for devices.
#include <c10/util/safe_numerics.h>

#include <sstream>

#include "conv2d.h"

namespace cuops {
namespace {

constexpr const char* kConvOp = "cuops.conv2d";
constexpr const char* kDgradOp = "cuops.conv2d_backward_input";
constexpr const char* kWgradOp = "cuops.conv2d_backward_weight";

struct Args {
  int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
};

Args check_args(const char* op, at::IntArrayRef stride, at::IntArrayRef padding,
                at::IntArrayRef dilation, int64_t groups) {
  TORCH_CHECK_VALUE(stride.size() == 2, op, ": 'stride' must have 2 elements (h, w), but got ",
                    shape_str(stride));
  TORCH_CHECK_VALUE(padding.size() == 4, op,
                    ": 'padding' must have 4 elements (top, bottom, left, right), but got ",
                    shape_str(padding));
  TORCH_CHECK_VALUE(dilation.size() == 2, op,
                    ": 'dilation' must have 2 elements (h, w), but got ", shape_str(dilation));
  TORCH_CHECK_VALUE(stride[0] > 0 && stride[1] > 0, op, ": 'stride' must be positive, but got ",
                    shape_str(stride));
  TORCH_CHECK_VALUE(dilation[0] > 0 && dilation[1] > 0, op,
                    ": 'dilation' must be positive, but got ", shape_str(dilation));
  for (int64_t v : padding)
    TORCH_CHECK_VALUE(v >= 0, op, ": 'padding' must be non-negative, but got ",
                      shape_str(padding));
  TORCH_CHECK_VALUE(groups > 0, op, ": 'groups' must be positive, but got ", groups);
  return {stride[0], stride[1], padding[0], padding[1], padding[2], padding[3],
          dilation[0], dilation[1], groups};
}

// lo + size + hi (a padded size) or size * (k - 1) + 1 (a dilated kernel
// size) would wrap around int64 (and index memory far outside the tensors).
// Checked where the size is known: a symbolic size belongs to a real tensor,
// whose kernel call checks it.
bool padded_overflows(const c10::SymInt& size, int64_t lo, int64_t hi) {
  const auto s = size.maybe_as_int();
  int64_t r = 0;
  return s && (c10::add_overflows(*s, lo, &r) || c10::add_overflows(r, hi, &r));
}
bool dilated_overflows(const c10::SymInt& k, int64_t dilation) {
  const auto s = k.maybe_as_int();
  int64_t r = 0;
  return s && (c10::mul_overflows(dilation, *s - 1, &r) || c10::add_overflows(r, int64_t{1}, &r));
}

// Weight/channel/group consistency and the output size (P, Q); shared by the
// forward and both gradients so all three agree on what a valid problem is.
std::pair<c10::SymInt, c10::SymInt> check_shapes(const char* op, const char* in_name,
                                                 c10::SymIntArrayRef in, c10::SymIntArrayRef wt,
                                                 const Args& a) {
  const c10::SymInt &C = in[1], &H = in[2], &W = in[3], &K = wt[0];
  TORCH_CHECK_VALUE(K > 0, op, ": 'weight' must have at least one output channel, but got shape ",
                    shape_str(wt));
  TORCH_CHECK_VALUE(K % a.groups == 0, op, ": 'weight' has ", K, " output channels (shape ",
                    shape_str(wt), "), which is not divisible by groups=", a.groups);
  TORCH_CHECK_VALUE(C == wt[1] * a.groups, op, ": expected '", in_name, "' to have ",
                    wt[1] * a.groups, " channels (weight.size(1)=", wt[1], " * groups=", a.groups,
                    "), but got ", C, " channels ('", in_name, "' shape ", shape_str(in),
                    ", 'weight' shape ", shape_str(wt), ")");
  TORCH_CHECK_VALUE(wt[2] > 0 && wt[3] > 0, op, ": 'weight' has an empty kernel, shape ",
                    shape_str(wt));
  TORCH_CHECK_VALUE(!padded_overflows(H, a.pt, a.pb) && !padded_overflows(W, a.pl, a.pr), op,
                    ": 'padding' [", a.pt, ", ", a.pb, ", ", a.pl, ", ", a.pr,
                    "] is too large: the padded input size overflows int64");
  TORCH_CHECK_VALUE(!dilated_overflows(wt[2], a.dh) && !dilated_overflows(wt[3], a.dw), op,
                    ": 'dilation' [", a.dh, ", ", a.dw,
                    "] is too large: the dilated kernel size overflows int64");
  const c10::SymInt ph = H + a.pt + a.pb, pw = W + a.pl + a.pr;
  const c10::SymInt eh = (wt[2] - 1) * a.dh + 1, ew = (wt[3] - 1) * a.dw + 1;
  TORCH_CHECK_VALUE(eh <= ph && ew <= pw, op, ": kernel size (", eh, " x ", ew,
                    ", dilation included) is larger than the padded input (", ph, " x ", pw,
                    "; '", in_name, "' shape ", shape_str(in), ", 'weight' shape ", shape_str(wt),
                    ")");
  return {(ph - eh) / a.sh + 1, (pw - ew) / a.sw + 1};
}

bool channels_last(const at::Tensor& t) {
  return t.dim() == 4 && t.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
}

// Batch 0: torch's convolution builds the empty output from the input with an
// elementwise op (which keeps the input's dim order) and then views it to the
// output shape: so it is channels_last when the output has the input's shape
// and the input's strides run in NHWC order, contiguous otherwise (measured
// against F.conv2d; tests/test_conv2d.py, test_conv_empty_batch_layout).
at::MemoryFormat empty_batch_format(const at::Tensor& x, c10::SymIntArrayRef out_size) {
  return x.dim() == 4 && x.sym_sizes().equals(out_size) && x.sym_stride(1) < x.sym_stride(3) &&
                 x.sym_stride(3) < x.sym_stride(2)
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

// torch's output layout: channels_last when either tensor suggests it, except
// float64 on CUDA (cuDNN has no NHWC double path; torch returns contiguous).
at::MemoryFormat output_format(const at::Tensor& a, const at::Tensor& b) {
  if (a.is_cuda() && a.scalar_type() == at::kDouble) return at::MemoryFormat::Contiguous;
  return channels_last(a) || channels_last(b) ? at::MemoryFormat::ChannelsLast
                                              : at::MemoryFormat::Contiguous;
}

// What a conv2d call computes, decided before any data moves.
struct Conv2dOutput {
  Args args;
  at::Tensor x;    // the input, made 4-D
  at::Tensor out;  // (N, K, P, Q), allocated in torch's layout
};

// cuops.conv2d's checks and its output: shared by plan_conv2d and conv2d_meta.
Conv2dOutput conv2d_output(const at::Tensor& input, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  constexpr const char* op = kConvOp;
  TORCH_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, op,
                    ": expected 'input' to be 3-D (C, H, W) or 4-D (N, C, H, W), but got a ",
                    input.dim(), "-D tensor of shape ", shape_str(input.sym_sizes()));
  TORCH_CHECK_VALUE(weight.dim() == 4, op,
                    ": expected 'weight' to be 4-D (out_channels, in_channels/groups, kH, kW), "
                    "but got a ", weight.dim(), "-D tensor of shape ",
                    shape_str(weight.sym_sizes()));
  check_float_dtype(input, op, "input");
  check_float_dtype(weight, op, "weight");
  check_same_dtype(input, "input", weight, "weight", op);
  check_same_device(input, "input", weight, "weight", op);
  if (bias.has_value()) {
    const at::Tensor& b = *bias;
    check_float_dtype(b, op, "bias");
    check_same_dtype(input, "input", b, "bias", op);
    check_same_device(input, "input", b, "bias", op);
    TORCH_CHECK_VALUE(b.dim() == 1 && b.sym_size(0) == weight.sym_size(0), op,
                      ": expected 'bias' to be 1-D of length ", weight.sym_size(0),
                      " (weight.size(0)), but got shape ", shape_str(b.sym_sizes()));
  }
  const Args args = check_args(op, stride, padding, dilation, groups);
  // Unbatched input runs as a batch of one, as torch does.
  const at::Tensor x = input.dim() == 3 ? input.unsqueeze(0) : input;
  const auto xs = x.sym_sizes();
  auto [P, Q] = check_shapes(op, "input", xs, weight.sym_sizes(), args);
  // As F.conv2d: an input may be empty in its batch or channel dimension only
  // (a padded empty image would otherwise give an output of bias values).
  TORCH_CHECK_VALUE(xs[0] == 0 || xs[1] == 0 || (xs[2] > 0 && xs[3] > 0), op, ": 'input' of shape ",
                    shape_str(input.sym_sizes()),
                    " has an empty spatial dimension; only its batch or channel dimension may "
                    "be 0");
  const std::array<c10::SymInt, 4> size{xs[0], weight.sym_size(0), std::move(P), std::move(Q)};
  // An empty batch takes torch's "Empty" path (its own layout rule, above).
  const auto fmt = xs[0] > 0 ? output_format(x, weight) : empty_batch_format(x, size);
  return {args, x, at::empty_symint(size, x.options().memory_format(fmt))};
}

void check_grad_common(const char* op, const at::Tensor& grad_output, const at::Tensor& other,
                       const char* other_name, c10::SymIntArrayRef size, const char* size_name) {
  TORCH_CHECK_VALUE(grad_output.dim() == 4, op,
                    ": expected 'grad_output' to be 4-D (N, K, P, Q), but got shape ",
                    shape_str(grad_output.sym_sizes()));
  TORCH_CHECK_VALUE(other.dim() == 4, op, ": expected '", other_name, "' to be 4-D, but got shape ",
                    shape_str(other.sym_sizes()));
  TORCH_CHECK_VALUE(size.size() == 4, op, ": expected '", size_name,
                    "' to have 4 elements, but got ", shape_str(size));
  for (const c10::SymInt& v : size)
    TORCH_CHECK_VALUE(v >= 0, op, ": '", size_name, "' must be non-negative, but got ",
                      shape_str(size));
  check_float_dtype(grad_output, op, "grad_output");
  check_float_dtype(other, op, other_name);
  check_same_dtype(grad_output, "grad_output", other, other_name, op);
  check_same_device(grad_output, "grad_output", other, other_name, op);
}

void check_grad_output_shape(const char* op, const at::Tensor& g, c10::SymIntArrayRef want) {
  TORCH_CHECK_VALUE(g.sym_sizes().equals(want), op, ": expected 'grad_output' of shape ",
                    shape_str(want), ", but got ", shape_str(g.sym_sizes()));
}

// A gradient op's checks and its output: grad_input of `out_size` for dgrad
// (`other` = weight), grad_weight of `out_size` for wgrad (`other` = input).
// Shared by the gradient plans and their fake kernels.
std::pair<Args, at::Tensor> conv2d_grad_output(bool dgrad, const at::Tensor& grad_output,
                                               const at::Tensor& other,
                                               c10::SymIntArrayRef out_size,
                                               at::IntArrayRef stride, at::IntArrayRef padding,
                                               at::IntArrayRef dilation, int64_t groups) {
  const char* op = dgrad ? kDgradOp : kWgradOp;
  const char* other_name = dgrad ? "weight" : "input";
  check_grad_common(op, grad_output, other, other_name, out_size,
                    dgrad ? "input_size" : "weight_size");
  const Args args = check_args(op, stride, padding, dilation, groups);
  const c10::SymIntArrayRef in = dgrad ? out_size : other.sym_sizes();
  const c10::SymIntArrayRef wt = dgrad ? other.sym_sizes() : out_size;
  auto [P, Q] = check_shapes(op, dgrad ? "input_size" : "input", in, wt, args);
  const std::array<c10::SymInt, 4> want{in[0], wt[0], std::move(P), std::move(Q)};
  check_grad_output_shape(op, grad_output, want);
  const auto fmt = output_format(grad_output, other);
  return {args, at::empty_symint(out_size, grad_output.options().memory_format(fmt))};
}

void fill_common(Conv2dProblem& p, const Args& a) {
  p.groups = a.groups;
  p.stride_h = a.sh;
  p.stride_w = a.sw;
  p.pad_h = a.pt;  // bottom/right padding live in P and Q (conv2d.h)
  p.pad_w = a.pl;
  p.dil_h = a.dh;
  p.dil_w = a.dw;
}

void set_x(Conv2dProblem& p, const at::Tensor& x) {
  p.N = x.size(0), p.C = x.size(1), p.H = x.size(2), p.W = x.size(3);
  p.x_sn = x.stride(0), p.x_sc = x.stride(1), p.x_sh = x.stride(2), p.x_sw = x.stride(3);
}
void set_w(Conv2dProblem& p, const at::Tensor& w) {
  p.K = w.size(0), p.R = w.size(2), p.S = w.size(3);
  p.w_sk = w.stride(0), p.w_sc = w.stride(1), p.w_sr = w.stride(2), p.w_ss = w.stride(3);
}
void set_y(Conv2dProblem& p, const at::Tensor& y) {
  p.y_sn = y.stride(0), p.y_sk = y.stride(1), p.y_sp = y.stride(2), p.y_sq = y.stride(3);
  p.P = y.size(2), p.Q = y.size(3);
}

std::string device_name(const at::Tensor& t) {
  return c10::DeviceTypeName(t.device().type(), /*lower_case=*/true);
}

}  // namespace

Conv2dPlan plan_conv2d(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  Conv2dOutput o = conv2d_output(input, weight, bias, stride, padding, dilation, groups);
  const at::Tensor& x = o.x;
  Conv2dPlan plan;
  plan.out = std::move(o.out);
  Conv2dProblem& p = plan.prob;
  fill_common(p, o.args);
  set_x(p, x);
  set_w(p, weight);
  set_y(p, plan.out);
  p.x = x.const_data_ptr();
  p.w = weight.const_data_ptr();
  p.y = plan.out.data_ptr();
  // The kernels read bias as a dense [K] vector (a documented copy if strided).
  if (bias.has_value()) {
    plan.bias = bias->contiguous();
    p.bias = plan.bias.const_data_ptr();
  }
  p.dtype = x.scalar_type();
  plan.result = input.dim() == 3 ? plan.out.squeeze(0) : plan.out;
  return plan;
}

Conv2dGradPlan plan_conv2d_backward_input(const at::Tensor& grad_output, const at::Tensor& weight,
                                          at::IntArrayRef input_size, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation,
                                          int64_t groups) {
  auto [a, out] = conv2d_grad_output(/*dgrad=*/true, grad_output, weight,
                                     c10::fromIntArrayRefSlow(input_size), stride, padding,
                                     dilation, groups);
  Conv2dGradPlan plan;
  plan.out = std::move(out);
  Conv2dGradProblem& p = plan.prob;
  fill_common(p, a);
  set_x(p, plan.out);
  set_w(p, weight);
  set_y(p, grad_output);
  p.w = weight.const_data_ptr();
  p.dy = grad_output.const_data_ptr();
  p.dx = plan.out.data_ptr();
  p.dtype = grad_output.scalar_type();
  return plan;
}

Conv2dGradPlan plan_conv2d_backward_weight(const at::Tensor& grad_output, const at::Tensor& input,
                                           at::IntArrayRef weight_size, at::IntArrayRef stride,
                                           at::IntArrayRef padding, at::IntArrayRef dilation,
                                           int64_t groups) {
  auto [a, out] = conv2d_grad_output(/*dgrad=*/false, grad_output, input,
                                     c10::fromIntArrayRefSlow(weight_size), stride, padding,
                                     dilation, groups);
  Conv2dGradPlan plan;
  plan.out = std::move(out);
  Conv2dGradProblem& p = plan.prob;
  fill_common(p, a);
  set_x(p, input);
  set_w(p, plan.out);
  set_y(p, grad_output);
  p.x = input.const_data_ptr();
  p.dy = grad_output.const_data_ptr();
  p.dw = plan.out.data_ptr();
  p.dtype = grad_output.scalar_type();
  return plan;
}

at::Tensor conv2d_meta(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       std::optional<c10::string_view> variant) {
  const at::Tensor out =
      conv2d_output(input, weight, bias, stride, padding, dilation, groups).out;
  check_variant(kConvOp, "conv2d", device_name(input), variant, input.scalar_type());
  return input.dim() == 3 ? out.squeeze(0) : out;
}

at::Tensor conv2d_backward_input_meta(const at::Tensor& grad_output, const at::Tensor& weight,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      int64_t groups, std::optional<c10::string_view> variant) {
  at::Tensor out = conv2d_grad_output(/*dgrad=*/true, grad_output, weight, input_size, stride,
                                      padding, dilation, groups).second;
  check_variant(kDgradOp, "conv2d_backward_input", device_name(grad_output), variant,
                grad_output.scalar_type());
  return out;
}

at::Tensor conv2d_backward_weight_meta(const at::Tensor& grad_output, const at::Tensor& input,
                                       c10::SymIntArrayRef weight_size, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation,
                                       int64_t groups, std::optional<c10::string_view> variant) {
  at::Tensor out = conv2d_grad_output(/*dgrad=*/false, grad_output, input, weight_size, stride,
                                      padding, dilation, groups).second;
  check_variant(kWgradOp, "conv2d_backward_weight", device_name(grad_output), variant,
                grad_output.scalar_type());
  return out;
}

}  // namespace cuops
