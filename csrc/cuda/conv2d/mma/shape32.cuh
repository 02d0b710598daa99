// The convolution's sizes as 32-bit integers, for the tensor-core kernels
// (implicit_gemm_mma and its split-K and dgrad uses, wgrad_mma). Per-image
// coordinates, channel counts and GEMM-K indices in int make the address
// arithmetic (and above all the divisions) much cheaper than int64; strides,
// the pixel count and the channel total stay 64-bit. The conversion and its
// overflow checks live here once (set_shape32).
#pragma once

#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

#include <algorithm>

namespace cuops::cuda::conv {

struct Shape32 {
  int64_t x_sn, x_sc, x_sh, x_sw;  // input strides (elements)
  int64_t y_sn, y_sk, y_sp, y_sq;  // output strides
  int64_t M;                       // N*P*Q output pixels
  int64_t K;                       // all output channels
  int H, W, P, Q, PQ, R, S, Cg, Kg;
  int sh, sw, ph, pw, dh, dw;      // stride, padding (top/left), dilation
  int Ktot;                        // R*S*Cg: the taps x channels of one filter
};

// Every extent a kernel forms stays below 2^30, so int sums of two of them
// cannot overflow, and rows past the image can be marked with -2^30:
// image sizes, the coordinates a receptive field reaches, P*Q, Kg, and
// Ktot rounded up to 16-byte chunks plus `k_overrun` (how far a last GEMM-K
// tile may reach past it). `who` names the step in the error.
//
// `Params` is the kernel's own parameter struct: it declares these fields
// in the order that suits its kernel (the layout decides which parameters
// the compiler loads together), and this fills them:
//   int64_t x_sn, x_sc, x_sh, x_sw;  input strides (elements)
//   int64_t y_sn, y_sk, y_sp, y_sq;  output strides
//   int64_t M, K;                    N*P*Q output pixels, all output channels
//   int H, W, P, Q, [PQ,] R, S, Cg, Kg, sh, sw, ph, pw, dh, dw;
//   int Ktot;                        R*S*Cg: the taps x channels of one filter
template <class Params>
void set_shape32(Params& prm, const Conv2dProblem& p, int64_t k_overrun, const char* who) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  const int64_t Ktot = p.R * p.S * Cg;
  for (int64_t v : {p.H, p.W, p.P, p.Q, p.P * p.Q, Kg, round_up<int64_t>(Ktot, 8) + k_overrun,
                    std::max(p.H, p.P) * p.stride_h + p.R * p.dil_h + p.pad_h,
                    std::max(p.W, p.Q) * p.stride_w + p.S * p.dil_w + p.pad_w}) {
    TORCH_CHECK(v < (int64_t{1} << 30), who, ": a spatial or channel extent is too large for "
                "32-bit per-image indexing");
  }
  prm.x_sn = p.x_sn;
  prm.x_sc = p.x_sc;
  prm.x_sh = p.x_sh;
  prm.x_sw = p.x_sw;
  prm.y_sn = p.y_sn;
  prm.y_sk = p.y_sk;
  prm.y_sp = p.y_sp;
  prm.y_sq = p.y_sq;
  prm.M = p.N * p.P * p.Q;
  prm.K = p.K;
  prm.H = static_cast<int>(p.H);
  prm.W = static_cast<int>(p.W);
  prm.P = static_cast<int>(p.P);
  prm.Q = static_cast<int>(p.Q);
  if constexpr (requires { prm.PQ; }) prm.PQ = static_cast<int>(p.P * p.Q);
  prm.R = static_cast<int>(p.R);
  prm.S = static_cast<int>(p.S);
  prm.Cg = static_cast<int>(Cg);
  prm.Kg = static_cast<int>(Kg);
  prm.sh = static_cast<int>(p.stride_h);
  prm.sw = static_cast<int>(p.stride_w);
  prm.ph = static_cast<int>(p.pad_h);
  prm.pw = static_cast<int>(p.pad_w);
  prm.dh = static_cast<int>(p.dil_h);
  prm.dw = static_cast<int>(p.dil_w);
  prm.Ktot = static_cast<int>(Ktot);
}

// Element stride `s` of a dim of size `n` keeps 16-byte alignment of 16-bit
// elements (size-1 dims never move the pointer, so their stride does not
// matter).
inline bool keeps16(int64_t n, int64_t s) { return n == 1 || s % 8 == 0; }

}  // namespace cuops::cuda::conv
