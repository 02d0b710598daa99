// Step 4 of the conv2d ladder: depthwise convolution (groups == C, each
// output channel k reads only input channel k / (K/C)).
//
// Depthwise is memory-bound: R*S FMAs per output against one input and one
// output element, so the floor is reading x once and writing y once. Two
// kernels reach for that floor:
//   tile   (x rows contiguous, NCHW-like): a block owns a TP x TQ spatial
//          tile of one (n, k) plane; it stages the input tile plus its halo
//          and the R*S weights in shared memory, so each x element is read
//          from DRAM about once (halo overhead aside) and reused R*S times
//          from smem.
//   pixel  (channels_last, or a tile that does not fit): one thread per
//          output in memory order, channels fastest, so a warp reads 32
//          consecutive channels of each tap (coalesced) and neighbouring
//          pixels re-read the overlapping taps from L1/L2.
// A problem that is not depthwise is routed to implicit_gemm (step 2), so
// the variant is correct for every input.
//   nhwc   (step "depthwise_nhwc", below): channels_last, 8 channels of
//          kPix pixels per thread with 16-byte vector loads/stores.
#include "cuda/conv2d/common.cuh"

namespace cuops::cuda {
namespace {

using conv::kThreads;
using conv::ld;

constexpr int kMaxSmem = 48 * 1024;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    depthwise_tile_kernel(Conv2dProblem p, int tp_rows, int tq_cols, int64_t tiles_q, int in_th,
                          int in_tw) {
  using A = acc_t<T>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* xs = reinterpret_cast<A*>(smem_raw);  // [in_th][in_tw]
  A* ws = xs + in_th * in_tw;               // [R*S]
  const int64_t nk = blockIdx.x;  // one (n, k) plane per grid.x
  const int64_t n = nk / p.K, k = nk % p.K, c = k / (p.K / p.C);
  const int64_t tile = blockIdx.y;
  const int64_t p0 = (tile / tiles_q) * tp_rows, q0 = (tile % tiles_q) * tq_cols;
  const int64_t ih0 = p0 * p.stride_h - p.pad_h, iw0 = q0 * p.stride_w - p.pad_w;
  const T* xc = static_cast<const T*>(p.x) + n * p.x_sn + c * p.x_sc;
  const T* wk = static_cast<const T*>(p.w) + k * p.w_sk;

  for (int i = threadIdx.x; i < in_th * in_tw; i += blockDim.x) {
    const int64_t ih = ih0 + i / in_tw, iw = iw0 + i % in_tw;
    xs[i] = (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) ? ld(xc, ih * p.x_sh + iw * p.x_sw) : A(0);
  }
  for (int i = threadIdx.x; i < p.R * p.S; i += blockDim.x)
    ws[i] = ld(wk, (i / p.S) * p.w_sr + (i % p.S) * p.w_ss);
  __syncthreads();

  const int ty = threadIdx.x / tq_cols, tx = threadIdx.x % tq_cols;
  const int64_t pp = p0 + ty, q = q0 + tx;
  if (ty >= tp_rows || pp >= p.P || q >= p.Q) return;
  A acc = p.bias ? ld(static_cast<const T*>(p.bias), k) : A(0);
  const A* xrow = xs + (ty * p.stride_h) * in_tw + tx * p.stride_w;
  for (int r = 0; r < p.R; ++r)
    for (int s = 0; s < p.S; ++s)
      acc += xrow[(r * p.dil_h) * in_tw + s * p.dil_w] * ws[r * p.S + s];
  static_cast<T*>(p.y)[n * p.y_sn + k * p.y_sk + pp * p.y_sp + q * p.y_sq] = static_cast<T>(acc);
}

template <typename T, bool KFAST>
__global__ void depthwise_pixel_kernel(Conv2dProblem p, int64_t total) {
  const T* __restrict__ x = static_cast<const T*>(p.x);
  const T* __restrict__ w = static_cast<const T*>(p.w);
  const T* __restrict__ bias = static_cast<const T*>(p.bias);
  T* __restrict__ y = static_cast<T*>(p.y);
  const int64_t mult = p.K / p.C;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    int64_t n, k, pp, q, t = i;
    if (KFAST) {
      k = t % p.K, t /= p.K, q = t % p.Q, t /= p.Q, pp = t % p.P, n = t / p.P;
    } else {
      q = t % p.Q, t /= p.Q, pp = t % p.P, t /= p.P, k = t % p.K, n = t / p.K;
    }
    const T* xc = x + n * p.x_sn + (k / mult) * p.x_sc;
    const T* wk = w + k * p.w_sk;
    acc_t<T> acc = bias ? ld(bias, k) : acc_t<T>(0);
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t iw = q * p.stride_w - p.pad_w + s * p.dil_w;
        if (iw < 0 || iw >= p.W) continue;
        acc += ld(xc, ih * p.x_sh + iw * p.x_sw) * ld(wk, r * p.w_sr + s * p.w_ss);
      }
    }
    y[n * p.y_sn + k * p.y_sk + pp * p.y_sp + q * p.y_sq] = static_cast<T>(acc);
  }
}

