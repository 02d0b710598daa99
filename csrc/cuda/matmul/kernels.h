// Launchers of the CUDA matmul ladder, one file per step (csrc/cuda/matmul/).
// Each solves the whole GemmProblem (any M, N, K, strides, batch, bias) for
// the dtypes its ladder entry lists, on the current stream, launch-checked.
#pragma once

#include "matmul.h"

namespace cuops::cuda {

void gemm_naive(const GemmProblem& p);       // 1. one thread per output
void gemm_smem_tiled(const GemmProblem& p);  // 2. shared-memory tiles
void gemm_regblock(const GemmProblem& p);    // 3. 2-D register blocking, 16-byte loads
void gemm_warptile(const GemmProblem& p);    // 4. warp tiling (fp32 flagship)
void gemm_warptile_static(const GemmProblem& p);  // 4b. layouts as template parameters (fp32)
void gemm_mma_sync(const GemmProblem& p);    // 5. tensor cores, mma.sync + cp.async (fp16/bf16)

}  // namespace cuops::cuda
