// Step 3 of the conv2d ladder: implicit GEMM on tensor cores (stub; the real
// kernel is written separately and replaces this file).
#include "cuda/conv2d/kernels.h"

namespace cuops::cuda {

void conv2d_implicit_gemm_mma(const Conv2dProblem&) {
  TORCH_CHECK(false, "cuops.conv2d: variant 'implicit_gemm_mma' is not built yet");
}

}  // namespace cuops::cuda