template <typename T>
void launch_depthwise(const Conv2dProblem& p) {
  auto stream = at::cuda::getCurrentCUDAStream();
  using A = acc_t<T>;
  // Tile shape: 256 outputs, as wide as the output row allows (up to 64).
  int tq = 8;
  while (tq < 64 && tq < p.Q) tq *= 2;
  const int tp = kThreads / tq;
  const int64_t in_th = (tp - 1) * p.stride_h + (p.R - 1) * p.dil_h + 1;
  const int64_t in_tw = (tq - 1) * p.stride_w + (p.S - 1) * p.dil_w + 1;
  const int64_t smem = (in_th * in_tw + p.R * p.S) * static_cast<int64_t>(sizeof(A));
  const int64_t tiles_q = ceil_div<int64_t>(p.Q, tq);
  const int64_t tiles = ceil_div<int64_t>(p.P, tp) * tiles_q;
  const bool rows_contiguous = p.x_sw == 1 && p.y_sq == 1;
  if (rows_contiguous && smem <= kMaxSmem && tiles <= 65535 && p.N * p.K <= INT32_MAX) {
    const dim3 grid(static_cast<unsigned>(p.N * p.K), static_cast<unsigned>(tiles));
    depthwise_tile_kernel<T><<<grid, kThreads, smem, stream>>>(
        p, tp, tq, tiles_q, static_cast<int>(in_th), static_cast<int>(in_tw));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }
  const int64_t total = p.N * p.K * p.P * p.Q;
  const bool kfast = p.y_sk == 1 && p.K > 1;
  auto kernel = kfast ? depthwise_pixel_kernel<T, true> : depthwise_pixel_kernel<T, false>;
  kernel<<<grid_for(total, kThreads), kThreads, 0, stream>>>(p, total);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---------------------------------------------------------------------------
// depthwise_nhwc: channels_last, multiplier 1 (K == C), C % 8 == 0.
// One thread = 8 consecutive channels (16 bytes of fp16/bf16, 2x16 of fp32)
// of kPix consecutive output pixels along q. Threads are ordered channel
// group fastest, so a warp reads and writes contiguous 16-byte vectors of
// one pixel row (coalesced); the R*S taps re-read neighbouring pixels that
// the block's warps just loaded, which hit L1/L2, so DRAM sees x about once.
// Weights are pre-packed as fp32 [R*S][C] (a tiny pass) so one tap's 8
// weights are two float4 loads shared by the thread's kPix pixels.
// ---------------------------------------------------------------------------

constexpr int kPix = 4;

template <typename T>
struct Pack8 {  // 8 elements as whole 16-byte words
  static constexpr int kWords = static_cast<int>(sizeof(T)) * 8 / 16;
  uint4 u[kWords];
};

template <typename T>
__device__ __forceinline__ void load8(const T* ptr, float (&f)[8]) {
  Pack8<T> v;
#pragma unroll
  for (int j = 0; j < Pack8<T>::kWords; ++j) v.u[j] = reinterpret_cast<const uint4*>(ptr)[j];
  const T* e = reinterpret_cast<const T*>(v.u);
#pragma unroll
  for (int j = 0; j < 8; ++j) f[j] = static_cast<float>(e[j]);
}

template <typename T>
__device__ __forceinline__ void store8(T* ptr, const float (&f)[8]) {
  Pack8<T> v;
  T* e = reinterpret_cast<T*>(v.u);
#pragma unroll
  for (int j = 0; j < 8; ++j) e[j] = static_cast<T>(f[j]);
#pragma unroll
  for (int j = 0; j < Pack8<T>::kWords; ++j) reinterpret_cast<uint4*>(ptr)[j] = v.u[j];
}

template <typename T>
__global__ void pack_dw_weight_kernel(Conv2dProblem p, float* __restrict__ wp) {
  const int64_t total = p.R * p.S * p.C;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t c = i % p.C, rs = i / p.C;
    wp[i] = static_cast<float>(
        static_cast<const T*>(p.w)[c * p.w_sk + (rs / p.S) * p.w_sr + (rs % p.S) * p.w_ss]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    depthwise_nhwc_kernel(Conv2dProblem p, const float* __restrict__ wp, int64_t total,
                          int64_t qblocks) {
  const T* __restrict__ x = static_cast<const T*>(p.x);
  const T* __restrict__ bias = static_cast<const T*>(p.bias);
  T* __restrict__ y = static_cast<T*>(p.y);
  const int64_t cgroups = p.C / 8;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    int64_t t = i;
    const int64_t c = (t % cgroups) * 8;
    t /= cgroups;
    const int64_t q0 = (t % qblocks) * kPix;
    t /= qblocks;
    const int64_t pp = t % p.P, n = t / p.P;

    float b[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (bias != nullptr) {
#pragma unroll
      for (int j = 0; j < 8; ++j) b[j] = static_cast<float>(bias[c + j]);
    }
    float acc[kPix][8];
#pragma unroll
    for (int e = 0; e < kPix; ++e)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[e][j] = b[j];

    const T* xn = x + n * p.x_sn + c;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
      if (ih < 0 || ih >= p.H) continue;
      const T* xrow = xn + ih * p.x_sh;
      for (int64_t s = 0; s < p.S; ++s) {
        const float4* wv = reinterpret_cast<const float4*>(wp + (r * p.S + s) * p.C + c);
        const float4 w0 = wv[0], w1 = wv[1];
        const float wt[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
        for (int e = 0; e < kPix; ++e) {
          const int64_t iw = (q0 + e) * p.stride_w - p.pad_w + s * p.dil_w;
          if (q0 + e >= p.Q || iw < 0 || iw >= p.W) continue;
          float xv[8];
          load8(xrow + iw * p.x_sw, xv);
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[e][j] = fmaf(xv[j], wt[j], acc[e][j]);
        }
      }
    }
    T* yrow = y + n * p.y_sn + pp * p.y_sp + c;
#pragma unroll
    for (int e = 0; e < kPix; ++e)
      if (q0 + e < p.Q) store8(yrow + (q0 + e) * p.y_sq, acc[e]);
  }
}

// Element stride `s` of a dim of size `n` keeps 16-byte alignment.
bool keeps16(int64_t n, int64_t s, int64_t vec) { return n == 1 || s % vec == 0; }

template <typename T>
bool nhwc_eligible(const Conv2dProblem& p) {
  constexpr int64_t vec = 16 / sizeof(T);
  return is_depthwise(p) && p.K == p.C && p.C % 8 == 0 && p.x_sc == 1 && p.y_sk == 1 &&
         aligned16(p.x) && aligned16(p.y) && keeps16(p.N, p.x_sn, vec) &&
         keeps16(p.H, p.x_sh, vec) && keeps16(p.W, p.x_sw, vec) && keeps16(p.N, p.y_sn, vec) &&
         keeps16(p.P, p.y_sp, vec) && keeps16(p.Q, p.y_sq, vec);
}

template <typename T>
void launch_depthwise_nhwc(const Conv2dProblem& p) {
  auto stream = at::cuda::getCurrentCUDAStream();
  at::Tensor wp = at::empty({p.R * p.S * p.C}, at::TensorOptions().dtype(at::kFloat).device(
                                                   at::kCUDA, at::cuda::current_device()));
  pack_dw_weight_kernel<T><<<grid_for(wp.numel(), kThreads), kThreads, 0, stream>>>(
      p, wp.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const int64_t qblocks = ceil_div<int64_t>(p.Q, kPix);
  const int64_t total = p.N * p.P * qblocks * (p.C / 8);
  depthwise_nhwc_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream>>>(
      p, wp.const_data_ptr<float>(), total, qblocks);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void conv2d_depthwise_nhwc(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  bool done = false;
  switch (p.dtype) {  // fp64: no 16-byte vector path worth having -> depthwise
    case at::kHalf:
      if ((done = nhwc_eligible<at::Half>(p))) launch_depthwise_nhwc<at::Half>(p);
      break;
    case at::kBFloat16:
      if ((done = nhwc_eligible<at::BFloat16>(p))) launch_depthwise_nhwc<at::BFloat16>(p);
      break;
    case at::kFloat:
      if ((done = nhwc_eligible<float>(p))) launch_depthwise_nhwc<float>(p);
      break;
    default:
      break;
  }
  if (!done) conv2d_depthwise(p);  // the general step (it routes non-depthwise problems on)
}

void conv2d_depthwise(const Conv2dProblem& p) {
  if (!is_depthwise(p)) {  // not this kernel's domain: the general tiled step
    conv2d_implicit_gemm(p);
    return;
  }
  if (p.N * p.K * p.P * p.Q == 0) return;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(depthwise)",
                                [&] { launch_depthwise<scalar_t>(p); });
}

}  // namespace cuops::cuda
