// conv2d_backward_input ladder step "implicit_gemm_mma": dgrad on tensor
// cores (fp16/bf16) as a forward convolution.
//
// For stride 1, dx[n][g*Cg+c][h][w] = sum_{k,r,s} dy[n][g*Kg+k][h+pt-r*dh][w+pl-s*dw]
// * w[g*Kg+k][c][r][s]. Substituting r' = R-1-r turns it into a forward
// convolution of dy with
//   w'[g*Cg+c][k][r'][s'] = w[g*Kg+k][c][R-1-r'][S-1-s']   (K and C swap per group)
// same dilation, padding' = dil*(kernel-1) - padding on each side (so the
// "output" size is H x W again). Valid when every padding' >= 0; strided
// problems (dy would need zeros inserted) and larger paddings take the SIMT
// implicit_gemm step.
//
// Stages: the padding' test -> flip the weight (flip_weight_kernel) -> the
// forward problem (forward_of) -> the forward step's kernels.
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda {
namespace {

// w' written as [C][R][S][Kg] (taps then k fastest): exactly the B layout the
// mma kernel reads in place (kk = (r*S+s)*Kg + k), so it needs no second pack
// when R*S*Kg % 8 == 0. Data movement only: C*Kg*R*S elements.
__global__ void flip_weight_kernel(const uint16_t* __restrict__ w, uint16_t* __restrict__ out,
                                   int64_t C, int Kg, int Cg, int R, int S, int64_t w_sk,
                                   int64_t w_sc, int64_t w_sr, int64_t w_ss) {
  const int64_t total = C * R * S * Kg;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int k = static_cast<int>(i % Kg);
    int64_t t = i / Kg;
    const int s = static_cast<int>(t % S);
    t /= S;
    const int r = static_cast<int>(t % R);
    const int64_t cc = t / R;  // g*Cg + c
    const int64_t g = cc / Cg, c = cc - g * Cg;
    out[i] = w[(g * Kg + k) * w_sk + c * w_sc + (R - 1 - r) * w_sr + (S - 1 - s) * w_ss];
  }
}

// The forward problem whose output is dx: input dy, weight w' (`wf`, from
// flip_weight_kernel), padding' (pt2, pl2; bottom/right live in P and Q).
Conv2dProblem forward_of(const Conv2dGradProblem& p, const void* wf, int64_t pt2, int64_t pl2) {
  const int64_t Kg = p.K / p.groups;
  Conv2dProblem q;
  q.N = p.N, q.C = p.K, q.H = p.P, q.W = p.Q;  // "input" = dy
  q.K = p.C, q.R = p.R, q.S = p.S;             // "output" = dx
  q.P = p.H, q.Q = p.W;
  q.groups = p.groups;
  q.stride_h = 1, q.stride_w = 1;
  q.pad_h = pt2, q.pad_w = pl2;  // bottom/right live in P and Q (conv2d.h)
  q.dil_h = p.dil_h, q.dil_w = p.dil_w;
  q.x = p.dy;
  q.x_sn = p.y_sn, q.x_sc = p.y_sk, q.x_sh = p.y_sp, q.x_sw = p.y_sq;
  q.w = wf;
  q.w_sk = p.R * p.S * Kg, q.w_sc = 1, q.w_sr = p.S * Kg, q.w_ss = Kg;
  q.y = p.dx;
  q.y_sn = p.x_sn, q.y_sk = p.x_sc, q.y_sp = p.x_sh, q.y_sq = p.x_sw;
  q.bias = nullptr;
  q.dtype = p.dtype;
  return q;
}

}  // namespace

void conv2d_backward_input_implicit_gemm_mma(const Conv2dGradProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.conv2d_backward_input: variant 'implicit_gemm_mma' supports float16 and "
              "bfloat16, got ", p.dtype);
  // Padding' per side. Bottom/right from the stride-1 output size:
  // P = H + pt + pb - dh*(R-1)  =>  dh*(R-1) - pb = H - P + pt.
  const int64_t pt2 = p.dil_h * (p.R - 1) - p.pad_h, pb2 = p.H - p.P + p.pad_h;
  const int64_t pl2 = p.dil_w * (p.S - 1) - p.pad_w, pr2 = p.W - p.Q + p.pad_w;
  if (p.stride_h != 1 || p.stride_w != 1 || pt2 < 0 || pb2 < 0 || pl2 < 0 || pr2 < 0) {
    conv2d_backward_input_implicit_gemm(p);
    return;
  }
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  at::Tensor wf = at::empty({p.C * p.R * p.S * Kg},
                            at::TensorOptions().dtype(p.dtype).device(
                                at::kCUDA, at::cuda::current_device()));
  constexpr int kFlipThreads = 256;
  flip_weight_kernel<<<grid_for(wf.numel(), kFlipThreads), kFlipThreads, 0,
                       at::cuda::getCurrentCUDAStream()>>>(
      static_cast<const uint16_t*>(p.w), static_cast<uint16_t*>(wf.data_ptr()), p.C,
      static_cast<int>(Kg), static_cast<int>(Cg), static_cast<int>(p.R), static_cast<int>(p.S),
      p.w_sk, p.w_sc, p.w_sr, p.w_ss);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  conv2d_implicit_gemm_mma(forward_of(p, wf.const_data_ptr(), pt2, pl2));
}

}  // namespace cuops::cuda
