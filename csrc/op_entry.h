// The one sequence every CPU and CUDA entry point runs after building its
// plan: the tensors are on the kernel's device, the ladder picks the step,
// the device is made current, and the step runs unless there is nothing to
// compute. Written once so that every op behaves (and words its errors) the
// same way.
//
// The CUDA entry points (csrc/cuda/*_cuda.cpp) are C++ files, not CUDA ones:
// the registration, the ladder and its rules are host code that the C++
// compiler builds once; the kernels and their launchers stay in .cu files.
#pragma once

#include "cuops.h"

namespace cuops {

// The guard of a device that needs none (CPU).
struct NoDeviceGuard {
  explicit NoDeviceGuard(at::Device) {}
};

// `out` is the plan's output (its device and dtype are the call's); `has_work`
// is false for an empty output. `extra` follows the problem into the step's
// function. Guard: c10::cuda::CUDAGuard for CUDA ladders.
template <typename Guard = NoDeviceGuard, typename Fn, typename... Extra>
void run_ladder(const Ladder<Fn>& ladder, const std::optional<c10::string_view>& variant,
                const at::Tensor& out, const typename Ladder<Fn>::Problem& problem, bool has_work,
                const Extra&... extra) {
  TORCH_CHECK(out.device().type() == ladder.device_type(), ladder.label(), ": the ",
              c10::DeviceTypeName(ladder.device_type()), " kernel got tensors on ", out.device());
  const auto& step = ladder.select(variant, problem, out.scalar_type());
  const Guard guard(out.device());
  if (has_work) step.fn(problem, extra...);
}

}  // namespace cuops
