// Depthwise convolution (groups == C, each output channel k reads only
// input channel k / (K/C)): what the depthwise ladder steps share.
//
// Depthwise is memory-bound: R*S FMAs per output against one input and one
// output element, so the floor is reading x once and writing y once. The
// steps reach for that floor in different layouts, one file each:
//   depthwise              (depthwise.cu) a block stages an input tile + halo
//                          of one (n, k) plane in smem (rows contiguous), else
//                          one thread per output, channels fastest.
//   depthwise_nhwc         (depthwise_nhwc.cu) channels_last, 8 channels of
//                          kPix pixels per thread, 16-byte vector loads/stores.
//   depthwise_nhwc_window  (depthwise_nhwc_window.cu) channels_last, 8 channels
//                          x 4-8 output pixels per thread as a sliding window in
//                          registers: each input vector is loaded once per
//                          filter row, not once per tap.
//   depthwise_plane        (depthwise_plane.cu) rows contiguous (NCHW), a band
//                          of a plane staged in smem with 16-byte loads,
//                          vertical strips of 8 outputs per thread.
// The gradient ladders' `depthwise` step (depthwise_backward.cu) runs dgrad
// through these (conv2d_dgrad_by_phases with the forward's default) and has
// its own wgrad reduction.
// Each step takes every problem: what it cannot run goes to the next more
// general step (window -> nhwc -> depthwise; plane -> depthwise), and a
// problem that is not depthwise to implicit_gemm (step 2).
#pragma once

#include "cuda/conv2d/common.cuh"

namespace cuops::cuda {
namespace {

using conv::kThreads;
using conv::ld;

constexpr int kMaxSmem = 48 * 1024;  // static smem budget of the smem-staging kernels

// ---- 8 channels as 16-byte vectors (channels_last steps) -------------------
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
__device__ __forceinline__ void ldg8(const T* ptr, float (&f)[8]) {
  Pack8<T> v;
#pragma unroll
  for (int j = 0; j < Pack8<T>::kWords; ++j) v.u[j] = __ldg(reinterpret_cast<const uint4*>(ptr) + j);
  const T* e = reinterpret_cast<const T*>(v.u);
#pragma unroll
  for (int j = 0; j < 8; ++j) f[j] = static_cast<float>(e[j]);
}

// Weights repacked as fp32 [R*S][C], so one tap's 8 channels are two float4
// loads (the channels_last steps; multiplier 1: output channel c = input c).
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
at::Tensor packed_dw_weight(const Conv2dProblem& p) {
  at::Tensor wp = at::empty({p.R * p.S * p.C}, at::TensorOptions().dtype(at::kFloat).device(
                                                   at::kCUDA, at::cuda::current_device()));
  pack_dw_weight_kernel<T><<<grid_for(wp.numel(), kThreads), kThreads, 0,
                             at::cuda::getCurrentCUDAStream()>>>(p, wp.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return wp;
}

// Element stride `s` of a dim of size `n` keeps 16-byte alignment.
inline bool keeps16(int64_t n, int64_t s, int64_t vec) { return n == 1 || s % vec == 0; }

// The channels_last vector steps' domain: multiplier 1, C % 8 == 0, x and y
// channels-contiguous with 16-byte aligned pixels.
template <typename T>
bool nhwc_eligible(const Conv2dProblem& p) {
  constexpr int64_t vec = 16 / sizeof(T);
  return is_depthwise(p) && p.K == p.C && p.C % 8 == 0 && p.x_sc == 1 && p.y_sk == 1 &&
         aligned16(p.x) && aligned16(p.y) && keeps16(p.N, p.x_sn, vec) &&
         keeps16(p.H, p.x_sh, vec) && keeps16(p.W, p.x_sw, vec) && keeps16(p.N, p.y_sn, vec) &&
         keeps16(p.P, p.y_sp, vec) && keeps16(p.Q, p.y_sq, vec);
}

// ---- filter shapes of the sliding-window steps (window, plane) -------------
// The shapes compiled as fully unrolled sliding windows (R x S, equal
// strides, dilation 1) and the host test that 32-bit offsets are exact
// inside one image / plane.
enum class DwShape { kGeneral, k3x3s1, k3x3s2, k5x5s1, k7x7s1 };

// `vertical`: the vertical stride/dilation must match too (the plane kernel's
// window slides vertically; the window kernel's slides along q only).
inline DwShape dw_shape(const Conv2dProblem& p, bool vertical) {
  if (p.stride_w != (vertical ? p.stride_h : p.stride_w) || p.dil_w != 1) return DwShape::kGeneral;
  if (vertical && p.dil_h != 1) return DwShape::kGeneral;
  if (p.R == 3 && p.S == 3 && p.stride_w == 1) return DwShape::k3x3s1;
  if (p.R == 3 && p.S == 3 && p.stride_w == 2) return DwShape::k3x3s2;
  if (p.R == 5 && p.S == 5 && p.stride_w == 1) return DwShape::k5x5s1;
  if (p.R == 7 && p.S == 7 && p.stride_w == 1) return DwShape::k7x7s1;  // ConvNeXt
  return DwShape::kGeneral;
}

// Every coordinate a kernel forms (ih, iw up to one strip/band past the
// output, times the stride, plus padding) and every in-image offset fits
// int32; `q_extra` / `p_extra`: how far past Q / P a strip or band may reach.
inline bool index32_ok(const Conv2dProblem& p, int64_t p_extra, int64_t q_extra) {
  const int64_t kMax = INT32_MAX - 1024;  // headroom for the last 16-byte group's columns
  const int64_t x_span = (p.H - 1) * p.x_sh + (p.W - 1) * p.x_sw + (p.C - 1) * p.x_sc;
  const int64_t y_span = (p.P - 1) * p.y_sp + (p.Q - 1) * p.y_sq + (p.K - 1) * p.y_sk;
  const int64_t h_reach = (p.P + p_extra) * p.stride_h + p.R * p.dil_h + p.pad_h;
  const int64_t w_reach = (p.Q + q_extra) * p.stride_w + p.S * p.dil_w + p.pad_w;
  return x_span < kMax && y_span < kMax && h_reach < kMax && w_reach < kMax && p.H < kMax &&
         p.W < kMax && p.C < kMax && p.K < kMax;
}

}  // namespace
}  // namespace cuops::cuda
