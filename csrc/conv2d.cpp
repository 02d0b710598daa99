// cuops.conv2d: argument checks, output allocation and the problem
// description shared by the CPU and CUDA kernels (csrc/conv2d.h).
//
// Error kinds follow the project rule: ValueError for shapes and values,
// TypeError for dtypes, RuntimeError for devices. The Python fake kernels
// (cuops/ops/conv2d.py) raise the same errors with the same messages.
#include <c10/util/safe_numerics.h>

#include <sstream>

#include "conv2d.h"

namespace cuops {
namespace {

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

// Weight/channel/group consistency and the output size; shared by the forward
// and both gradients so all three agree on what a valid problem is.
void check_shapes(const char* op, const char* in_name, at::IntArrayRef in,
                  at::IntArrayRef wt, const Args& a, int64_t* P, int64_t* Q) {
  const int64_t C = in[1], H = in[2], W = in[3], K = wt[0];
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
  // Padded input and dilated kernel sizes; huge padding or dilation values
  // would wrap around int64 (and index memory far outside the tensors).
  int64_t ph = 0, pw = 0, eh = 0, ew = 0;
  TORCH_CHECK_VALUE(!c10::add_overflows(H, a.pt, &ph) && !c10::add_overflows(ph, a.pb, &ph) &&
                        !c10::add_overflows(W, a.pl, &pw) && !c10::add_overflows(pw, a.pr, &pw),
                    op, ": 'padding' [", a.pt, ", ", a.pb, ", ", a.pl, ", ", a.pr,
                    "] is too large: the padded input size overflows int64");
  TORCH_CHECK_VALUE(!c10::mul_overflows(a.dh, wt[2] - 1, &eh) &&
                        !c10::add_overflows(eh, int64_t{1}, &eh) &&
                        !c10::mul_overflows(a.dw, wt[3] - 1, &ew) &&
                        !c10::add_overflows(ew, int64_t{1}, &ew),
                    op, ": 'dilation' [", a.dh, ", ", a.dw,
                    "] is too large: the dilated kernel size overflows int64");
  TORCH_CHECK_VALUE(eh <= ph && ew <= pw, op, ": kernel size (", eh, " x ", ew,
                    ", dilation included) is larger than the padded input (", ph, " x ", pw,
                    "; '", in_name, "' shape ", shape_str(in), ", 'weight' shape ", shape_str(wt),
                    ")");
  *P = (ph - eh) / a.sh + 1;
  *Q = (pw - ew) / a.sw + 1;
}

bool channels_last(const at::Tensor& t) {
  return t.dim() == 4 && t.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
}

// Batch 0: torch's convolution builds the empty output from the input with an
// elementwise op (which keeps the input's dim order) and then views it to the
// output shape: so it is channels_last when the output has the input's shape
// and the input's strides run in NHWC order, contiguous otherwise (measured
// against F.conv2d; tests/test_conv2d.py, test_conv_empty_batch_layout).
at::MemoryFormat empty_batch_format(const at::Tensor& x, at::IntArrayRef out_size) {
  return x.dim() == 4 && x.sizes() == out_size && x.stride(1) < x.stride(3) &&
                 x.stride(3) < x.stride(2)
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
}

}  // namespace

Conv2dPlan plan_conv2d(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  constexpr const char* op = "cuops.conv2d";
  TORCH_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, op,
                    ": expected 'input' to be 3-D (C, H, W) or 4-D (N, C, H, W), but got a ",
                    input.dim(), "-D tensor of shape ", shape_str(input.sizes()));
  TORCH_CHECK_VALUE(weight.dim() == 4, op,
                    ": expected 'weight' to be 4-D (out_channels, in_channels/groups, kH, kW), "
                    "but got a ", weight.dim(), "-D tensor of shape ", shape_str(weight.sizes()));
  check_float_dtype(input, op, "input");
  check_float_dtype(weight, op, "weight");
  check_same_dtype(input, "input", weight, "weight", op);
  check_same_device(input, "input", weight, "weight", op);
  if (bias.has_value()) {
    const at::Tensor& b = *bias;
    check_float_dtype(b, op, "bias");
    check_same_dtype(input, "input", b, "bias", op);
    check_same_device(input, "input", b, "bias", op);
    TORCH_CHECK_VALUE(b.dim() == 1 && b.size(0) == weight.size(0), op,
                      ": expected 'bias' to be 1-D of length ", weight.size(0),
                      " (weight.size(0)), but got shape ", shape_str(b.sizes()));
  }
  const Args a = check_args(op, stride, padding, dilation, groups);
  // Unbatched input runs as a batch of one, as torch does.
  const bool unbatched = input.dim() == 3;
  const at::Tensor x = unbatched ? input.unsqueeze(0) : input;
  int64_t P = 0, Q = 0;
  check_shapes(op, "input", x.sizes(), weight.sizes(), a, &P, &Q);
  // As F.conv2d: an input may be empty in its batch or channel dimension only
  // (a padded empty image would otherwise give an output of bias values).
  TORCH_CHECK_VALUE(x.size(0) == 0 || x.size(1) == 0 || (x.size(2) > 0 && x.size(3) > 0), op,
                    ": 'input' of shape ", shape_str(input.sizes()),
                    " has an empty spatial dimension; only its batch or channel dimension may "
                    "be 0");

