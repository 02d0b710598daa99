// CUDA entry points of cuops.conv2d and its gradients: the kernel ladders
// and their default choice. The kernels: csrc/cuda/conv2d/*.cu.
//
// Forward ladder (teaching order):
//   direct             one thread per output, any dtype/layout/argument
//   implicit_gemm      SIMT implicit GEMM, 64x64x16 smem tiles
//   implicit_gemm_mma  tensor cores (mma.sync), fp16/bf16
//   depthwise          dedicated depthwise kernel (others -> implicit_gemm)
//   implicit_gemm_mma_splitk  step 3 + split-K when the tiles cannot fill the
//                      GPU (ResNet 512@7); otherwise exactly step 3
//   depthwise_nhwc     depthwise, channels_last, 8 channels per thread as
//                      16-byte vectors (others -> depthwise)
//   depthwise_nhwc_window  depthwise, channels_last, 8 channels x 8 pixels per
//                      thread as a sliding window in registers (other
//                      filters -> the depthwise_nhwc kernel, others -> depthwise)
//   depthwise_plane    depthwise, rows contiguous (NCHW): a plane band in smem,
//                      8-row vertical strips per thread (others -> depthwise)
// The default depends on the problem, not only on the dtype: depthwise
// problems take "depthwise_nhwc_window" when x and y are channels-contiguous,
// else "depthwise_plane"; fp16/bf16 take "implicit_gemm_mma_splitk" (since
// session 3: with the latency-bound finish fixed, splitting beats the plain
// step on 512@7, 0.46x -> 0.51x cuDNN, and is the plain step elsewhere),
// fp32/fp64 "implicit_gemm". It is decided here, before Ladder::select, so the shared
// Ladder stays dtype-only.
//
// Gradient ladders: "direct", "implicit_gemm" and "implicit_gemm_mma"
// (fp16/bf16: tensor-core wgrad; dgrad as a flipped-weight forward for
// stride 1, else the SIMT step). Default: direct for depthwise problems (one
// input channel per group leaves the 64-wide GEMM tiles almost empty),
// implicit_gemm_mma for fp16/bf16, implicit_gemm otherwise.
#include <torch/library.h>

