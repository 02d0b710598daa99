// conv2d_backward_input ladder step "implicit_gemm_mma_phases": dgrad of any
// stride (and dilation) as stride_h*stride_w forward tensor-core
// convolutions, one per output phase of dx. The decomposition (phase
// geometry, sub-filters packed flipped and K <-> C swapped, the phases'
// forward problems, zeroed phases) is device-independent host code shared
// with the CPU step `phases` (conv2d_dgrad_by_phases, csrc/conv2d_phases.cpp),
// so the CPU tests prove it; this step gives it the CUDA device and the
// split-K tensor-core forward.
#include <ATen/cuda/CUDAContext.h>

#include "conv2d_steps.h"
#include "cuda/conv2d/kernels.h"

namespace cuops::cuda {

void conv2d_backward_input_implicit_gemm_mma_phases(const Conv2dGradProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.conv2d_backward_input: variant 'implicit_gemm_mma_phases' supports float16 "
              "and bfloat16, got ", p.dtype);
  // The split-K forward: a phase has 1/(sh*sw) of the pixels, so strided
  // layers are where the plain tiles stop filling the GPU.
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_mma_splitk);
}

}  // namespace cuops::cuda
