// Step 10 of the CUDA matmul ladder: fp32 GEMM on Hopper's tf32 warpgroup
// tensor cores (sm_90a) at fp32 accuracy ("3xTF32", wgmma_3xtf32), and the
// same kernel with one TF32 product (wgmma_tf32: what allow_tf32 permits).
//
//   global --TMA (one thread; 128-byte swizzle, zero fill)--> raw A, raw B
//   raw B  --transform warpgroup: split, transpose if N-major--> B big, B small
//          (K-major, swizzled: what tf32 wgmma reads)              tf32.cuh: transform
//   raw A  --consumer: lds into wgmma's A fragment, split in registers-->
//   A_small B_big + A_big B_small + A_big B_big (wgmma m64n128k8, A from
//          registers) into `part` per k tile; acc += part           tf32.cuh: mainloop_tf32
//   acc (+ bias) --guarded fp32 stores--> C                         tf32.cuh: store_tile_f32
//
// Step 9 (mma_3xtf32.cu) has the arithmetic and its error argument; it ran
// at 0.70x cuBLAS's true fp32 because mma.sync's tf32 rate, after scalar
// fragment loads and the per-element split, left the tensor cores idle.
// Here the tensor cores read B straight from shared memory (one wgmma =
// 64 x 128 x 8 per warpgroup), only A's 16 values per k tile and thread go
// through registers, and B is split once per block instead of once per warp.
//
// Eligibility (else step 9's kernel, which solves every fp32 problem): a
// compute-capability-9.0 device and a build with an sm_90a target; M, N >= 64,
// K >= 8; each operand with a unit-stride dim, a 16-byte-aligned base and a
// leading stride that is a multiple of 4 elements (a tensor map); one GEMM or
// a batch whose products follow each other densely along one batch dim (as
// wgmma.cu). Deterministic: one block owns a tile and sums its K in order.
// Non-finite operands behave as in step 9 (its header comment).
#include "cuda/matmul/kernels.h"
#include "cuda/matmul/wgmma/host.cuh"
#include "cuda/matmul/wgmma/tf32.cuh"

namespace cuops::cuda {
namespace wgmma {
namespace {

template <class C, bool A_MN, bool B_MN>
__global__ void __launch_bounds__(C::kThreads, 1)
    gemm_tf32_wgmma_kernel(const __grid_constant__ Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[3 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Tf32Ring<C> ring = make_ring<C>(smem, bars, 1);  // the producer's expect_tx
  run_roles<C, A_MN, B_MN>(
      p, ring,
      [&](int tid) {
        if (tid == 0) produce<C, A_MN, B_MN>(p, ring);
      },
      [&](int64_t) { return p.ktiles; },
      [&](const float(&acc)[C::kAccRegs], int64_t z, int64_t m0, int64_t n0, int warp,
          int lane) { store_tile_f32<C>(p, acc, z, m0, n0, warp, lane); });
#endif
}

template <class C, bool A_MN, bool B_MN>
bool launch(const GemmProblem& p) {
  auto kernel = gemm_tf32_wgmma_kernel<C, A_MN, B_MN>;
  if (!kernel_in_build<C>(kernel)) return false;
  launch_persistent<C>(kernel, gemm_params<float, C, A_MN, B_MN>(p));
  return true;
}

template <class C>
bool launch_layout(const GemmProblem& p, bool a_mn, bool b_mn) {
  if (!a_mn && b_mn) return launch<C, false, true>(p);   // A row-major, B row-major
  if (!a_mn && !b_mn) return launch<C, false, false>(p); // B = W.mT (linear forward)
  if (a_mn && b_mn) return launch<C, true, true>(p);     // A = X.mT (weight gradient)
  return launch<C, true, false>(p);
}

// Runs p if this step handles it (the top of the file); false otherwise.
template <bool kSplit>
bool run(const GemmProblem& p) {
  if (p.dtype != at::kFloat || p.M == 0 || p.N == 0 || p.batch == 0) return false;
  if (!is_sm90()) return false;
  if (p.M < 64 || p.N < 64 || p.K < 8) return false;
  using C = Tf32Tile<kTf32Default, kSplit>;
  bool a_mn = false, b_mn = false;
  if (!map_layouts<float>(p, C::BK, a_mn, b_mn)) return false;
  return launch_layout<C>(p, a_mn, b_mn);
}

}  // namespace
}  // namespace wgmma

bool gemm_wgmma_tf32x3_try(const GemmProblem& p, bool split) {
  return split ? wgmma::run<true>(p) : wgmma::run<false>(p);
}

void gemm_wgmma_3xtf32(const GemmProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.matmul(wgmma_3xtf32): unsupported dtype ",
                   p.dtype);
  if (!gemm_wgmma_tf32x3_try(p, true)) gemm_mma_3xtf32(p);  // other problems, devices, builds
}

void gemm_wgmma_tf32(const GemmProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.matmul(wgmma_tf32): unsupported dtype ", p.dtype);
  if (!gemm_wgmma_tf32x3_try(p, false)) gemm_mma_tf32(p);
}

}  // namespace cuops::cuda
