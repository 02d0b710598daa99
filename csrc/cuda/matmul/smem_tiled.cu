// Step 2 of the matmul ladder: shared-memory tiling.
//
// A 32 x 32 block computes a 32 x 32 tile of C, one output per thread. It
// walks K in 32-wide slices: the block loads a 32 x 32 tile of A and of B
// into shared memory (each element read from global memory once per block
// instead of once per thread), then every thread runs 32 FMAs out of shared
// memory. Global traffic drops by the tile size (32x); the new limit is the
// shared-memory bandwidth (2 shared loads per FMA) and the one-output-per-
// thread overhead (index math, barriers), which step 3 attacks.
//
// Coalescing: the thread that loads an element is chosen so that consecutive
// threads read consecutive addresses, whichever dimension of the operand is
// unit-stride (row-major A, or a transposed view): the tile is then written
// to shared memory transposed, which the +1 padding keeps bank-conflict-free.
#include "cuda/matmul/common.cuh"

namespace cuops::cuda {
namespace {

constexpr int kTile = 32;

template <typename T>
__global__ void __launch_bounds__(kTile* kTile) gemm_smem_tiled_kernel(const __grid_constant__ GemmProblem p) {
  using S = acc_t<T>;
  __shared__ S As[kTile][kTile + 1];  // As[m][k]
  __shared__ S Bs[kTile][kTile + 1];  // Bs[k][n]
  const int tx = threadIdx.x, ty = threadIdx.y;
  int64_t tm, tn;
  mm::tile_coords(blockIdx.x, ceil_div<int64_t>(p.M, kTile), ceil_div<int64_t>(p.N, kTile), tm, tn);
  const int64_t m0 = tm * kTile, n0 = tn * kTile;
  // Loader orientation: (row, col) of the tile this thread loads.
  const bool a_m_fast = p.a_sm == 1 && p.a_sk != 1;  // A column-major: walk m across threads
  const bool b_k_fast = p.b_sk == 1 && p.b_sn != 1;  // B column-major: walk k across threads
  const int am = a_m_fast ? tx : ty, ak = a_m_fast ? ty : tx;
  const int bk = b_k_fast ? tx : ty, bn = b_k_fast ? ty : tx;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t off[3];
    mm::batch_offsets(p.batch_oc, z, off);
    const T* a = static_cast<const T*>(p.a) + off[1];
    const T* b = static_cast<const T*>(p.b) + off[2];
    S acc = 0;
    for (int64_t k0 = 0; k0 < p.K; k0 += kTile) {
      // Out-of-range elements load as 0, so the FMA loop needs no bounds.
      const int64_t gm = m0 + am, gka = k0 + ak, gkb = k0 + bk, gn = n0 + bn;
      As[am][ak] = gm < p.M && gka < p.K ? static_cast<S>(a[gm * p.a_sm + gka * p.a_sk]) : S(0);
      Bs[bk][bn] = gkb < p.K && gn < p.N ? static_cast<S>(b[gkb * p.b_sk + gn * p.b_sn]) : S(0);
      __syncthreads();
#pragma unroll
      for (int k = 0; k < kTile; ++k) acc += As[ty][k] * Bs[k][tx];
      __syncthreads();  // the next slice overwrites the tiles
    }
    const int64_t m = m0 + ty, n = n0 + tx;
    if (m < p.M && n < p.N)
      static_cast<T*>(p.c)[off[0] + m * p.c_sm + n * p.c_sn] =
          mm::epilogue(acc, static_cast<const T*>(p.bias), n);
  }
}

}  // namespace

void gemm_smem_tiled(const GemmProblem& p) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.matmul(smem_tiled)", [&] {
    gemm_smem_tiled_kernel<scalar_t><<<mm::gemm_grid(p, kTile, kTile), dim3(kTile, kTile), 0,
                                       at::cuda::getCurrentCUDAStream()>>>(p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace cuops::cuda
