// conv2d_backward_input ladder step "implicit_gemm_mma": dgrad on tensor
// cores (fp16/bf16) as a forward convolution, stride 1 only.
//
// For stride 1, dx[n][g*Cg+c][h][w] = sum_{k,r,s} dy[n][g*Kg+k][h+pt-r*dh][w+pl-s*dw]
// * w[g*Kg+k][c][r][s]. Substituting r' = R-1-r turns it into a forward
// convolution of dy with
//   w'[g*Cg+c][k][r'][s'] = w[g*Kg+k][c][R-1-r'][S-1-s']   (K and C swap per group)
// same dilation, padding' = dil*(kernel-1) - padding on each side (so the
// "output" size is H x W again). This step takes it where every padding' >= 0;
// strided problems (dy would need zeros inserted) and larger paddings take
// the SIMT implicit_gemm step. The next step, implicit_gemm_mma_phases, lifts
// both limits: this flipped-weight forward is its one-phase case, so the
// flip and the forward problem are built there (conv2d_dgrad_by_phases,
// csrc/conv2d_phases.cpp, shared with the CPU step `phases`).
#include <ATen/cuda/CUDAContext.h>

#include "conv2d_steps.h"
#include "cuda/conv2d/kernels.h"

namespace cuops::cuda {

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
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_mma);
}

}  // namespace cuops::cuda
