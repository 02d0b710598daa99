// conv2d ladder step 4b: depthwise_nhwc. Channels_last, multiplier 1
// (K == C), C % 8 == 0, aligned (nhwc_eligible, depthwise.cuh); anything
// else runs step 4 (depthwise).
// One thread = 8 consecutive channels (16 bytes of fp16/bf16, 2x16 of fp32)
// of kPix consecutive output pixels along q. Threads are ordered channel
// group fastest, so a warp reads and writes contiguous 16-byte vectors of
// one pixel row (coalesced); the R*S taps re-read neighbouring pixels that
// the block's warps just loaded, which hit L1/L2, so DRAM sees x about once.
// Weights are pre-packed as fp32 [R*S][C] (a tiny pass) so one tap's 8
// weights are two float4 loads shared by the thread's kPix pixels.
#include "cuda/conv2d/depthwise.cuh"

namespace cuops::cuda {
namespace {

constexpr int kPix = 4;

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

template <typename T>
void launch_depthwise_nhwc(const Conv2dProblem& p) {
  auto stream = at::cuda::getCurrentCUDAStream();
  const at::Tensor wp = packed_dw_weight<T>(p);
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

}  // namespace cuops::cuda
