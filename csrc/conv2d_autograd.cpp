// Autograd of cuops.conv2d, in C++ at the Autograd dispatch key (as
// torchvision's ops): grad_input by the dgrad op, grad_weight by the wgrad op,
// grad_bias = sum_to(grad_output) over (N, P, Q), each through the dispatcher
// so that every backend, the fake kernels (torch.compile, torch.export) and
// autocast see the same ops.
//
// Why C++ and not torch.library.register_autograd: a converted network calls
// conv2d once per layer and step, and the Python autograd kernel cost ~130 us
// of host time per layer (forward and backward, CPU host, 2026-12-07): a
// ResNet-50 bf16 training step issued in 26 ms of host time against 25.6 ms of
// device time (torch: 18 / 21), i.e. the step was host-bound.
//
// The gradient steps: the ladders' defaults unless cuops.use_variant names one
// (cuops/variants.py mirrors its choices into variant_override, op_calls.h).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include "op_calls.h"

namespace cuops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Variant = std::optional<c10::string_view>;

at::Tensor conv2d_op(const at::Tensor& input, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                     Variant variant) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cuops::conv2d", "")
                             .typed<decltype(conv2d_op)>();
  return op.call(input, weight, bias, stride, padding, dilation, groups, variant);
}

// dgrad and wgrad share a signature: (grad_output, the other operand, the
// size of the gradient, the convolution's arguments, variant).
using GradSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymIntArrayRef,
                           at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, int64_t, Variant);

struct GradOp {
  const char* name;  // the op's name, as cuops.use_variant takes it
  c10::TypedOperatorHandle<GradSig> handle;
};

GradOp make_grad_op(const char* name) {
  return {name, c10::Dispatcher::singleton()
                    .findSchemaOrThrow((std::string("cuops::") + name).c_str(), "")
                    .typed<GradSig>()};
}

const GradOp& dgrad_op() {
  static const GradOp op = make_grad_op("conv2d_backward_input");
  return op;
}

const GradOp& wgrad_op() {
  static const GradOp op = make_grad_op("conv2d_backward_weight");
  return op;
}

}  // namespace

// Outside the anonymous namespace: its name is what grad_fn, the profiler and
// anomaly mode show (CppNode<cuops::Conv2dFunction>).
class Conv2dFunction : public torch::autograd::Function<Conv2dFunction> {
 public:
  // The backward is dispatcher calls only: compiled autograd may trace it.
  static constexpr bool is_traceable = true;

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, int64_t groups, Variant variant) {
    ctx->save_for_backward({input, weight});
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["dilation"] = dilation.vec();
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["bias"] = bias.has_value() && bias->defined();
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return conv2d_op(input, weight, bias, stride, padding, dilation, groups, variant);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    at::Tensor x = saved[0], grad = grads[0];
    const at::Tensor& w = saved[1];
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const auto dilation = ctx->saved_data["dilation"].toIntVector();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const bool unbatched = x.dim() == 3;  // the gradient ops see a batch of one
    if (unbatched) {
      x = x.unsqueeze(0);
      grad = grad.unsqueeze(0);
    }
    const auto call = [&](const GradOp& op, const at::Tensor& other, c10::SymIntArrayRef size) {
      const std::optional<std::string> v = variant_override(op.name, grad.device().type());
      return op.handle.call(grad, other, size, stride, padding, dilation, groups,
                            v ? Variant(*v) : std::nullopt);
    };
    at::Tensor gi, gw, gb;
    if (ctx->needs_input_grad(0)) {
      gi = call(dgrad_op(), w, x.sym_sizes());
      if (unbatched) gi = gi.squeeze(0);
    }
    if (ctx->needs_input_grad(1)) gw = call(wgrad_op(), x, w.sym_sizes());
    // The bias is an edge only when it was passed (optional tensors that are
    // absent are not variables of the Function).
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) {
      const c10::SymInt k = grad.sym_size(1);
      gb = call_sum_to(grad, {k, 1, 1}).reshape_symint({k});
    }
    return {gi, gw, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

namespace {

// No gradient can flow (grad mode off, or no input requires grad): the op
// below autograd, without a graph node and its saved state.
at::Tensor conv2d_autograd(const at::Tensor& input, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                           Variant variant) {
  if (!records_graph(input, weight, bias)) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return conv2d_op(input, weight, bias, stride, padding, dilation, groups, variant);
  }
  return Conv2dFunction::apply(input, weight, bias, stride, padding, dilation, groups, variant);
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, Autograd, m) { m.impl("conv2d", &conv2d_autograd); }

}  // namespace cuops
