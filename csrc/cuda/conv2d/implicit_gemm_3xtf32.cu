// Step of the conv2d forward (and, through the phases, dgrad) ladder: fp32
// implicit GEMM on the TF32 tensor cores at fp32 accuracy ("3xTF32").
//
// The arithmetic and the warp core are matmul step 9's (mma_3xtf32.cu,
// tf32x3.cuh): each fp32 operand split into big = tf32(x) and small =
// tf32(x - big) in registers, three m16n8k8 TF32 products per k step, each
// 32-deep k tile summed in its own accumulator and then added in fp32.
// What is the convolution's own is the A operand, im2col(x), gathered
// straight into the shared-memory ring with cp.async (no im2col tensor):
//
//   GEMM view as in implicit_gemm_regtile: M = N*P*Q output pixels, N = K/groups
//   filters, k = C/groups*R*S taps; groups are independent GEMMs (grid.z).
//   B = the filter packed once per call (regtile::pack_filter: wp[g][k][n],
//   n padded to the 128-wide tile, k to whole 32-deep tiles) -> the dense
//   16-byte loader of the matmul step, no bounds to test.
//   A = one gather per element or per 4 channels, from a tap table (tab[k] =
//   x offset of the tap and its (r, s) displacement: no division in the
//   loop) and a per-block pixel table in shared memory (x offset and window
//   origin of each of the block's 128 output pixels, computed once):
//     kPixelFast  NCHW: a thread owns a pixel, 4-byte copies; consecutive
//                 lanes read consecutive q (contiguous x rows at stride 1);
//                 smem A stored [k][m] (m-contiguous)
//     kTapFast    channels_last, C/groups % 4 != 0 (the RGB stem): a thread
//                 owns a tap, 4-byte copies along the channels; A [m][k]
//     kTapVec     channels_last, C/groups % 4 == 0, 16-byte aligned: one
//                 16-byte copy = 4 channels of one (r, s); A [m][k]
//   Padding taps and pixels past M copy 0 bytes: cp.async zero-fills them.
//
// Deterministic: one block owns an output tile and sums its K in a fixed
// order. Problems the 32-bit tap table cannot describe, GPUs with less than
// the ring's 144 KB of shared memory per block and other dtypes go to
// implicit_gemm_regtile.
#include "conv2d_steps.h"
#include "cuda/conv2d/regtile.cuh"
#include "cuda/matmul/tf32x3.cuh"

