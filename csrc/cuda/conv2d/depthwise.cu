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
//   window (step "depthwise_nhwc_window"): channels_last, 8 channels x 8
//          output pixels per thread as a sliding window in registers, so
//          each input vector is loaded once per filter row, not once per tap.
//   plane  (step "depthwise_plane"): rows contiguous (NCHW), a band of a
//          plane staged in smem with 16-byte loads, vertical strips of 8
//          outputs per thread sliding over the smem rows.
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

// ---------------------------------------------------------------------------
// Shared by the two steps below: the filter shapes compiled as fully unrolled
// sliding windows (R x S, equal strides, dilation 1) and the host test that
// 32-bit offsets are exact inside one image / plane.
// ---------------------------------------------------------------------------

enum class DwShape { kGeneral, k3x3s1, k3x3s2, k5x5s1 };

// `vertical`: the vertical stride/dilation must match too (the plane kernel's
// window slides vertically; the window kernel's slides along q only).
DwShape dw_shape(const Conv2dProblem& p, bool vertical) {
  if (p.stride_w != (vertical ? p.stride_h : p.stride_w) || p.dil_w != 1) return DwShape::kGeneral;
  if (vertical && p.dil_h != 1) return DwShape::kGeneral;
  if (p.R == 3 && p.S == 3 && p.stride_w == 1) return DwShape::k3x3s1;
  if (p.R == 3 && p.S == 3 && p.stride_w == 2) return DwShape::k3x3s2;
  if (p.R == 5 && p.S == 5 && p.stride_w == 1) return DwShape::k5x5s1;
  return DwShape::kGeneral;
}

// Every coordinate a kernel forms (ih, iw up to one strip/band past the
// output, times the stride, plus padding) and every in-image offset fits
// int32; `q_extra` / `p_extra`: how far past Q / P a strip or band may reach.
bool index32_ok(const Conv2dProblem& p, int64_t p_extra, int64_t q_extra) {
  const int64_t kMax = INT32_MAX - 1024;  // headroom for the last 16-byte group's columns
  const int64_t x_span = (p.H - 1) * p.x_sh + (p.W - 1) * p.x_sw + (p.C - 1) * p.x_sc;
  const int64_t y_span = (p.P - 1) * p.y_sp + (p.Q - 1) * p.y_sq + (p.K - 1) * p.y_sk;
  const int64_t h_reach = (p.P + p_extra) * p.stride_h + p.R * p.dil_h + p.pad_h;
  const int64_t w_reach = (p.Q + q_extra) * p.stride_w + p.S * p.dil_w + p.pad_w;
  return x_span < kMax && y_span < kMax && h_reach < kMax && w_reach < kMax && p.H < kMax &&
         p.W < kMax && p.C < kMax && p.K < kMax;
}

// ---------------------------------------------------------------------------
// depthwise_nhwc_window: channels_last, multiplier 1, C % 8 == 0, aligned.
// One thread = 8 channels (one 16-byte vector of fp16/bf16, two of fp32) x a
// strip of kWinPix consecutive output pixels along q. For each filter row the
// thread walks the strip's (kWinPix-1)*SW + S input columns once and FMAs
// each loaded vector into every output of the strip that uses it: 3x3 s1
// loads 3 x 10 vectors per 8 outputs (3.75 per output) instead of 9.
// Threads: channel group fastest (a warp reads 512 contiguous bytes of one
// pixel when C = 256), then strip, then output row, then n (grid.y): the
// blocks of vertically neighbouring rows run close in time, so the 3x input
// row re-reads hit L2. One thread per work item (no grid-stride loop): the
// item decode is then two 32-bit divisions per thread, and the grid (well
// under 2^31 blocks) needs no loop. Interior strips (every column inside the
// image, every output inside Q) load and store unconditionally.
// Other filter shapes run the depthwise_nhwc kernel (per-tap, any R/S/
// stride/dilation); other layouts the depthwise step.
// ---------------------------------------------------------------------------

