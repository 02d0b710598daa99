// Step of the conv2d forward ladder (and, through the phases, of dgrad):
// convolutions with few filters per group (K/groups <= 8), every dtype.
//
// Why a step of its own: the GEMM tile kernels give the filters one tile
// dimension of 64 or 128, so a layer with 3 output channels -- a
// segmentation head, or the dgrad phases of an RGB stem (C = 3 becomes the
// phase convolution's filter count) -- computes 3 of every 128 columns. Here
// the filters are the inner loop instead: a thread owns kPix output pixels
// and all KN (Kg rounded up to 4 or 8) filters of the block's group, and
// walks the taps. Per tap: one table entry and KN weights from shared memory
// (the same address for every lane: a broadcast), kPix gathered x values,
// kPix * KN fused multiply-adds into acc_t accumulators.
//
// The block's filters and tap table are staged in shared memory kChunk taps
// at a time (weights in tap order, taps as regtile::tap_entry: x offset and
// (r, s) displacement, no division in the loop). A block covers kPix * 256
// consecutive output pixels, lane i on pixel i (consecutive q: contiguous x
// rows for NCHW at stride 1). Deterministic: each output is one thread's sum
// in tap order. Problems the 32-bit tap table cannot describe and K/groups >
// 8 go to implicit_gemm.
#include "conv2d_steps.h"
#include "cuda/conv2d/regtile.cuh"

namespace cuops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPix = 4;        // output pixels per thread
constexpr int kChunk = 512;    // taps staged in shared memory at a time
constexpr int kMaxFilters = 8;  // K/groups this step takes

struct Args {
  int64_t M, PQ, Kdim;
  int Q, H, W, stride_h, stride_w, pad_h, pad_w, Kg;
  int64_t x_sn, x_sh, x_sw, x_sg;
  bool c_fast;  // tap order (r, s, c): x channels contiguous
  int g0;       // first group of this launch
};

// Stage the taps [k0, k0 + kChunk) of group g: weights ws[k][n] (zeros past
// Kdim and Kg) and their table entries.
template <typename T, int KN>
__device__ __forceinline__ void stage_taps(const Conv2dProblem& p, const Args& a, int64_t g,
                                           int64_t k0, acc_t<T> (*ws)[KN], int4* tab) {
  const T* w = static_cast<const T*>(p.w);
  for (int j = threadIdx.x; j < kChunk * KN; j += kThreads) {
    const int k = j / KN, n = j % KN;
    const int4 e = regtile::tap_entry(p, k0 + k, a.Kdim, a.c_fast);
    if (n == 0) tab[k] = e;
    acc_t<T> v = 0;
    if (e.w >= 0 && n < a.Kg) {  // e.w: the tap's c*R*S + r*S + s
      const int64_t c = e.w / (p.R * p.S), rs = e.w % (p.R * p.S);
      v = static_cast<acc_t<T>>(w[(g * a.Kg + n) * p.w_sk + c * p.w_sc + rs / p.S * p.w_sr +
                                  rs % p.S * p.w_ss]);
    }
    ws[k][n] = v;
  }
}

