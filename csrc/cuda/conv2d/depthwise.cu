// conv2d ladder step 4: depthwise convolution (depthwise.cuh), any layout
// and dtype. Two kernels:
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
#include "cuda/conv2d/depthwise.cuh"

namespace cuops::cuda {
namespace {

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

}  // namespace

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