constexpr int kWinPix = 8;
// 64 accumulators + one filter row of weights + 10 in-flight
// vectors need ~135-145 registers (ptxas; capping at 128 spills). Small blocks
// keep the SM full anyway: registers are granted per warp, so 64-thread
// blocks give 14 warps/SM at 144 registers where 256-thread blocks give 8.
constexpr int kWinThreads = 64;

struct WinArgs {
  const void* x;
  void* y;
  const void* bias;
  const float* wp;   // packed fp32 weights [R*S][C]
  int64_t x_sn, y_sn;  // the only 64-bit offsets: one image base each
  int H, W, P, Q, C, cgroups, strips, items;  // items: work items per image
  int x_sh, x_sw, y_sp, y_sq;
  int stride_h, dil_h, pad_h, pad_w;
  int64_t n0;  // first image of this launch (grid.y is capped at 65535)
};

template <typename T>
__device__ __forceinline__ void ldg8(const T* ptr, float (&f)[8]) {
  Pack8<T> v;
#pragma unroll
  for (int j = 0; j < Pack8<T>::kWords; ++j) v.u[j] = __ldg(reinterpret_cast<const uint4*>(ptr) + j);
  const T* e = reinterpret_cast<const T*>(v.u);
#pragma unroll
  for (int j = 0; j < 8; ++j) f[j] = static_cast<float>(e[j]);
}

// One filter row of the window: input column j feeds output e = (j - s)/SW
// with weights wt[s], for every s where that is an integer in [0, PIX).
// All of it resolves at compile time; kInterior drops the column tests.
template <typename T, int S, int SW, int PIX, bool kInterior>
__device__ __forceinline__ void window_row(const T* __restrict__ xrow, int iw0, int x_sw, int W,
                                           const float (&wt)[S][8], float (&acc)[PIX][8]) {
  constexpr int kCols = (PIX - 1) * SW + S;
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
    const int iw = iw0 + j;
    if (!kInterior && (iw < 0 || iw >= W)) continue;  // padding: contributes zero
    float v[8];
    ldg8(xrow + iw * x_sw, v);
#pragma unroll
    for (int s = 0; s < S; ++s) {
      if (j - s < 0 || (j - s) % SW != 0 || (j - s) / SW >= PIX) continue;
      const int e = (j - s) / SW;
#pragma unroll
      for (int ch = 0; ch < 8; ++ch) acc[e][ch] = fmaf(v[ch], wt[s][ch], acc[e][ch]);
    }
  }
}

template <typename T, int R, int S, int SW, int PIX>
__global__ void __launch_bounds__(kWinThreads) depthwise_nhwc_window_kernel(WinArgs a) {
  constexpr int kCols = (PIX - 1) * SW + S;
  const int item = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);  // < 2^31: host
  if (item >= a.items) return;
  const int cg = item % a.cgroups, t = item / a.cgroups;
  const int strip = t % a.strips, pp = t / a.strips;
  const int c = cg * 8, q0 = strip * PIX;
  const int iw0 = q0 * SW - a.pad_w;
  const bool interior = iw0 >= 0 && iw0 + kCols <= a.W && q0 + PIX <= a.Q;
  const int64_t n = a.n0 + blockIdx.y;
  const T* __restrict__ xn = static_cast<const T*>(a.x) + n * a.x_sn + c;

  float acc[PIX][8];
  {
    float b[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (a.bias != nullptr) {
#pragma unroll
      for (int ch = 0; ch < 8; ++ch) b[ch] = static_cast<float>(static_cast<const T*>(a.bias)[c + ch]);
    }
#pragma unroll
    for (int e = 0; e < PIX; ++e)
#pragma unroll
      for (int ch = 0; ch < 8; ++ch) acc[e][ch] = b[ch];
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int ih = pp * a.stride_h - a.pad_h + r * a.dil_h;
    if (ih < 0 || ih >= a.H) continue;  // a padding row: zero for the whole strip
    float wt[S][8];  // this filter row's weights for the thread's 8 channels
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const float4* wv = reinterpret_cast<const float4*>(a.wp + (r * S + s) * a.C + c);
      const float4 w0 = __ldg(wv), w1 = __ldg(wv + 1);
      wt[s][0] = w0.x, wt[s][1] = w0.y, wt[s][2] = w0.z, wt[s][3] = w0.w;
      wt[s][4] = w1.x, wt[s][5] = w1.y, wt[s][6] = w1.z, wt[s][7] = w1.w;
    }
    const T* xrow = xn + ih * a.x_sh;
    if (interior)
      window_row<T, S, SW, PIX, true>(xrow, iw0, a.x_sw, a.W, wt, acc);
    else
      window_row<T, S, SW, PIX, false>(xrow, iw0, a.x_sw, a.W, wt, acc);
  }

  T* yrow = static_cast<T*>(a.y) + n * a.y_sn + pp * a.y_sp + c;
