// CUDA kernels of cuops.gemm (and so of cuops.matmul and cuops.linear): the
// ladder, one file per step in csrc/cuda/matmul/ (docs/matmul-worklog.md).
//
// A GEMM of M x N x K does 2MNK FLOPs on (MK + KN + MN) elements: at 4096^3
// that is 1365 FLOP per fp32 element, far above the H100's FMA:bandwidth
// ratio (~20 FLOP/byte), so a good kernel is compute-bound and the ladder is
// about feeding the FMA units: from global memory (naive), then shared
// memory (smem_tiled), then registers (regblock), then the warp's shared
// load pattern and overlap (warptile), then tensor cores (mma_sync).
#include <torch/library.h>

#include "cuda/cuda_utils.cuh"
#include "cuda/matmul/kernels.h"
#include "matmul.h"
#include "op_entry.h"

namespace cuops::cuda {
namespace {

using GemmFn = void (*)(const GemmProblem&);

const Ladder<GemmFn> kGemmCuda(
    "matmul", "cuda",
    {{"naive", kAllFloat, &gemm_naive, "one thread per output, operands read from global memory"},
     {"smem_tiled", kAllFloat, &gemm_smem_tiled,
      "32x32 shared-memory tiles, one output per thread"},
     {"regblock", kAllFloat, &gemm_regblock,
      "128x128 block tile, 8x8 outputs per thread in registers, 16-byte global loads"},
     {"warptile", kAllFloat, &gemm_warptile,
      "warp tiles (64x64 of a 128x128 block), double-buffered shared memory; fp32 flagship and "
      "fp64 path"},
     {"warptile_static", kFloatOnly, &gemm_warptile_static,
      "warptile with the operand layouts as template parameters: ~128 registers, 2 blocks per SM; "
      "fp32"},
     {"mma_sync", kHalfTypes, &gemm_mma_sync,
      "tensor cores (mma.sync) with a multi-stage cp.async pipeline; fp16/bf16"}},
    // Default: the fastest step that supports the dtype (docs/matmul-worklog.md).
    {"mma_sync", "warptile_static", "warptile", "regblock", "smem_tiled", "naive"}, "cuops.gemm");

at::Tensor gemm_cuda(const at::Tensor& a, const at::Tensor& b,
                     const std::optional<at::Tensor>& bias,
                     std::optional<c10::string_view> variant) {
  GemmPlan plan = plan_gemm(a, b, bias);
  run_ladder<c10::cuda::CUDAGuard>(kGemmCuda, variant, plan.out, plan.p, plan.run_kernel);
  return plan.out;
}

}  // namespace

void gemm_default(const GemmProblem& p) {
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  kGemmCuda.select(std::nullopt, p, p.dtype).fn(p);
}

TORCH_LIBRARY_IMPL(cuops, CUDA, m) { m.impl("gemm", &gemm_cuda); }

}  // namespace cuops::cuda
