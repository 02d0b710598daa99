// Step of the conv2d forward ladder (and, through the phases, of dgrad):
// few filters per group (K/groups <= 8), stride 1, rows of x contiguous --
// the stride-1 phase convolutions of an RGB stem's dgrad (C = 3 becomes
// their filter count) and few-class heads.
//
// Why: implicit_gemm_narrow gives a thread 4 output pixels x all filters and
// gathers one x value per pixel and tap, so each load feeds only KN (4 or 8)
// FMAs and the L1 gather is the limit (the fp32 7x7/2 stem's dgrad: ~1.2 ms
// of a 1.9 ms backward, cuDNN's whole backward 0.95 ms, H100). Here a thread
// owns ROWS output rows of one column q (a warp: 32 consecutive q,
// so every load is one coalesced row segment) and walks (c, s): it loads the
// column strip x[p0 - pad_h + j][q + s - pad_w], j < ROWS + R - 1, once, and
// every tap r of that (c, s) reuses it from registers: ROWS * R * KN FMAs per
// ROWS + R - 1 loads (KN = 4, R = 4: 128 per 11) instead of KN per load.
// The filter is staged in shared memory as [c][r][s][KN] (one broadcast
// 16-byte load per tap and 4 filters).
//
// A block is 8 warps: 32 columns x 8 * ROWS rows of one image and group.
// ROWS = 32 / KN (32 accumulators per thread); half that where the grid
// would not give every SM two blocks (the 11x11/4 stem's 16 phases of 56 x
// 56 at batch 32: 64 blocks): with R = 3 the loads per FMA rise only from
// 10/96 to 6/48, and the sums, per output in (c, s, r) order, do not change.
// Deterministic: each output is one thread's sum in (c, s, r) order.
// Problems outside (stride or dilation > 1, x_sw != 1, R or S > kMaxTap,
// K/groups > 8) run implicit_gemm_narrow.
#include "conv2d_steps.h"
#include "cuda/conv2d/common.cuh"

namespace cuops::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kMaxTap = 8;         // R, S <= kMaxTap (the column strip's registers)
constexpr int kChanChunk = 8;      // channels of the filter staged at a time
constexpr int kMaxFilters = 8;     // K/groups this step takes
constexpr int kTileQ = 32;         // columns of a block: one per lane
constexpr int kMaxRows = 8;        // output rows per thread at most (KN = 4)

struct Args {
  int64_t x_sn, x_sc, x_sh;  // x_sw == 1
  int64_t x_sg;              // one group's channels
  int64_t y_sn, y_sk, y_sp, y_sq;
  int H, W, P, Q, R, S, pad_h, pad_w, Cg, Kg, q_tiles;
  int g0;  // first group of this launch
};

// Stage channels [c0, c0 + kChanChunk) of group g's filters as
// ws[c][r][s][f] (zeros past Cg and Kg).
template <typename T, int KN>
__device__ __forceinline__ void stage_filter(const Conv2dProblem& p, const Args& a, int64_t g,
                                             int c0, acc_t<T>* ws) {
  const T* w = static_cast<const T*>(p.w);
  const int n = kChanChunk * a.R * a.S * KN;
  for (int i = threadIdx.x; i < n; i += kWarps * 32) {
    const int f = i % KN, rs = i / KN % (a.R * a.S), c = c0 + i / (KN * a.R * a.S);
    acc_t<T> v = 0;
    if (f < a.Kg && c < a.Cg)
      v = static_cast<acc_t<T>>(w[(g * a.Kg + f) * p.w_sk + c * p.w_sc + rs / a.S * p.w_sr +
                                  rs % a.S * p.w_ss]);
    ws[i] = v;
  }
}

template <typename T, int KN, int kRows>
__global__ void __launch_bounds__(kWarps * 32) narrow_window_kernel(const Conv2dProblem p,
                                                                    const Args a) {
  using A = acc_t<T>;
  constexpr int kTileP = kWarps * kRows;
  __shared__ __align__(16) A ws[kChanChunk * kMaxTap * kMaxTap * KN];
  const int64_t n = blockIdx.y, g = a.g0 + static_cast<int64_t>(blockIdx.z);
  const int q = static_cast<int>(blockIdx.x % a.q_tiles) * kTileQ + threadIdx.x % 32;
  const int p0 =
      static_cast<int>(blockIdx.x / a.q_tiles) * kTileP + threadIdx.x / 32 * kRows;
  const T* xg = static_cast<const T*>(p.x) + n * a.x_sn + g * a.x_sg;
  const int h0 = p0 - a.pad_h;  // the strip's first input row

  A acc[kRows][KN] = {};
  for (int c0 = 0; c0 < a.Cg; c0 += kChanChunk) {
    __syncthreads();  // the previous chunk is no longer read
    stage_filter<T, KN>(p, a, g, c0, ws);
    __syncthreads();
    const int cn = min(kChanChunk, a.Cg - c0);
    for (int c = 0; c < cn; ++c) {
      const T* xc = xg + (c0 + c) * a.x_sc;
      for (int s = 0; s < a.S; ++s) {
        // The column strip of input column q + s - pad_w (zeros outside x).
        const int iw = q + s - a.pad_w;
        const bool col_in = static_cast<unsigned>(iw) < static_cast<unsigned>(a.W);
        A col[kRows + kMaxTap - 1];
#pragma unroll
        for (int j = 0; j < kRows + kMaxTap - 1; ++j) {
          const int ih = h0 + j;
          col[j] = j < kRows + a.R - 1 && col_in &&
                           static_cast<unsigned>(ih) < static_cast<unsigned>(a.H)
                       ? static_cast<A>(xc[ih * a.x_sh + iw])
                       : A(0);
        }
        const A* wcs = ws + ((c * a.R) * a.S + s) * KN;  // tap (c, 0, s); r steps S * KN
#pragma unroll
        for (int r = 0; r < kMaxTap; ++r) {
          if (r >= a.R) break;
          A wv[KN];
#pragma unroll
          for (int f = 0; f < KN; ++f) wv[f] = wcs[r * a.S * KN + f];
#pragma unroll
          for (int i = 0; i < kRows; ++i)
#pragma unroll
            for (int f = 0; f < KN; ++f) acc[i][f] += col[i + r] * wv[f];
        }
      }
    }
  }

  if (q >= a.Q) return;
  T* y = static_cast<T*>(p.y) + n * a.y_sn + q * a.y_sq;
  const T* bias = static_cast<const T*>(p.bias);
#pragma unroll
  for (int f = 0; f < KN; ++f) {
    if (f >= a.Kg) break;
    const int64_t ch = g * a.Kg + f;
    const A b = bias != nullptr ? static_cast<A>(bias[ch]) : A(0);
#pragma unroll
    for (int i = 0; i < kRows; ++i)
      if (p0 + i < a.P) y[ch * a.y_sk + (p0 + i) * a.y_sp] = static_cast<T>(acc[i][f] + b);
  }
}