namespace cuops::cuda {
namespace {

using tf32x3::Cfg;
using tf32x3::kDefault;
using tf32x3::smem_idx;
using namespace ptx;

enum class AMode { kPixelFast, kTapFast, kTapVec };

struct Args {
  const float* x;
  const int4* tab;  // [KT] regtile::tap_entry
  const float* wp;  // [groups][KT][Npad]
  float* y;
  const float* bias;  // [K] or null
  int64_t M, PQ;
  int Q, H, W, stride_h, stride_w, pad_h, pad_w;
  int64_t x_sn, x_sh, x_sw, x_sg;  // x_sg: offset of one group's channels
  int64_t y_sn, y_sk, y_sp, y_sq;
  int64_t ktiles, wp_sg;  // KT / BK; KT * Npad
  int Kg, Npad, n_tiles, g0;
};

// The block's output pixels, for the gathers: x offset of (n, ih0, iw0) and
// the window origin (ih0, iw0); pixels past M get a far origin, so every tap
// fails the padding test and zero-fills.
struct PixelTable {
  int64_t pix[Cfg::BM];
  int ih0[Cfg::BM], iw0[Cfg::BM];
};

__device__ __forceinline__ void fill_pixels(PixelTable& t, const Args& a, int64_t m0, int tid) {
  for (int i = tid; i < Cfg::BM; i += Cfg::kThreads) {
    const int64_t m = m0 + i;
    if (m >= a.M) {
      t.pix[i] = 0, t.ih0[i] = regtile::kFar, t.iw0[i] = regtile::kFar;
      continue;
    }
    const conv::OutPixel o = conv::out_pixel(m, a.PQ, a.Q);
    const int ih0 = o.p * a.stride_h - a.pad_h, iw0 = o.q * a.stride_w - a.pad_w;
    t.pix[i] = o.n * a.x_sn + ih0 * a.x_sh + iw0 * a.x_sw;
    t.ih0[i] = ih0, t.iw0[i] = iw0;
  }
}

__device__ __forceinline__ bool inside(const Args& a, const PixelTable& t, int m, const int4& e) {
  return static_cast<unsigned>(t.ih0[m] + e.y) < static_cast<unsigned>(a.H) &&
         static_cast<unsigned>(t.iw0[m] + e.z) < static_cast<unsigned>(a.W);
}

// ---------------------------------------------------------------------------
// Stage 1a: one k tile of im2col(x) into the ring (A tile of stage `dst`).
// xg: x of this group; k0: the tile's first tap.
// ---------------------------------------------------------------------------
template <AMode kMode>
__device__ __forceinline__ void gather_a(uint32_t dst, const Args& a, const float* xg,
                                         const PixelTable& t, int64_t k0, int tid) {
  constexpr int BM = Cfg::BM, BK = Cfg::BK;
  if constexpr (kMode == AMode::kPixelFast) {
    constexpr int kRows = Cfg::kThreads / BM;  // k rows per pass
    const int m = tid % BM;
#pragma unroll
    for (int i = 0; i < BK / kRows; ++i) {
      const int k = tid / BM + i * kRows;
      const int4 e = __ldg(a.tab + k0 + k);
      const bool in = inside(a, t, m, e);
      cp_async_4(dst + 4u * smem_idx<false, BM>(m, k), in ? xg + t.pix[m] + e.x : xg,
                 in ? 4 : 0);
    }
  } else if constexpr (kMode == AMode::kTapFast) {
    constexpr int kPix = Cfg::kThreads / BK;  // pixels per pass
    const int k = tid % BK;
    const int4 e = __ldg(a.tab + k0 + k);
#pragma unroll
    for (int i = 0; i < BM / kPix; ++i) {
      const int m = tid / BK + i * kPix;
      const bool in = inside(a, t, m, e);
      cp_async_4(dst + 4u * smem_idx<true, BM>(m, k), in ? xg + t.pix[m] + e.x : xg,
                 in ? 4 : 0);
    }
  } else {
    // 4 taps = 4 consecutive channels of one (r, s): C/groups % 4 == 0 and
    // k0 % 4 == 0, so a piece never straddles two taps or the end of Kdim.
    constexpr int kPieces = BK / 4, kPix = Cfg::kThreads / kPieces;
    const int k = tid % kPieces * 4;
    const int4 e = __ldg(a.tab + k0 + k);
#pragma unroll
    for (int i = 0; i < BM / kPix; ++i) {
      const int m = tid / kPieces + i * kPix;
      const bool in = inside(a, t, m, e);
      cp_async_16(dst + 4u * smem_idx<true, BM>(m, k), in ? xg + t.pix[m] + e.x : xg,
                  in ? 16 : 0);
    }
  }
  static_assert(Cfg::kThreads % BM == 0 && BK % (Cfg::kThreads / BM) == 0, "pixel-fast split");
  static_assert(Cfg::kThreads % BK == 0 && BM % (Cfg::kThreads / BK) == 0, "tap-fast split");
  static_assert(BM % (Cfg::kThreads / (BK / 4)) == 0, "tap-vec split");
}

// ---------------------------------------------------------------------------
// Stage 4: y = acc (+ bias); rows are output pixels (decomposed here, once
// per row), columns the group's filters.
// ---------------------------------------------------------------------------
__device__ __forceinline__ void store_output(const Args& a, int64_t g, int64_t m_block, int n_block,
                                             int wm, int wn, int lane,
                                             const float (&acc)[Cfg::MI][Cfg::NI][4]) {
  const int gq = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mi = 0; mi < Cfg::MI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // c0,c1: row g; c2,c3: row g + 8
      const int64_t m = m_block + wm * kDefault.warp_m + mi * 16 + gq + 8 * h;
      if (m >= a.M) continue;
      const conv::OutPixel o = conv::out_pixel(m, a.PQ, a.Q);
      float* yp = a.y + o.n * a.y_sn + o.p * a.y_sp + o.q * a.y_sq;
#pragma unroll
      for (int ni = 0; ni < Cfg::NI; ++ni)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int n = n_block + wn * kDefault.warp_n + ni * 8 + 2 * t + j;
          if (n >= a.Kg) continue;
          const int64_t ch = g * a.Kg + n;
          const float b = a.bias != nullptr ? __ldg(a.bias + ch) : 0.f;
          yp[ch * a.y_sk] = acc[mi][ni][2 * h + j] + b;
        }
    }
}

// ---------------------------------------------------------------------------
// The kernel: blockIdx.x = m tile * n_tiles + n tile (the filter tiles of one
// pixel tile run together: x is read from DRAM about once), blockIdx.z =
// group - g0.
// ---------------------------------------------------------------------------
template <AMode kMode>
__global__ void __launch_bounds__(Cfg::kThreads, 1)
    conv_3xtf32_kernel(const __grid_constant__ Args a) {
  extern __shared__ __align__(128) float smem[];
  __shared__ PixelTable pixels;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / kDefault.warps_n, wn = warp % kDefault.warps_n;
  const int64_t g = a.g0 + static_cast<int64_t>(blockIdx.z);
  const int n_block = static_cast<int>(blockIdx.x % a.n_tiles) * Cfg::BN;
  const int64_t m_block = static_cast<int64_t>(blockIdx.x / a.n_tiles) * Cfg::BM;
  fill_pixels(pixels, a, m_block, tid);
  __syncthreads();

  const float* xg = a.x + g * a.x_sg;
  const float* wg = a.wp + g * a.wp_sg + n_block;
  const uint32_t smem_base = smem_u32(smem);
  constexpr bool kAKC = kMode != AMode::kPixelFast;
  const auto load_stage = [&](int64_t kt, int s) {
    const uint32_t dst = smem_base + 4u * static_cast<uint32_t>(s * Cfg::kStageFloats);
    gather_a<kMode>(dst, a, xg, pixels, kt * Cfg::BK, tid);
    tf32x3::load_operand<false, Cfg::BN>(dst + 4u * Cfg::kTileA, wg, a.Npad, 0, Cfg::BN,
                                         kt * Cfg::BK, a.ktiles * Cfg::BK, tid);
  };
  float acc[Cfg::MI][Cfg::NI][4];
  tf32x3::main_loop<kAKC, false, true>(a.ktiles, smem, wm, wn, lane, acc, load_stage);
  store_output(a, g, m_block, n_block, wm, wn, lane, acc);
}