template <typename T, int KN>
__global__ void __launch_bounds__(kThreads) narrow_kernel(const Conv2dProblem p, const Args a) {
  using A = acc_t<T>;
  __shared__ A ws[kChunk][KN];
  __shared__ int4 tab[kChunk];
  const int64_t g = a.g0 + static_cast<int64_t>(blockIdx.y);
  const T* xg = static_cast<const T*>(p.x) + g * a.x_sg;

  // This thread's pixels m_first + i * kThreads: x offset of the window
  // origin and the origin.
  const int64_t m_first = static_cast<int64_t>(blockIdx.x) * kPix * kThreads + threadIdx.x;
  int64_t pix[kPix];
  int ih0[kPix], iw0[kPix];
#pragma unroll
  for (int i = 0; i < kPix; ++i) {
    const int64_t m = m_first + i * kThreads;
    pix[i] = 0, ih0[i] = regtile::kFar, iw0[i] = regtile::kFar;
    if (m < a.M) {
      const conv::OutPixel o = conv::out_pixel(m, a.PQ, a.Q);
      ih0[i] = o.p * a.stride_h - a.pad_h, iw0[i] = o.q * a.stride_w - a.pad_w;
      pix[i] = o.n * a.x_sn + ih0[i] * a.x_sh + iw0[i] * a.x_sw;
    }
  }

  A acc[kPix][KN] = {};
  for (int64_t k0 = 0; k0 < a.Kdim; k0 += kChunk) {
    __syncthreads();  // the previous chunk is no longer read
    stage_taps<T, KN>(p, a, g, k0, ws, tab);
    __syncthreads();
    const int n = static_cast<int>(std::min<int64_t>(kChunk, a.Kdim - k0));
#pragma unroll 4
    for (int k = 0; k < n; ++k) {
      const int4 e = tab[k];
      A v[kPix];
#pragma unroll
      for (int i = 0; i < kPix; ++i) {
        const bool in = static_cast<unsigned>(ih0[i] + e.y) < static_cast<unsigned>(a.H) &&
                        static_cast<unsigned>(iw0[i] + e.z) < static_cast<unsigned>(a.W);
        v[i] = in ? static_cast<A>(xg[pix[i] + e.x]) : A(0);
      }
#pragma unroll
      for (int f = 0; f < KN; ++f) {
        const A wv = ws[k][f];
#pragma unroll
        for (int i = 0; i < kPix; ++i) acc[i][f] += v[i] * wv;
      }
    }
  }

  T* y = static_cast<T*>(p.y);
  const T* bias = static_cast<const T*>(p.bias);
#pragma unroll
  for (int i = 0; i < kPix; ++i) {
    const int64_t m = m_first + i * kThreads;
    if (m >= a.M) continue;
    const conv::OutPixel o = conv::out_pixel(m, a.PQ, a.Q);
    T* yp = y + o.n * p.y_sn + o.p * p.y_sp + o.q * p.y_sq;
#pragma unroll
    for (int f = 0; f < KN; ++f) {
      if (f >= a.Kg) break;
      const int64_t ch = g * a.Kg + f;
      yp[ch * p.y_sk] = static_cast<T>(acc[i][f] + (bias ? static_cast<A>(bias[ch]) : A(0)));
    }
  }
}

template <typename T>
void run(const Conv2dProblem& p) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  Args a{};
  a.PQ = p.P * p.Q, a.M = p.N * a.PQ, a.Kdim = Cg * p.R * p.S;
  a.Q = static_cast<int>(p.Q), a.H = static_cast<int>(p.H), a.W = static_cast<int>(p.W);
  a.stride_h = static_cast<int>(p.stride_h), a.stride_w = static_cast<int>(p.stride_w);
  a.pad_h = static_cast<int>(p.pad_h), a.pad_w = static_cast<int>(p.pad_w);
  a.Kg = static_cast<int>(Kg);
  a.x_sn = p.x_sn, a.x_sh = p.x_sh, a.x_sw = p.x_sw, a.x_sg = Cg * p.x_sc;
  a.c_fast = p.x_sc == 1 && Cg > 1;
  const int64_t blocks = ceil_div<int64_t>(a.M, kPix * kThreads);
  TORCH_CHECK(blocks <= INT_MAX, "cuops.conv2d: problem too large for implicit_gemm_narrow");
  for (int64_t g0 = 0; g0 < p.groups; g0 += 65535) {  // gridDim.y <= 65535
    a.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(blocks),
                    static_cast<unsigned>(std::min<int64_t>(p.groups - g0, 65535)));
    if (Kg <= 4)
      narrow_kernel<T, 4><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(p, a);
    else
      narrow_kernel<T, 8><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(p, a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

bool conv2d_is_narrow(const Conv2dProblem& p) {
  return p.groups > 0 && p.K / p.groups <= kMaxFilters;
}

void conv2d_implicit_gemm_narrow(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  if (!conv2d_is_narrow(p) || !regtile::geometry_fits(p)) return conv2d_implicit_gemm(p);
  switch (p.dtype) {
    case at::kFloat: return run<float>(p);
    case at::kDouble: return run<double>(p);
    case at::kHalf: return run<at::Half>(p);
    case at::kBFloat16: return run<at::BFloat16>(p);
    default:
      TORCH_CHECK_TYPE(false, "cuops.conv2d(implicit_gemm_narrow): unsupported dtype ", p.dtype);
  }
}

// dgrad: one stride-1 forward of this step per output phase of dx; the phase
// convolutions have C/groups filters per group.
void conv2d_backward_input_implicit_gemm_narrow(const Conv2dGradProblem& p) {
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_narrow);
}

}  // namespace cuops::cuda