template <typename T, int KN, int kRows>
void launch(const Conv2dProblem& p, Args a) {
  const int64_t tiles = ceil_div<int64_t>(p.P, kWarps * kRows) * a.q_tiles;
  TORCH_CHECK(tiles <= INT_MAX, "cuops.conv2d: problem too large for narrow_window");
  for (int64_t g0 = 0; g0 < p.groups; g0 += 65535) {  // gridDim.z <= 65535
    a.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.N),
                    static_cast<unsigned>(std::min<int64_t>(p.groups - g0, 65535)));
    narrow_window_kernel<T, KN, kRows>
        <<<grid, kWarps * 32, 0, at::cuda::getCurrentCUDAStream()>>>(p, a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <typename T, int KN>
void run(const Conv2dProblem& p) {
  Args a{};
  a.x_sn = p.x_sn, a.x_sc = p.x_sc, a.x_sh = p.x_sh, a.x_sg = p.C / p.groups * p.x_sc;
  a.y_sn = p.y_sn, a.y_sk = p.y_sk, a.y_sp = p.y_sp, a.y_sq = p.y_sq;
  a.H = static_cast<int>(p.H), a.W = static_cast<int>(p.W);
  a.P = static_cast<int>(p.P), a.Q = static_cast<int>(p.Q);
  a.R = static_cast<int>(p.R), a.S = static_cast<int>(p.S);
  a.pad_h = static_cast<int>(p.pad_h), a.pad_w = static_cast<int>(p.pad_w);
  a.Cg = static_cast<int>(p.C / p.groups), a.Kg = static_cast<int>(p.K / p.groups);
  a.q_tiles = static_cast<int>(ceil_div<int64_t>(p.Q, kTileQ));
  constexpr int kRows = 32 / KN;
  const int64_t blocks = ceil_div<int64_t>(p.P, kWarps * kRows) * a.q_tiles * p.N * p.groups;
  if (blocks < 2 * num_sms()) return launch<T, KN, kRows / 2>(p, a);
  return launch<T, KN, kRows>(p, a);
}

// The problems the kernel takes: 32-bit offsets within an image and group,
// int geometry, the strip's registers and the grid's limits.
bool window_fits(const Conv2dProblem& p) {
  const auto fits = [](int64_t v) { return v >= 0 && v < (int64_t{1} << 28); };
  const int64_t Kg = p.K / p.groups;
  return p.groups > 0 && Kg <= kMaxFilters && p.stride_h == 1 && p.stride_w == 1 &&
         p.dil_h == 1 && p.dil_w == 1 && p.x_sw == 1 && p.R <= kMaxTap && p.S <= kMaxTap &&
         fits(p.H) && fits(p.W) && fits(p.P + kWarps * kMaxRows) && fits(p.Q + kTileQ) &&
         fits(std::abs(p.pad_h) + kMaxTap) && fits(std::abs(p.pad_w) + kMaxTap) &&
         p.N <= 65535 && p.x_sh * (p.H + 1) < INT_MAX;
}

}  // namespace

void conv2d_narrow_window(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  if (!window_fits(p)) return conv2d_implicit_gemm_narrow(p);
  const bool four = p.K / p.groups <= 4;  // filter slots: 4 or 8
  switch (p.dtype) {
    case at::kFloat: return four ? run<float, 4>(p) : run<float, 8>(p);
    case at::kDouble: return four ? run<double, 4>(p) : run<double, 8>(p);
    case at::kHalf: return four ? run<at::Half, 4>(p) : run<at::Half, 8>(p);
    case at::kBFloat16: return four ? run<at::BFloat16, 4>(p) : run<at::BFloat16, 8>(p);
    default:
      TORCH_CHECK_TYPE(false, "cuops.conv2d(narrow_window): unsupported dtype ", p.dtype);
  }
}

// dgrad: one stride-1 forward of this step per output phase of dx; the phase
// convolutions have C/groups filters per group.
void conv2d_backward_input_narrow_window(const Conv2dGradProblem& p) {
  dgrad_by_phases_cuda(p, &conv2d_narrow_window);
}

}  // namespace cuops::cuda