#include "conv2d_plan.h"
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda {
namespace {

using FwdFn = void (*)(const Conv2dProblem&);
using GradFn = void (*)(const Conv2dGradProblem&);

const Ladder<FwdFn> kConvCuda(
    "conv2d", "cuda",
    {{"direct", kAllFloat, &conv2d_direct, "one thread per output; any layout and argument"},
     {"implicit_gemm", kAllFloat, &conv2d_implicit_gemm,
      "implicit GEMM, 64x64x16 shared-memory tiles, 4x4 per thread (SIMT)"},
     {"implicit_gemm_mma", kHalfTypes, &conv2d_implicit_gemm_mma,
      "implicit GEMM on tensor cores (mma.sync), multi-stage cp.async"},
     {"depthwise", kAllFloat, &conv2d_depthwise,
      "depthwise (groups == C): smem input tile + halo; other problems -> implicit_gemm"},
     {"implicit_gemm_mma_splitk", kHalfTypes, &conv2d_implicit_gemm_mma_splitk,
      "implicit_gemm_mma + split-K (fp32 partials, deterministic finish) when tiles < 1 wave"},
     {"depthwise_nhwc", kAllFloat, &conv2d_depthwise_nhwc,
      "depthwise, channels_last: 8 channels/thread, 16-byte vectors; others -> depthwise"},
     {"depthwise_nhwc_window", kAllFloat, &conv2d_depthwise_nhwc_window,
      "depthwise, channels_last: 8 channels x 8 pixels/thread, register sliding window; "
      "others -> depthwise_nhwc / depthwise"},
     {"depthwise_plane", kAllFloat, &conv2d_depthwise_plane,
      "depthwise, NCHW rows: plane band in smem, 8-row strips/thread; others -> depthwise"}},
    // Per dtype, for non-depthwise problems (depthwise ones: see forward_variant).
    {"implicit_gemm_mma_splitk", "implicit_gemm", "depthwise", "direct"});

const Ladder<GradFn> kDgradCuda(
    "conv2d_backward_input", "cuda",
    {{"direct", kAllFloat, &conv2d_backward_input_direct,
      "one thread per input-gradient element; taps filtered by stride divisibility"},
     {"implicit_gemm", kAllFloat, &conv2d_backward_input_implicit_gemm,
      "implicit GEMM (N*H*W x C/groups x K/groups*R*S), smem tiles (SIMT)"},
     {"implicit_gemm_mma", kHalfTypes, &conv2d_backward_input_implicit_gemm_mma,
      "stride 1: forward mma conv of dy with the flipped weight; else -> implicit_gemm"}},
    {"implicit_gemm_mma", "implicit_gemm", "direct"});

const Ladder<GradFn> kWgradCuda(
    "conv2d_backward_weight", "cuda",
    {{"direct", kAllFloat, &conv2d_backward_weight_direct,
      "one thread per (weight element, N*P*Q slice); partials + finishing pass"},
     {"implicit_gemm", kAllFloat, &conv2d_backward_weight_implicit_gemm,
      "implicit GEMM (K/groups x C/groups*R*S x N*P*Q), split-K partials (SIMT)"},
     {"implicit_gemm_mma", kHalfTypes, &conv2d_backward_weight_implicit_gemm_mma,
      "tensor cores (mma.sync, ldmatrix.trans), split over pixels, deterministic finish"}},
    {"implicit_gemm_mma", "implicit_gemm", "direct"});

std::optional<c10::string_view> forward_variant(std::optional<c10::string_view> variant,
                                                const Conv2dProblem& p) {
  if (variant.has_value() && !variant->empty()) return variant;
  if (is_depthwise(p))
    return c10::string_view(p.x_sc == 1 && p.y_sk == 1 ? "depthwise_nhwc_window"
                                                       : "depthwise_plane");
  if (p.dtype == at::kHalf || p.dtype == at::kBFloat16)
    return c10::string_view("implicit_gemm_mma_splitk");
  return c10::string_view("implicit_gemm");
}

std::optional<c10::string_view> grad_variant(std::optional<c10::string_view> variant,
                                             const Conv2dProblem& p) {
  if (variant.has_value() && !variant->empty()) return variant;
  if (is_depthwise(p)) return c10::string_view("direct");
  if (p.dtype == at::kHalf || p.dtype == at::kBFloat16) return c10::string_view("implicit_gemm_mma");
  return c10::string_view("implicit_gemm");
}

at::Tensor conv2d_cuda(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       std::optional<c10::string_view> variant) {
  Conv2dPlan plan = plan_conv2d(input, weight, bias, stride, padding, dilation, groups);
  TORCH_CHECK(plan.out.is_cuda(), "cuops.conv2d: the CUDA kernel got tensors on ",
              plan.out.device());
  const auto& step = kConvCuda.select(forward_variant(variant, plan.prob), plan.prob.dtype);
  const c10::cuda::CUDAGuard guard(plan.out.device());
  if (plan.out.numel() > 0) step.fn(plan.prob);
  return plan.result;
}

at::Tensor conv2d_backward_input_cuda(const at::Tensor& grad_output, const at::Tensor& weight,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      int64_t groups, std::optional<c10::string_view> variant) {
  Conv2dGradPlan plan = plan_conv2d_backward_input(
      grad_output, weight, C10_AS_INTARRAYREF_SLOW(input_size), stride, padding, dilation, groups);
  TORCH_CHECK(plan.out.is_cuda(), "cuops.conv2d_backward_input: the CUDA kernel got tensors on ",
              plan.out.device());
  const auto& step = kDgradCuda.select(grad_variant(variant, plan.prob), plan.prob.dtype);
  const c10::cuda::CUDAGuard guard(plan.out.device());
  if (plan.out.numel() > 0) step.fn(plan.prob);
  return plan.out;
}

at::Tensor conv2d_backward_weight_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                       c10::SymIntArrayRef weight_size, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation,
                                       int64_t groups, std::optional<c10::string_view> variant) {
  Conv2dGradPlan plan = plan_conv2d_backward_weight(
      grad_output, input, C10_AS_INTARRAYREF_SLOW(weight_size), stride, padding, dilation, groups);
  TORCH_CHECK(plan.out.is_cuda(), "cuops.conv2d_backward_weight: the CUDA kernel got tensors on ",
              plan.out.device());
  const auto& step = kWgradCuda.select(grad_variant(variant, plan.prob), plan.prob.dtype);
  const c10::cuda::CUDAGuard guard(plan.out.device());
  if (plan.out.numel() > 0) step.fn(plan.prob);  // N == 0 still writes zeros
  return plan.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, CUDA, m) {
  m.impl("conv2d", &conv2d_cuda);
  m.impl("conv2d_backward_input", &conv2d_backward_input_cuda);
  m.impl("conv2d_backward_weight", &conv2d_backward_weight_cuda);
}

}  // namespace cuops::cuda