#pragma unroll
  for (int e = 0; e < PIX; ++e)
    if (interior || q0 + e < a.Q) store8(yrow + (q0 + e) * a.y_sq, acc[e]);
}

template <typename T, int R, int S, int SW, int PIX>
void launch_window(const Conv2dProblem& p, const float* wp) {
  const int64_t strips = ceil_div<int64_t>(p.Q, PIX);
  const int64_t items = p.P * strips * (p.C / 8);  // < INT32_MAX - kWinThreads: checked
  WinArgs a{p.x, p.y, p.bias, wp, p.x_sn, p.y_sn,
            static_cast<int>(p.H), static_cast<int>(p.W), static_cast<int>(p.P),
            static_cast<int>(p.Q), static_cast<int>(p.C), static_cast<int>(p.C / 8),
            static_cast<int>(strips), static_cast<int>(items),
            static_cast<int>(p.x_sh), static_cast<int>(p.x_sw), static_cast<int>(p.y_sp),
            static_cast<int>(p.y_sq), static_cast<int>(p.stride_h), static_cast<int>(p.dil_h),
            static_cast<int>(p.pad_h), static_cast<int>(p.pad_w), 0};
  const unsigned blocks = static_cast<unsigned>(ceil_div<int64_t>(items, kWinThreads));
  auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t n0 = 0; n0 < p.N; n0 += 65535) {  // grid.y limit
    a.n0 = n0;
    const dim3 grid(blocks, static_cast<unsigned>(std::min<int64_t>(65535, p.N - n0)));
    depthwise_nhwc_window_kernel<T, R, S, SW, PIX><<<grid, kWinThreads, 0, stream>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// Tuning table (CUOPS_CONV_CONFIG="depthwise_nhwc_window=<i>", read once per
// process; scripts/explore/tune_conv.py --dw), 3x3 stride 1 only:
// 0 = strips of 4 outputs (the default): half the accumulators, so more
//     resident warps to hide the load latency, for 4.5 loads per output
//     instead of 3.75 (H100: fp16 0.057 ms = 0.84x cuDNN, bf16 0.98x);
// 1 = strips of kWinPix = 8 (the first version: 0.072 ms, 0.80x / 0.78x).
constexpr int kNumWindowConfigs = 2;
int window_config() {
  static const std::string knob = getenv_string("CUOPS_CONV_CONFIG");
  const int cfg = tuning_config(knob, "CUOPS_CONV_CONFIG", "depthwise_nhwc_window");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumWindowConfigs,
                    "CUOPS_CONV_CONFIG: depthwise_nhwc_window=", cfg, " is out of range (0..",
                    kNumWindowConfigs - 1, ")");
  return cfg;
}

