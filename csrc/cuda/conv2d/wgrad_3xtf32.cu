// Step of the conv2d wgrad ladder: fp32 on the TF32 tensor cores at fp32
// accuracy (3xTF32; the warp core of matmul mma_3xtf32, tf32x3.cuh).
//
// GEMM per group and the split over pixels as in wgrad_regtile.cu (the shared
// plan regtile::plan_wgrad_split: fixed chunks, partial rows, a fixed-order
// finish; deterministic, no atomics): dw[k][tap] = sum over pixels of
// dy[j][k] * im2col(x)[j][tap], M = K/groups filters, N = C/groups*R*S taps.
//
// Both operands are gathered element by element with 4-byte cp.async into
// the 4-stage ring, stored K-contiguous ([row][pixel]): a thread owns one
// pixel of the k tile (one (n, p, q) decomposition per tile) and 16 rows of
// each operand. Which rows a warp's lanes take depends on the layout, so
// that a warp request stays in few 32-byte sectors:
//   NCHW            lanes = 32 consecutive pixels of one row (contiguous q)
//   channels_last   lanes = 8 consecutive rows (filters of dy, taps with c
//                   fastest of x) x 4 pixels: 32 contiguous bytes each
// The block's 128 taps (the forward's tap table) sit in shared memory.
#include "cuda/conv2d/regtile.cuh"
#include "cuda/matmul/tf32x3.cuh"

