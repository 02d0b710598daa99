// Step 1 of the matmul ladder: one thread per output element.
//
// C[m][n] = sum_k A[m][k] * B[k][n]: each thread streams a row of A and a
// column of B straight from global memory. A 16 x 16 block has threadIdx.x
// along n, so a warp reads 16 consecutive B elements (coalesced when B is
// row-major) while A's element is the same for half a warp (a broadcast).
// Arithmetic intensity is ~2 FLOP per 2 loads: the caches do all the work,
// which is why this step is memory-bound and far from the FMA peak.
#include "cuda/matmul/common.cuh"

namespace cuops::cuda {
namespace {

constexpr int kTile = 16;

template <typename T>
__global__ void __launch_bounds__(kTile* kTile) gemm_naive_kernel(const __grid_constant__ GemmProblem p) {
  using S = acc_t<T>;
  int64_t tm, tn;
  mm::tile_coords(blockIdx.x, ceil_div<int64_t>(p.M, kTile), ceil_div<int64_t>(p.N, kTile), tm, tn);
  const int64_t m = tm * kTile + threadIdx.y, n = tn * kTile + threadIdx.x;
  if (m >= p.M || n >= p.N) return;  // no barrier in this kernel: early exit is safe
  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t off[3];
    mm::batch_offsets(p.batch_oc, z, off);
    const T* a = static_cast<const T*>(p.a) + off[1] + m * p.a_sm;
    const T* b = static_cast<const T*>(p.b) + off[2] + n * p.b_sn;
    S acc = 0;
    for (int64_t k = 0; k < p.K; ++k)
      acc += static_cast<S>(a[k * p.a_sk]) * static_cast<S>(b[k * p.b_sk]);
    static_cast<T*>(p.c)[off[0] + m * p.c_sm + n * p.c_sn] =
        mm::epilogue(acc, static_cast<const T*>(p.bias), n);
  }
}

}  // namespace

void gemm_naive(const GemmProblem& p) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.matmul(naive)", [&] {
    gemm_naive_kernel<scalar_t><<<mm::gemm_grid(p, kTile, kTile), dim3(kTile, kTile), 0,
                                  at::cuda::getCurrentCUDAStream()>>>(p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace cuops::cuda
