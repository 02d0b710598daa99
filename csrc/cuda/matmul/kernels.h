// Launchers of the CUDA matmul ladder, one file per step (csrc/cuda/matmul/).
// Each solves the whole GemmProblem (any M, N, K, strides, batch, bias) for
// the dtypes its ladder entry lists, on the current stream, launch-checked.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "matmul.h"

namespace cuops::cuda {

void gemm_naive(const GemmProblem& p);       // 1. one thread per output
void gemm_smem_tiled(const GemmProblem& p);  // 2. shared-memory tiles
void gemm_regblock(const GemmProblem& p);    // 3. 2-D register blocking, 16-byte loads
void gemm_warptile(const GemmProblem& p);    // 4. warp tiling (fp32 flagship)
void gemm_warptile_static(const GemmProblem& p);  // 4b. layouts as template parameters (fp32)
void gemm_mma_sync(const GemmProblem& p);    // 5. tensor cores, mma.sync + cp.async (fp16/bf16)
void gemm_gemv(const GemmProblem& p);        // 6. matrix-vector (M or N == 1), bandwidth-bound
void gemm_splitk(const GemmProblem& p);      // 7. the planner: gemv, tile size, split-K
void gemm_wgmma(const GemmProblem& p);       // 8. Hopper: wgmma + TMA, warp-specialized (sm_90a)
// Step 8's kernel where it applies (fp16/bf16, one product, M and N >= 64,
// TMA-friendly operands, sm_90 device and build): runs it and returns true;
// else false, having done nothing (the planner's rule 5).
bool gemm_wgmma_try(const GemmProblem& p);
// The planner's split-K chunks (a batch of products into the fp32 workspace
// p.c, no bias) on the wgmma kernel, where they stack (splitk.cu, rule 5b);
// false: not run.
bool gemm_wgmma_partials_try(const GemmProblem& p);
void gemm_mma_3xtf32(const GemmProblem& p);  // 9. fp32 on tf32 tensor cores, split operands
void gemm_mma_tf32(const GemmProblem& p);    // 9b. the same kernel unsplit: plain TF32
void gemm_wgmma_3xtf32(const GemmProblem& p);  // 10. step 9's arithmetic on Hopper's wgmma (sm_90a)
void gemm_wgmma_tf32(const GemmProblem& p);    // 10b. the same kernel unsplit: plain TF32
// Step 10's kernel where it applies (fp32, M and N >= 64, TMA-friendly
// operands, sm_90 device and build; `split`: 3xTF32, else one TF32 product):
// runs it and returns true; else false, having done nothing.
bool gemm_wgmma_tf32x3_try(const GemmProblem& p, bool split);

// Building blocks of steps 6-7.
// The tile kernel of p's dtype: mma_sync (fp16/bf16), warptile_static (fp32),
// warptile (fp64).
void gemm_tile_default(const GemmProblem& p);
// The same kernel with C in acc_t of p.dtype (fp32 partials for fp16/bf16,
// no rounding to p.dtype; no bias): the split-K chunks' products.
void gemm_tile_acc(const GemmProblem& p);
// mma_sync with the planner's choices: `tile64` = the 64 x 64 configuration on
// the fast path; `f32_partials` = C is an fp32 workspace (no bias, no rounding).
void gemm_mma_sync_planned(const GemmProblem& p, bool tile64, bool f32_partials);
// C = sum over s of ws[s][batch][M][N] (acc_t of p.dtype), in a fixed
// compensated order, + bias, converted and written through C's strides.
void finish_partials(const GemmProblem& p, const at::Tensor& ws, int64_t S);

// What cuops.matmul runs on `p` with no variant named: the ladder's default
// step for this problem and dtype (matmul_cuda.cpp). Other ops whose problem
// is a plain GEMM (conv2d's 1x1 layers) call this, so they ride on the
// fastest GEMM path and its planner.
void gemm_default(const GemmProblem& p);

// Entries of the steps' development tuning tables (CUOPS_MATMUL_CONFIG=
// "<step>=<i>", see mm::tuning_config). Entry 0 is the step's default choice;
// the others are compiled only with -DCUOPS_EXPLORE (setup.py: CUOPS_EXPLORE=1),
// except wgmma's (wgmma.cu).
int mma_sync_tuning_entries();
int wgmma_tuning_entries();
int warptile_tuning_entries();
int warptile_static_tuning_entries();

// {step, entries} for cuops._C.tuning_tables().
inline std::vector<std::pair<std::string, int>> matmul_tuning_tables() {
  return {{"mma_sync", mma_sync_tuning_entries()},
          {"warptile", warptile_tuning_entries()},
          {"warptile_static", warptile_static_tuning_entries()},
          {"wgmma", wgmma_tuning_entries()}};
}

}  // namespace cuops::cuda
