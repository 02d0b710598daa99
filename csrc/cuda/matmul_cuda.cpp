// CUDA entry point of cuops.gemm (and so of cuops.matmul and cuops.linear):
// the ladder (a C++ file: op_entry.h says why), one file per step in
// csrc/cuda/matmul/ (docs/matmul-worklog.md).
//
// A GEMM of M x N x K does 2MNK FLOPs on (MK + KN + MN) elements: at 4096^3
// that is 1365 FLOP per fp32 element, far above the H100's FMA:bandwidth
// ratio (~20 FLOP/byte), so a good kernel is compute-bound and the ladder is
// about feeding the FMA units: from global memory (naive), then shared
// memory (smem_tiled), then registers (regblock), then the warp's shared
// load pattern and overlap (warptile), then tensor cores (mma_sync), then
// Hopper's asynchronous warpgroup tensor cores fed by the copy engine (wgmma);
// fp32 on the tf32 tensor cores with split operands (mma_3xtf32, then on
// wgmma: wgmma_3xtf32), and plain TF32 (mma_tf32, wgmma_tf32: what
// torch.backends.cuda.matmul.allow_tf32 permits).
//
// The tile kernels assume a big product. Shapes that are not -- a vector
// operand (GEMV: memory-bound, 2 FLOPs per matrix element), too few output
// tiles for the SMs (decode-sized M, ~1000^3), or a K so long that a serial
// sum loses accuracy -- get their own steps: gemv (bandwidth-bound matrix-
// vector) and splitk, the planner (gemv for vectors, a 64 x 64 tile or a
// K split with a deterministic finishing sum where the tiles cannot fill the
// GPU, else exactly the tile kernel of the dtype). Its rules are written
// once, at the top of matmul/splitk.cu.
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
      "tensor cores (mma.sync) with a multi-stage cp.async pipeline; fp16/bf16"},
     {"gemv", kAllFloat, &gemm_gemv,
      "matrix-vector (M or N == 1): 16-byte loads along the matrix's contiguous dim, K split "
      "over blocks, compensated deterministic sums; other shapes: the dtype's tile kernel"},
     {"splitk", kAllFloat, &gemm_splitk,
      "planner: gemv for vectors; 64x64 tiles (fp16/bf16) and/or K split into an fp32 "
      "workspace + a fixed-order finishing sum when tiles cannot fill the GPU or K is long; "
      "else the dtype's tile kernel"},
     {"wgmma", kHalfTypes, &gemm_wgmma,
      "Hopper (sm_90a): TMA-fed smem ring, warp-specialized producer + 2 consumer warpgroups on "
      "wgmma, persistent grid; dense batches stacked into one map; other problems/devices: "
      "mma_sync"},
     {"mma_3xtf32", kFloatOnly, &gemm_mma_3xtf32,
      "fp32 on tf32 tensor cores (mma.sync): each operand split into tf32 big + small, "
      "3 products (big*big, big*small, small*big) for ~fp32 accuracy; opt-in; layouts without "
      "16-byte loads: warptile_static"},
     {"mma_tf32", kFloatOnly, &gemm_mma_tf32,
      "mma_3xtf32 without the split: operands rounded to tf32 (10-bit mantissa), one product; "
      "what torch computes under allow_tf32, and the planner's fp32 tile kernel when it is set "
      "(off sm_90 or where wgmma_tf32 does not apply)"},
     {"wgmma_3xtf32", kFloatOnly, &gemm_wgmma_3xtf32,
      "mma_3xtf32's split on Hopper (sm_90a): TMA ring, a transform warpgroup splits B into "
      "K-major big/small tiles, consumers split A in registers, 3 tf32 wgmma per k step; "
      "other problems/devices: mma_3xtf32"},
     {"wgmma_tf32", kFloatOnly, &gemm_wgmma_tf32,
      "wgmma_3xtf32 without the split: one tf32 wgmma per k step; the planner's fp32 kernel on "
      "sm_90 under allow_tf32; other problems/devices: mma_tf32"}},
    // Default: the planner, for every dtype. It runs the dtype's fastest tile
    // kernel unchanged where the output tiles fill the GPU and K is short,
    // and gemv / 64x64 tiles / split K elsewhere (docs/matmul-worklog.md,
    // steps 6-7; its rules are at the top of matmul/splitk.cu).
    {"splitk"},
    "cuops.gemm");

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
  kGemmCuda.run_default(p);
}

TORCH_LIBRARY_IMPL(cuops, CUDA, m) { m.impl("gemm", &gemm_cuda); }

}  // namespace cuops::cuda