namespace cuops::cuda {
namespace {

using tf32x3::Cfg;
using tf32x3::kDefault;
using tf32x3::smem_idx;
using namespace ptx;

using Args = regtile::WgradArgs;

// Thread -> (pixel of the k tile, first row, row step); kRowLanes rows side by
// side in a warp (1: NCHW, 8: channels_last).
template <int kRowLanes>
struct Lanes {
  static constexpr int kGroups = Cfg::kThreads / (kRowLanes * Cfg::BK);
  static constexpr int kStep = kRowLanes * kGroups;  // rows apart of one thread's loads
  static constexpr int kRows = Cfg::BM / kStep;      // loads per operand per k tile
  static_assert(Cfg::BM == Cfg::BN && Cfg::kThreads % (kRowLanes * Cfg::BK) == 0 &&
                    Cfg::BM % kStep == 0,
                "one pixel x kRows rows per thread for both operands");
  int pixel, row0;
  __device__ __forceinline__ explicit Lanes(int tid)
      : pixel(tid / kRowLanes % Cfg::BK),
        row0(tid % kRowLanes + kRowLanes * (tid / (kRowLanes * Cfg::BK))) {}
};

// ---------------------------------------------------------------------------
// Stage 1: pixel tile j0.. of both operands into the ring: A = dy rows (the
// tile's filters), B = im2col(x) rows (the tile's taps).
// ---------------------------------------------------------------------------
template <int kRowLanes>
__device__ __forceinline__ void load_tile(uint32_t dst, const Args& a, const float* dyg,
                                          const float* xg, const int4* taps, int rows_a,
                                          int j, int j_end, const Lanes<kRowLanes>& ln) {
  using L = Lanes<kRowLanes>;
  const bool jok = j < j_end;
  const regtile::WgradPixel w = regtile::wgrad_pixel(a, j, jok);
  const uint32_t dst_b = dst + 4u * Cfg::kTileA;
#pragma unroll
  for (int i = 0; i < L::kRows; ++i) {
    const int row = ln.row0 + i * L::kStep;
    const bool a_in = jok && row < rows_a;
    cp_async_4(dst + 4u * smem_idx<true, Cfg::BM>(row, ln.pixel),
               a_in ? dyg + row * a.y_sk + w.py : dyg, a_in ? 4 : 0);
    const int4 e = taps[row];
    const bool b_in = static_cast<unsigned>(w.ih0 + e.y) < static_cast<unsigned>(a.H) &&
                      static_cast<unsigned>(w.iw0 + e.z) < static_cast<unsigned>(a.W);
    cp_async_4(dst_b + 4u * smem_idx<true, Cfg::BN>(row, ln.pixel),
               b_in ? xg + w.px + e.x : xg, b_in ? 4 : 0);
  }
}

// ---------------------------------------------------------------------------
// The kernel: blockIdx.x = filter tile * n_tiles + tap tile, blockIdx.y =
// split, blockIdx.z = group - g0. Writes its partial row's tile.
// ---------------------------------------------------------------------------
template <int kRowLanes>
__global__ void __launch_bounds__(Cfg::kThreads, 1)
    wgrad_3xtf32_kernel(const __grid_constant__ Args a) {
  extern __shared__ __align__(128) float smem[];
  __shared__ int4 taps[Cfg::BN];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / kDefault.warps_n, wn = warp % kDefault.warps_n;
  const int64_t g = a.g0 + static_cast<int64_t>(blockIdx.z);
  const int split = static_cast<int>(blockIdx.y);
  const int m0 = static_cast<int>(blockIdx.x / a.n_tiles) * Cfg::BM;
  const int n0 = static_cast<int>(blockIdx.x % a.n_tiles) * Cfg::BN;
  const int j_begin = split * a.chunk, j_end = min(j_begin + a.chunk, a.npq);
  for (int i = tid; i < Cfg::BN; i += Cfg::kThreads) taps[i] = __ldg(a.tab + n0 + i);
  __syncthreads();

  const Lanes<kRowLanes> ln(tid);
  const float* dyg = a.dy + (g * a.Kg + m0) * a.y_sk;  // row 0 of the A tile
  const float* xg = a.x + g * a.x_sg;
  const int rows_a = a.Kg - m0;
  const uint32_t smem_base = smem_u32(smem);
  const auto load_stage = [&](int64_t kt, int s) {
    load_tile<kRowLanes>(smem_base + 4u * static_cast<uint32_t>(s * Cfg::kStageFloats), a, dyg,
                         xg, taps, rows_a, j_begin + static_cast<int>(kt) * Cfg::BK + ln.pixel,
                         j_end, ln);
  };
  float acc[Cfg::MI][Cfg::NI][4];
  tf32x3::main_loop<true, true, true>(a.chunk / Cfg::BK, smem, wm, wn, lane, acc, load_stage);

  // Partial row `split`, KCRS order: (g*Kg + m) * Kdim + (c*R*S + r*S + s).
  float* out = a.partial + split * a.total + g * a.Kg * static_cast<int64_t>(a.Kdim);
  const int gq = lane >> 2, t = lane & 3;
#pragma unroll
  for (int ni = 0; ni < Cfg::NI; ++ni)
#pragma unroll
    for (int jj = 0; jj < 2; ++jj) {
      const int canon = taps[wn * kDefault.warp_n + ni * 8 + 2 * t + jj].w;  // -1 past Kdim
      if (canon < 0) continue;
#pragma unroll
      for (int mi = 0; mi < Cfg::MI; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int m = m0 + wm * kDefault.warp_m + mi * 16 + gq + 8 * h;
          if (m < a.Kg) out[static_cast<int64_t>(m) * a.Kdim + canon] = acc[mi][ni][2 * h + jj];
        }
    }
}

template <int kRowLanes>
void launch(Args a, int64_t groups, int64_t tiles, int64_t splits) {
  auto kernel = wgrad_3xtf32_kernel<kRowLanes>;
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kDynSmem));
  for (int64_t g0 = 0; g0 < groups; g0 += 65535) {  // gridDim.z <= 65535
    a.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits),
                    static_cast<unsigned>(std::min<int64_t>(groups - g0, 65535)));
    kernel<<<grid, Cfg::kThreads, Cfg::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

void conv2d_backward_weight_implicit_gemm_3xtf32(const Conv2dGradProblem& p) {
  const int64_t Cg = p.C / p.groups;
  if (p.K * Cg * p.R * p.S == 0) return;
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_weight(implicit_gemm_3xtf32): unsupported dtype ",
                   p.dtype);
  const bool smem_ok = at::cuda::getCurrentDeviceProperties()->sharedMemPerBlockOptin >=
                       size_t{Cfg::kDynSmem} + Cfg::BN * sizeof(int4);
  if (!smem_ok || !regtile::wgrad_split_fits(p))
    return conv2d_backward_weight_implicit_gemm_regtile(p);
  static_assert(Cfg::BM == regtile::C::BM && Cfg::BN == regtile::C::BN,
                "the shared split plan counts 128 x 128 output tiles");
  regtile::WgradSplit w = regtile::plan_wgrad_split(p, Cfg::BK, "implicit_gemm_3xtf32");
  // Lanes along rows where both operands' rows are channel-contiguous.
  if (p.x_sc == 1 && Cg > 1 && p.y_sk == 1)
    launch<8>(w.args, p.groups, w.tiles, w.grid_y);
  else
    launch<1>(w.args, p.groups, w.tiles, w.grid_y);
  conv::launch_wgrad_finish<float>(p, w.partial, w.splits);
}

}  // namespace cuops::cuda
