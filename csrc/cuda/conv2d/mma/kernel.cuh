// Tensor-core implicit GEMM: the kernel, as its sequence of stages, and the
// launch of one configuration over the groups.
#pragma once

#include "cuda/conv2d/mma/epilogue.cuh"
#include "cuda/conv2d/mma/mainloop.cuh"

#include <algorithm>

namespace cuops::cuda::conv_mma {
namespace {

// kSplit: split-K. blockIdx.y owns a slice of GEMM-K and writes its fp32
// partial tile to p.ws (splitk.cuh sums the slices).
template <typename T, class C, bool kFastA, bool kSplit = false>
__global__ void __launch_bounds__(C::kThreads, min_blocks<C>())
    conv2d_mma_kernel(const MmaParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  static_assert(kFastA || (C::BK == 32 && !C::kFragDB), "general A: BK 32, plain loop (GeneralOf)");
  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t smem_base = smem_u32(smem);
  const WarpPos wp = warp_pos<C>();                // this thread's warp and lane
  const BlockTile blk = block_tile<C, kSplit>(p);  // output tile, GEMM-K range
  BLoader<C, kFastA> load_b(p, blk);               // weight rows
  ALoader<C, kFastA> load_a(p, blk, smem);         // input pixels, im2col on the fly
  float acc[C::MT][C::NT][4];
  mainloop<T, C, kFastA>(p, smem_base, wp, blk, load_a, load_b, acc);
  if constexpr (kSplit) {
    store_partial<C>(p, wp, blk, acc);
  } else {
    store_output<T, C>(p, wp, blk, acc);
  }
#else
  __trap();  // the launcher refuses devices below sm_80
#endif
}

// The kernel of one configuration/path, with its dynamic shared memory
// opted into (above 48 KB it must be, per kernel and device).
template <typename T, class C, bool kFastA, bool kSplit>
auto prepared_kernel() {
  auto kernel = conv2d_mma_kernel<T, C, kFastA, kSplit>;
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmem));
  return kernel;
}

// One launch per 65535 groups (grid.z), `splits` GEMM-K slices in grid.y.
template <typename T, class C, bool kFastA, bool kSplit>
void launch_grid(MmaParams prm, int64_t groups, int splits) {  // by value: sets tiles_n, g0
  auto kernel = prepared_kernel<T, C, kFastA, kSplit>();
  prm.tiles_n = static_cast<int>(ceil_div<int64_t>(prm.Kg, C::BN));
  const int64_t tiles = ceil_div<int64_t>(prm.M, C::BM) * prm.tiles_n;
  TORCH_CHECK(tiles <= INT_MAX, "cuops.conv2d (implicit_gemm_mma): problem too large (",
              prm.M, " output pixels)");
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  constexpr int64_t kMaxZ = 65535;
  for (int64_t g0 = 0; g0 < groups; g0 += kMaxZ) {
    prm.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits),
                    static_cast<unsigned>(std::min<int64_t>(kMaxZ, groups - g0)));
    kernel<<<grid, C::kThreads, C::kSmem, stream>>>(prm);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// One configuration over the whole GEMM-K (no split).
template <typename T, class C, bool kFastA>
void launch_plain(MmaParams prm, int64_t groups) {
  prm.KT = static_cast<int>(ceil_div<int64_t>(prm.Ktot, C::BK));
  launch_grid<T, C, kFastA, false>(prm, groups, 1);
}

}  // namespace
}  // namespace cuops::cuda::conv_mma
