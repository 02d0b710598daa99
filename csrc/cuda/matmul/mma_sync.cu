// STUB: replaced by the real tensor-core kernel (matmul-mma helper) at merge.
#include "cuda/matmul/kernels.h"

namespace cuops::cuda {

void gemm_mma_sync(const GemmProblem& p) {
  TORCH_CHECK(false, "cuops.matmul: variant 'mma_sync' is not built yet");
}

}  // namespace cuops::cuda