template <AMode kMode>
void launch(Args a, int64_t groups, int64_t m_tiles) {
  const int64_t tiles = m_tiles * a.n_tiles;
  TORCH_CHECK(tiles <= INT_MAX, "cuops.conv2d: problem too large for implicit_gemm_3xtf32");
  auto kernel = conv_3xtf32_kernel<kMode>;
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kDynSmem));
  for (int64_t g0 = 0; g0 < groups; g0 += 65535) {  // gridDim.z <= 65535
    a.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(tiles), 1,
                    static_cast<unsigned>(std::min<int64_t>(groups - g0, 65535)));
    kernel<<<grid, Cfg::kThreads, Cfg::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

void conv2d_implicit_gemm_3xtf32(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.conv2d(implicit_gemm_3xtf32): unsupported dtype ",
                   p.dtype);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, Kdim = Cg * p.R * p.S;
  const int64_t KT = ceil_div<int64_t>(Kdim, Cfg::BK) * Cfg::BK;
  const int64_t Npad = ceil_div<int64_t>(Kg, Cfg::BN) * Cfg::BN;
  const bool smem_ok =
      at::cuda::getCurrentDeviceProperties()->sharedMemPerBlockOptin >=
      size_t{Cfg::kDynSmem} + sizeof(PixelTable);
  if (!regtile::geometry_fits(p) || !smem_ok || KT * Npad >= INT_MAX)
    return conv2d_implicit_gemm_regtile(p);

  const bool x_cl = p.x_sc == 1 && Cg > 1;
  const bool x_vec = x_cl && Cg % 4 == 0 && aligned16(p.x) && p.x_sn % 4 == 0 &&
                     p.x_sh % 4 == 0 && p.x_sw % 4 == 0;
  const AMode mode = x_vec ? AMode::kTapVec : x_cl ? AMode::kTapFast : AMode::kPixelFast;

  // Workspace: the table (KT int4 = 4 KT floats, keeps wp 16-byte aligned), then wp.
  at::Tensor ws = conv::acc_workspace<float>(4 * KT + p.groups * KT * Npad);
  auto* tab = reinterpret_cast<int4*>(ws.data_ptr<float>());
  float* wp = ws.data_ptr<float>() + 4 * KT;
  regtile::pack_filter(p, wp, tab, Kdim, KT, Npad, 1, Npad, mode != AMode::kPixelFast);

  Args a{};
  a.x = static_cast<const float*>(p.x), a.tab = tab, a.wp = wp, a.y = static_cast<float*>(p.y);
  a.bias = static_cast<const float*>(p.bias);
  a.PQ = p.P * p.Q, a.M = p.N * a.PQ;
  a.Q = static_cast<int>(p.Q), a.H = static_cast<int>(p.H), a.W = static_cast<int>(p.W);
  a.stride_h = static_cast<int>(p.stride_h), a.stride_w = static_cast<int>(p.stride_w);
  a.pad_h = static_cast<int>(p.pad_h), a.pad_w = static_cast<int>(p.pad_w);
  a.x_sn = p.x_sn, a.x_sh = p.x_sh, a.x_sw = p.x_sw, a.x_sg = Cg * p.x_sc;
  a.y_sn = p.y_sn, a.y_sk = p.y_sk, a.y_sp = p.y_sp, a.y_sq = p.y_sq;
  a.ktiles = KT / Cfg::BK, a.wp_sg = KT * Npad;
  a.Kg = static_cast<int>(Kg), a.Npad = static_cast<int>(Npad);
  a.n_tiles = static_cast<int>(Npad / Cfg::BN);
  const int64_t m_tiles = ceil_div<int64_t>(a.M, Cfg::BM);
  switch (mode) {
    case AMode::kTapVec: return launch<AMode::kTapVec>(a, p.groups, m_tiles);
    case AMode::kTapFast: return launch<AMode::kTapFast>(a, p.groups, m_tiles);
    default: return launch<AMode::kPixelFast>(a, p.groups, m_tiles);
  }
}

// dgrad step implicit_gemm_3xtf32: one stride-1 forward of this step per
// output phase of dx (conv2d_dgrad_by_phases, csrc/conv2d_phases.cpp).
void conv2d_backward_input_implicit_gemm_3xtf32(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_input(implicit_gemm_3xtf32): unsupported dtype ",
                   p.dtype);
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_3xtf32);
}

}  // namespace cuops::cuda