// True when it ran; false: the caller's fallback (the per-tap nhwc kernel).
template <typename T>
bool try_window(const Conv2dProblem& p) {
  const DwShape shape = dw_shape(p, /*vertical=*/false);
  if (shape == DwShape::kGeneral) return false;
  const int pix = shape == DwShape::k3x3s1 && window_config() == 0 ? 4 : kWinPix;
  const int64_t items = p.P * ceil_div<int64_t>(p.Q, pix) * (p.C / 8);
  if (!index32_ok(p, 1, pix) || items > INT32_MAX - kWinThreads ||
      p.R * p.S * p.C > INT32_MAX)
    return false;
  at::Tensor wp = at::empty({p.R * p.S * p.C}, at::TensorOptions().dtype(at::kFloat).device(
                                                   at::kCUDA, at::cuda::current_device()));
  pack_dw_weight_kernel<T><<<grid_for(wp.numel(), kThreads), kThreads, 0,
                             at::cuda::getCurrentCUDAStream()>>>(p, wp.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const float* w = wp.const_data_ptr<float>();
  switch (shape) {
    case DwShape::k3x3s1:
      if (pix == 4)
        launch_window<T, 3, 3, 1, 4>(p, w);
      else
        launch_window<T, 3, 3, 1, kWinPix>(p, w);
      break;
    case DwShape::k3x3s2: launch_window<T, 3, 3, 2, kWinPix>(p, w); break;
    case DwShape::k5x5s1: launch_window<T, 5, 5, 1, kWinPix>(p, w); break;
    default: break;
  }
  return true;
}

// ---------------------------------------------------------------------------
// depthwise_plane: rows contiguous (x_sw == y_sq == 1: NCHW), any multiplier.
// One block = a TQ-column x BP-row output tile of one (n, k) plane; for
// Q <= 128 the tile spans whole rows and, for a 56x56 plane, the whole plane
// (no halo re-read at all). The block stages the input band (+ halo, zero
// padding) into smem as acc_t with 16-byte loads (rows start 16-byte aligned
// when the pointer and strides allow; the band is staged from the aligned-
// down column and the compute reads at +shift), then each thread computes a
// vertical strip of kStrip outputs at one column: input row i of the strip
// window feeds output row (i - r)/ST with filter row r, so 3x3 s1 reads 10 x 3
// smem values for 8 outputs with the R*S weights in registers. Stores:
// consecutive threads = consecutive q (coalesced rows). 32-bit offsets
// inside the plane, one 64-bit plane base per block.
// Other filter shapes / strides / dilations and non-row-contiguous layouts
// run the depthwise step (its smem tile or pixel kernel).
// ---------------------------------------------------------------------------

constexpr int kStrip = 8;             // output rows per thread
constexpr int kPlaneMaxThreads = 512;
constexpr int kPlaneMaxTq = 128;

struct PlaneArgs {
  const void* x;
  const void* w;
  const void* bias;
  void* y;
  int64_t x_sn, x_sc, y_sn, y_sk, w_sk;  // 64-bit plane bases
  int w_sr, w_ss;
  int K, mult, H, W, P, Q, x_sh, y_sp, pad_h, pad_w;
  int tq, bp, tiles_q, tiles, nstrips, in_rows, pitch;
  bool vec;  // rows start 16-byte aligned: vector staging loads
};

// V acc_t values (16 or 32 bytes) to a 16-byte aligned smem address.
template <int V>
__device__ __forceinline__ void store_smem16(float* dst, const float (&v)[V]) {
#pragma unroll
  for (int j = 0; j < V / 4; ++j)
    reinterpret_cast<float4*>(dst)[j] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
}
template <int V>
__device__ __forceinline__ void store_smem16(double* dst, const double (&v)[V]) {
#pragma unroll
  for (int j = 0; j < V / 2; ++j)
    reinterpret_cast<double2*>(dst)[j] = make_double2(v[2 * j], v[2 * j + 1]);
}

template <typename T, int R, int S, int ST>
__global__ void __launch_bounds__(kPlaneMaxThreads) depthwise_plane_kernel(PlaneArgs a) {
  using A = acc_t<T>;
  constexpr int V = 16 / sizeof(T);  // elements per 16-byte global load
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* xs = reinterpret_cast<A*>(smem_raw);  // [in_rows][pitch]

  const int tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(a.tiles));
  const int64_t nk = blockIdx.x / static_cast<unsigned>(a.tiles);
  const int64_t n = nk / a.K, k = nk % a.K, c = k / a.mult;
  const int p0 = (tile / a.tiles_q) * a.bp, q0 = (tile % a.tiles_q) * a.tq;
  const int ih0 = p0 * ST - a.pad_h, iw0 = q0 * ST - a.pad_w;
  const int shift = ((iw0 % V) + V) % V;  // smem column 0 = input column iw0 - shift
  const int iwa = iw0 - shift;            // a multiple of V: aligned when a.vec
  const T* __restrict__ xc = static_cast<const T*>(a.x) + n * a.x_sn + c * a.x_sc;

  // Stage: one 16-byte group of V input columns per iteration.
  const int vpr = a.pitch / V;
  for (int i = threadIdx.x; i < a.in_rows * vpr; i += blockDim.x) {
    const int row = i / vpr, m = i - row * vpr;
    const int ih = ih0 + row, iw = iwa + m * V;
    A v[V];
    if (ih >= 0 && ih < a.H) {
      const T* src = xc + ih * a.x_sh;
      if (a.vec && iw >= 0 && iw + V <= a.W) {
        Vec<T, V> g;
        *reinterpret_cast<uint4*>(&g) = __ldg(reinterpret_cast<const uint4*>(src + iw));
#pragma unroll
        for (int e = 0; e < V; ++e) v[e] = static_cast<A>(g.v[e]);
      } else {
#pragma unroll
        for (int e = 0; e < V; ++e)
          v[e] = (iw + e >= 0 && iw + e < a.W) ? static_cast<A>(src[iw + e]) : A(0);
      }
    } else {
#pragma unroll
      for (int e = 0; e < V; ++e) v[e] = A(0);
    }
    store_smem16(xs + row * a.pitch + m * V, v);  // V-aligned column: 16-byte stores
  }

  A wr[R][S];
  const T* wk = static_cast<const T*>(a.w) + k * a.w_sk;
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int s = 0; s < S; ++s) wr[r][s] = static_cast<A>(wk[r * a.w_sr + s * a.w_ss]);
  const A b = a.bias != nullptr ? static_cast<A>(static_cast<const T*>(a.bias)[k]) : A(0);
  __syncthreads();

  const int ql = threadIdx.x % a.tq, strip = threadIdx.x / a.tq;
  const int q = q0 + ql;
  if (strip >= a.nstrips || q >= a.Q) return;  // after the only barrier
  const int pl0 = strip * kStrip;
  A acc[kStrip];