  Conv2dPlan plan;
  Conv2dProblem& p = plan.prob;
  fill_common(p, a);
  set_x(p, x);
  set_w(p, weight);
  p.P = P, p.Q = Q;
  // An empty batch takes torch's "Empty" path (its own layout rule, above).
  const auto fmt = p.N > 0 ? output_format(x, weight) : empty_batch_format(x, {p.N, p.K, P, Q});
  plan.out = at::empty({p.N, p.K, P, Q}, x.options().memory_format(fmt));
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
  plan.result = unbatched ? plan.out.squeeze(0) : plan.out;
  return plan;
}

namespace {

void check_grad_common(const char* op, const at::Tensor& grad_output, const at::Tensor& other,
                       const char* other_name, at::IntArrayRef size, const char* size_name) {
  TORCH_CHECK_VALUE(grad_output.dim() == 4, op,
                    ": expected 'grad_output' to be 4-D (N, K, P, Q), but got shape ",
                    shape_str(grad_output.sizes()));
  TORCH_CHECK_VALUE(other.dim() == 4, op, ": expected '", other_name, "' to be 4-D, but got shape ",
                    shape_str(other.sizes()));
  TORCH_CHECK_VALUE(size.size() == 4, op, ": expected '", size_name,
                    "' to have 4 elements, but got ", shape_str(size));
  for (int64_t v : size)
    TORCH_CHECK_VALUE(v >= 0, op, ": '", size_name, "' must be non-negative, but got ",
                      shape_str(size));
  check_float_dtype(grad_output, op, "grad_output");
  check_float_dtype(other, op, other_name);
  check_same_dtype(grad_output, "grad_output", other, other_name, op);
  check_same_device(grad_output, "grad_output", other, other_name, op);
}

void check_grad_output_shape(const char* op, const at::Tensor& g, int64_t N, int64_t K, int64_t P,
                             int64_t Q) {
  const std::vector<int64_t> want{N, K, P, Q};
  TORCH_CHECK_VALUE(g.sizes().equals(want), op, ": expected 'grad_output' of shape ",
                    shape_str(want), ", but got ", shape_str(g.sizes()));
}

}  // namespace

Conv2dGradPlan plan_conv2d_backward_input(const at::Tensor& grad_output, const at::Tensor& weight,
                                          at::IntArrayRef input_size, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation,
                                          int64_t groups) {
  constexpr const char* op = "cuops.conv2d_backward_input";
  check_grad_common(op, grad_output, weight, "weight", input_size, "input_size");
  const Args a = check_args(op, stride, padding, dilation, groups);
  int64_t P = 0, Q = 0;
  check_shapes(op, "input_size", input_size, weight.sizes(), a, &P, &Q);
  check_grad_output_shape(op, grad_output, input_size[0], weight.size(0), P, Q);

  Conv2dGradPlan plan;
  Conv2dGradProblem& p = plan.prob;
  fill_common(p, a);
  const auto fmt = output_format(grad_output, weight);
  plan.out = at::empty(input_size, grad_output.options().memory_format(fmt));
  set_x(p, plan.out);
  set_w(p, weight);
  set_y(p, grad_output);
  p.P = P, p.Q = Q;
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
  constexpr const char* op = "cuops.conv2d_backward_weight";
  check_grad_common(op, grad_output, input, "input", weight_size, "weight_size");
  const Args a = check_args(op, stride, padding, dilation, groups);
  int64_t P = 0, Q = 0;
  check_shapes(op, "input", input.sizes(), weight_size, a, &P, &Q);
  check_grad_output_shape(op, grad_output, input.size(0), weight_size[0], P, Q);

  Conv2dGradPlan plan;
  Conv2dGradProblem& p = plan.prob;
  fill_common(p, a);
  const auto fmt = output_format(grad_output, input);
  plan.out = at::empty(weight_size, grad_output.options().memory_format(fmt));
  set_x(p, input);
  set_w(p, plan.out);
  set_y(p, grad_output);
  p.P = P, p.Q = Q;
  p.x = input.const_data_ptr();
  p.dy = grad_output.const_data_ptr();
  p.dw = plan.out.data_ptr();
  p.dtype = grad_output.scalar_type();
  return plan;
}

}  // namespace cuops
