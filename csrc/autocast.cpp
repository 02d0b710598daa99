// Autocast for every cuops op, in one place, following torch's policy for the
// torch op each one stands for:
//  - gemm (behind matmul and linear) and conv2d: lower precision, as
//    torch.matmul / F.linear / F.conv2d. Every floating tensor argument on the
//    autocast device except float64 is cast to the autocast dtype of the
//    active context (torch.autocast(device, dtype=...)), then the op runs with
//    autocast off. Casts of weights are cached for the context, as torch's.
//  - add: none, as torch.add (on none of autocast's lists): mixed dtypes
//    promote (cuops.add converts to torch.result_type itself).
//  - sum_to and the conv2d gradient ops: none; they run in the dtypes of the
//    forward, as torch's backward ops do.
// Ops without a kernel here pass through autocast (torch's fallthrough).
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace cuops {
namespace {

template <c10::DeviceType kDevice>
void lower_precision_fp(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      at::autocast::get_autocast_dispatch_key_from_device_type(kDevice));
  const auto dtype = at::autocast::get_autocast_dtype(kDevice);
  const size_t n = op.schema().arguments().size();
  for (auto it = stack->end() - static_cast<std::ptrdiff_t>(n); it != stack->end(); ++it)
    if (it->isTensor()) *it = at::autocast::cached_cast(dtype, it->toTensor(), kDevice);
  op.callBoxed(stack);
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, AutocastCPU, m) {
  constexpr auto kCpu = c10::DeviceType::CPU;
  m.impl("gemm", torch::CppFunction::makeFromBoxedFunction<&lower_precision_fp<kCpu>>());
  m.impl("conv2d", torch::CppFunction::makeFromBoxedFunction<&lower_precision_fp<kCpu>>());
}

TORCH_LIBRARY_IMPL(cuops, AutocastCUDA, m) {
  constexpr auto kCuda = c10::DeviceType::CUDA;
  m.impl("gemm", torch::CppFunction::makeFromBoxedFunction<&lower_precision_fp<kCuda>>());
  m.impl("conv2d", torch::CppFunction::makeFromBoxedFunction<&lower_precision_fp<kCuda>>());
}

}  // namespace cuops