#pragma unroll
  for (int o = 0; o < kStrip; ++o) acc[o] = b;
  constexpr int kInRows = (kStrip - 1) * ST + R;
  const A* col = xs + (pl0 * ST) * a.pitch + shift + ql * ST;
#pragma unroll
  for (int i = 0; i < kInRows; ++i) {
    A xv[S];
#pragma unroll
    for (int s = 0; s < S; ++s) xv[s] = col[i * a.pitch + s];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (i - r < 0 || (i - r) % ST != 0 || (i - r) / ST >= kStrip) continue;
      const int o = (i - r) / ST;
#pragma unroll
      for (int s = 0; s < S; ++s) acc[o] += xv[s] * wr[r][s];
    }
  }
  T* yq = static_cast<T*>(a.y) + n * a.y_sn + k * a.y_sk + q;
#pragma unroll
  for (int o = 0; o < kStrip; ++o) {
    const int pp = p0 + pl0 + o;
    if (pp < a.P) yq[pp * a.y_sp] = static_cast<T>(acc[o]);
  }
}

template <typename T>
bool try_plane(const Conv2dProblem& p) {
  using A = acc_t<T>;
  constexpr int64_t V = 16 / sizeof(T);
  const DwShape shape = dw_shape(p, /*vertical=*/true);
  const bool rows = (p.x_sw == 1 || p.W == 1) && (p.y_sq == 1 || p.Q == 1);
  if (shape == DwShape::kGeneral || !rows) return false;
  const int64_t R = p.R, S = p.S, st = p.stride_h;
  // Tile: whole output rows up to kPlaneMaxTq columns; as many kStrip-row
  // strips as kPlaneMaxThreads threads and 48 KB of smem allow.
  const int64_t tq = std::min<int64_t>(p.Q, kPlaneMaxTq);
  const int64_t in_cols = (tq - 1) * st + S;
  const int64_t pitch = ceil_div<int64_t>(in_cols + V - 1, V) * V;  // + the alignment shift
  const int64_t max_strips = ceil_div<int64_t>(p.P, kStrip);
  int64_t nstrips = std::max<int64_t>(1, std::min<int64_t>(kPlaneMaxThreads / tq, max_strips));
  nstrips = ceil_div<int64_t>(max_strips, ceil_div<int64_t>(max_strips, nstrips));  // even bands
  auto smem_of = [&](int64_t ns) {
    return ((ns * kStrip - 1) * st + R) * pitch * static_cast<int64_t>(sizeof(A));
  };
  while (nstrips > 1 && smem_of(nstrips) > kMaxSmem) --nstrips;
  if (smem_of(nstrips) > kMaxSmem) return false;
  const int64_t bp = nstrips * kStrip;
  const int64_t tiles_q = ceil_div<int64_t>(p.Q, tq);
  const int64_t tiles = ceil_div<int64_t>(p.P, bp) * tiles_q;
  if (!index32_ok(p, bp, tq) || p.N * p.K * tiles > INT32_MAX ||
      (p.R - 1) * p.w_sr + (p.S - 1) * p.w_ss > INT32_MAX)
    return false;
  const bool vec = aligned16(p.x) && (p.H == 1 || p.x_sh % V == 0) &&
                   (p.C == 1 || p.x_sc % V == 0) && (p.N == 1 || p.x_sn % V == 0);
  PlaneArgs a{p.x, p.w, p.bias, p.y, p.x_sn, p.x_sc, p.y_sn, p.y_sk, p.w_sk,
              static_cast<int>(p.w_sr), static_cast<int>(p.w_ss), static_cast<int>(p.K),
              static_cast<int>(p.K / p.C), static_cast<int>(p.H), static_cast<int>(p.W),
              static_cast<int>(p.P), static_cast<int>(p.Q), static_cast<int>(p.x_sh),
              static_cast<int>(p.y_sp), static_cast<int>(p.pad_h), static_cast<int>(p.pad_w),
              static_cast<int>(tq), static_cast<int>(bp), static_cast<int>(tiles_q),
              static_cast<int>(tiles), static_cast<int>(nstrips),
              static_cast<int>((bp - 1) * st + R), static_cast<int>(pitch), vec};
  const int threads = static_cast<int>(ceil_div<int64_t>(tq * nstrips, 32) * 32);
  const auto smem = static_cast<size_t>(smem_of(nstrips));
  const auto grid = static_cast<unsigned>(p.N * p.K * tiles);
  auto stream = at::cuda::getCurrentCUDAStream();
  switch (shape) {
    case DwShape::k3x3s1:
      depthwise_plane_kernel<T, 3, 3, 1><<<grid, threads, smem, stream>>>(a);
      break;
    case DwShape::k3x3s2:
      depthwise_plane_kernel<T, 3, 3, 2><<<grid, threads, smem, stream>>>(a);
      break;
    case DwShape::k5x5s1:
      depthwise_plane_kernel<T, 5, 5, 1><<<grid, threads, smem, stream>>>(a);
      break;
    default:
      break;
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
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

void conv2d_depthwise_nhwc_window(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  bool done = false;
  switch (p.dtype) {  // fp64 -> depthwise (as depthwise_nhwc)
    case at::kHalf:
      if ((done = nhwc_eligible<at::Half>(p)) && !try_window<at::Half>(p))
        launch_depthwise_nhwc<at::Half>(p);
      break;
    case at::kBFloat16:
      if ((done = nhwc_eligible<at::BFloat16>(p)) && !try_window<at::BFloat16>(p))
        launch_depthwise_nhwc<at::BFloat16>(p);
      break;
    case at::kFloat:
      if ((done = nhwc_eligible<float>(p)) && !try_window<float>(p))
        launch_depthwise_nhwc<float>(p);
      break;
    default:
      break;
  }
  if (!done) conv2d_depthwise(p);  // routes non-depthwise problems on
}

void conv2d_depthwise_plane(const Conv2dProblem& p) {
  if (!is_depthwise(p)) {
    conv2d_implicit_gemm(p);
    return;
  }
  if (p.N * p.K * p.P * p.Q == 0) return;
  bool done = false;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(depthwise_plane)",
                                [&] { done = try_plane<scalar_t>(p); });
  if (!done) conv2d_depthwise(p);  // other shapes/layouts: smem tile or pixel kernel
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
