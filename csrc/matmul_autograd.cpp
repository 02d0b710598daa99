// Autograd of cuops.gemm (behind matmul and linear), in C++ at the Autograd
// dispatch key, with our own kernels only:
//   grad_a = grad @ b^T, grad_b = a^T @ grad   (b.mT / a.mT are strided views)
// each summed over the batch dimensions its input was broadcast along
// (sum_to); grad_bias = grad summed down to [N]. The gradients are gemm calls
// through the full dispatcher, so they are differentiable again (double
// backward: gemm's own formula) and traceable (torch.compile, torch.export).
// The gradient GEMMs run the forward's variant.
//
// Why C++: the Python autograd kernel of torch.library cost ~100 us of host
// time per linear layer and step (csrc/conv2d_autograd.cpp says more).
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include "op_calls.h"

namespace cuops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Variant = std::optional<c10::string_view>;

// g summed down to `shape` where gemm broadcast its operand.
at::Tensor reduce_to(const at::Tensor& g, c10::SymIntArrayRef shape) {
  return g.sym_sizes() == shape ? g : call_sum_to(g, shape);
}

}  // namespace

// Outside the anonymous namespace: its name is what grad_fn, the profiler and
// anomaly mode show (CppNode<cuops::GemmFunction>).
class GemmFunction : public torch::autograd::Function<GemmFunction> {
 public:
  // The backward is dispatcher calls only: compiled autograd may trace it.
  static constexpr bool is_traceable = true;

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            const std::optional<at::Tensor>& bias, Variant variant) {
    ctx->save_for_backward({a, b});
    if (variant) ctx->saved_data["variant"] = std::string(*variant);
    ctx->saved_data["bias"] = bias.has_value() && bias->defined();
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return call_gemm(a, b, bias, variant);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &a = saved[0], &b = saved[1], &grad = grads[0];
    const auto it = ctx->saved_data.find("variant");
    const std::string variant = it == ctx->saved_data.end() ? "" : it->second.toStringRef();
    const Variant v = variant.empty() ? std::nullopt : Variant(variant);
    at::Tensor ga, gb, gbias;
    if (ctx->needs_input_grad(0)) ga = reduce_to(call_gemm(grad, b.mT(), std::nullopt, v), a.sym_sizes());
    if (ctx->needs_input_grad(1)) {
      if (b.dim() == 2 && a.dim() > 2) {
        // b is shared by every batch item (a linear layer's weight): fold the
        // batch into the contraction, one [K, B*M] @ [B*M, N] GEMM instead of
        // B products summed afterwards. (flatten is a view for the usual
        // contiguous a and grad, a copy otherwise; unlike reshape(-1, k) it
        // also takes K == 0 or N == 0.)
        gb = call_gemm(a.flatten(0, -2).mT(), grad.flatten(0, -2), std::nullopt, v);
      } else {
        gb = reduce_to(call_gemm(a.mT(), grad, std::nullopt, v), b.sym_sizes());
      }
    }
    // The bias is an edge only when it was passed.
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2))
      gbias = call_sum_to(grad, {grad.sym_size(-1)});
    return {ga, gb, gbias, at::Tensor()};
  }
};

namespace {

// No gradient can flow (grad mode off, as in a backward without create_graph,
// or no input requires grad): the op below autograd, without a graph node.
at::Tensor gemm_autograd(const at::Tensor& a, const at::Tensor& b,
                         const std::optional<at::Tensor>& bias, Variant variant) {
  if (!records_graph(a, b, bias)) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return call_gemm(a, b, bias, variant);
  }
  return GemmFunction::apply(a, b, bias, variant);
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, Autograd, m) { m.impl("gemm", &gemm_autograd); }

}  // namespace cuops
