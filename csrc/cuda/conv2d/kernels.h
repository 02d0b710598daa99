// Launchers of the CUDA conv2d ladder, one file per step (csrc/cuda/conv2d/).
// Each solves the whole Conv2dProblem for the dtypes its ladder entry lists,
// on the current stream, launch-checked.
#pragma once

#include "conv2d.h"

#include <string>
#include <utility>
#include <vector>

namespace cuops::cuda {

// dgrad by output phases (conv2d_dgrad_by_phases, csrc/conv2d_steps.h) on the
// current CUDA device, each phase run by `forward` (or all by `forward_all`
// where it takes them), the sub-filters packed by one kernel
// (pack_subfilters.cu).
void dgrad_by_phases_cuda(const Conv2dGradProblem& p, void (*forward)(const Conv2dProblem&),
                          bool (*forward_all)(const std::vector<Conv2dProblem>&) = nullptr);

void conv2d_direct(const Conv2dProblem& p);         // 1. one thread per output
void conv2d_implicit_gemm(const Conv2dProblem& p);  // 2. implicit GEMM, smem tiles (SIMT)
// 2b. fp32: implicit GEMM with matmul warptile_static's register tiling
// (128 x 128 tiles, 8 x 8 per thread), a packed filter and a tap table from a
// pre-pass, layout-specialized x gathers, 2 or 4 narrow groups per tile; any
// padding sign, any y strides (offsets beyond 32 bits -> conv2d_implicit_gemm).
void conv2d_implicit_gemm_regtile(const Conv2dProblem& p);
// 2b'. the same with a group of <= 64 filters sharing the tile's columns with
// 2 or 4 pixel slots (forward; dgrad by phases; the wgrad below).
void conv2d_implicit_gemm_regtile_slots(const Conv2dProblem& p);
void conv2d_backward_input_implicit_gemm_regtile_slots(const Conv2dGradProblem& p);
// 2c. fp32 on the TF32 tensor cores at fp32 accuracy (3xTF32, the matmul
// mma_3xtf32 core): 128 x 128 x 32 tiles, im2col gathered by cp.async into a
// 4-stage ring, packed filter; other problems/GPUs -> implicit_gemm_regtile.
void conv2d_implicit_gemm_3xtf32(const Conv2dProblem& p);
// 2e. fp32 3xTF32 on Hopper's tf32 wgmma engine (sm_90a): matmul
// wgmma_3xtf32's stages with implicit_gemm_wgmma's im2col gather; C % 32 ==
// 0, groups 1, K >= 64, an NCHW x through a channels_last copy (others ->
// implicit_gemm_3xtf32). dgrad: the phases over it.
void conv2d_implicit_gemm_wgmma_3xtf32(const Conv2dProblem& p);
// This build holds its kernels for the current device (an sm_90 device and
// an sm_90a build): the default rules ask before they pick the step.
bool tf32_wgmma_conv_in_build();
void conv2d_backward_input_implicit_gemm_wgmma_3xtf32(const Conv2dGradProblem& p);
// ... and its wgrad (wgrad_wgmma.cu): dy^T by the copy engine, im2col(x)
// gathered (C % 32 == 0, dy dense channels_last, K >= 64), split over pixels;
// others -> implicit_gemm_3xtf32.
void conv2d_backward_weight_implicit_gemm_wgmma_3xtf32(const Conv2dGradProblem& p);
// 2d. few filters per group (K/groups <= 8, conv2d_is_narrow), every dtype:
// a thread owns 4 pixels x all filters, taps and weights staged in smem;
// others -> implicit_gemm. dgrad: the phases over it (C/groups <= 8).
bool conv2d_is_narrow(const Conv2dProblem& p);
void conv2d_implicit_gemm_narrow(const Conv2dProblem& p);
void conv2d_backward_input_implicit_gemm_narrow(const Conv2dGradProblem& p);
// 2f. the same problems at stride 1 with contiguous rows of x (the dgrad
// phases of an RGB stem): a thread owns 8 output rows of one column, each
// loaded column strip of x serves every tap row from registers; others ->
// implicit_gemm_narrow. dgrad: the phases over it.
void conv2d_narrow_window(const Conv2dProblem& p);
void conv2d_backward_input_narrow_window(const Conv2dGradProblem& p);
// 3c. Hopper (sm_90a), fp16/bf16, channels_last, C % 64 == 0: implicit GEMM
// on matmul's wgmma engine with a cp.async im2col producer; others -> the
// split-K step. conv2d_wgmma_try runs it where it applies (else false).
// dgrad: the phases over it (dy channels_last, K % 64 == 0).
bool conv2d_wgmma_try(const Conv2dProblem& p);
void conv2d_implicit_gemm_wgmma(const Conv2dProblem& p);
void conv2d_backward_input_implicit_gemm_wgmma(const Conv2dGradProblem& p);
// dgrad step implicit_gemm_wgmma_phases: the phases of a strided dgrad as one
// persistent launch of 3c's kernel over all their tiles
// (implicit_gemm_wgmma_phases.cu); conv2d_wgmma_phases_try runs phase
// problems so where they qualify (else false).
bool conv2d_wgmma_phases_try(const std::vector<Conv2dProblem>& phases);
void conv2d_backward_input_implicit_gemm_wgmma_phases(const Conv2dGradProblem& p);
void conv2d_implicit_gemm_mma(const Conv2dProblem& p);  // 3. tensor cores (fp16/bf16, NHWC)
void conv2d_depthwise(const Conv2dProblem& p);      // 4. groups == C == K
// 3b. step 3 with split-K over gridDim.y + a finishing pass when the M x N
// tiles cannot fill the GPU and GEMM-K is long (ResNet 512@7); else = step 3.
void conv2d_implicit_gemm_mma_splitk(const Conv2dProblem& p);
// 4b. depthwise, channels_last: 8 channels per thread as 16-byte vectors
// (multiplier 1, C % 8 == 0, aligned; anything else -> conv2d_depthwise).
void conv2d_depthwise_nhwc(const Conv2dProblem& p);
// 4c. depthwise, channels_last: 8 channels x a strip of 4-8 output pixels per
// thread, a sliding window in registers (each input vector loaded once per
// filter row); 3x3 s1/s2, 5x5 s1 and 7x7 s1, other filters -> the 4b kernel;
// layouts 4b cannot take -> conv2d_depthwise.
void conv2d_depthwise_nhwc_window(const Conv2dProblem& p);
// 4d. depthwise, rows contiguous (NCHW), any multiplier: a band of a plane in
// smem, vertical strips of 8 outputs per thread; 3x3 s1/s2 and 5x5 s1,
// others -> conv2d_depthwise.
void conv2d_depthwise_plane(const Conv2dProblem& p);

// 5. pointwise problems (is_pointwise: 1x1, unpadded; any stride, groups) as
// one plain GEMM through gemm_default (channels_last) or one per image
// (NCHW), gathered/channel-major copies where the pixels do not run on at one
// stride (gemm_1x1.cu); other problems -> conv2d_default. The same step of
// the gradient ladders: conv2d_backward_input_gemm / _weight_gemm below.
void conv2d_gemm(const Conv2dProblem& p);

// What each ladder runs on `p` with no variant named: its default step for
// this problem and dtype (conv2d_cuda.cpp). Steps that serve only part of the
// problems (gemm) send the rest here; the ladder's rules never pick such a
// step outside its part, so this does not come back to it.
void conv2d_default(const Conv2dProblem& p);
void conv2d_backward_input_default(const Conv2dGradProblem& p);
void conv2d_backward_weight_default(const Conv2dGradProblem& p);

// Gradients (Conv2dGradProblem, csrc/conv2d.h). dgrad: grad_input.
void conv2d_backward_input_direct(const Conv2dGradProblem& p);         // one thread per dx
// Groups 1: cols = dy . w (R*S*C columns, fp32) as one GEMM, then each dx
// element gathers its taps (few input channels: an RGB stem); other problems
// -> the ladder's default (dgrad_im2col.cu).
void conv2d_backward_input_im2col_gemm(const Conv2dGradProblem& p);
void conv2d_backward_input_implicit_gemm(const Conv2dGradProblem& p);  // implicit GEMM (SIMT)
// Stride 1: a forward mma convolution of dy with the spatially flipped,
// K<->C swapped weight (fp16/bf16); other problems -> the SIMT step.
void conv2d_backward_input_implicit_gemm_mma(const Conv2dGradProblem& p);
// Any stride and dilation (fp16/bf16): stride_h*stride_w forward tensor-core
// convolutions, one per output phase of dx (conv2d_dgrad_by_phases,
// csrc/conv2d_steps.h, with the split-K forward step).
void conv2d_backward_input_implicit_gemm_mma_phases(const Conv2dGradProblem& p);
// fp32, any stride: conv2d_dgrad_by_phases (csrc/conv2d_steps.h) with
// conv2d_implicit_gemm_regtile.
void conv2d_backward_input_implicit_gemm_regtile(const Conv2dGradProblem& p);
// fp32, any stride: the phases with conv2d_implicit_gemm_3xtf32.
void conv2d_backward_input_implicit_gemm_3xtf32(const Conv2dGradProblem& p);
// Depthwise dgrad (multiplier 1; others -> the direct step): the phases
// above with the forward ladder's default (conv2d_default), whose rules send
// the phase problems (depthwise again) to the depthwise kernel of their layout
// (depthwise_backward.cu).
void conv2d_backward_input_depthwise(const Conv2dGradProblem& p);
// Depthwise wgrad (multiplier 1; others -> the direct step): VEC channels
// (8 as 16-byte vectors channels_last, else 1) x a group of taps per thread,
// pixel slices reduced per block, partials finished in slice order.
void conv2d_backward_weight_depthwise(const Conv2dGradProblem& p);
void conv2d_backward_weight_depthwise_window(const Conv2dGradProblem& p);
// wgrad: grad_weight; the N*P*Q reduction is split across blocks into
// deterministic acc_t partials, summed by a finishing pass (common.cuh).
void conv2d_backward_weight_direct(const Conv2dGradProblem& p);         // one thread per dw
void conv2d_backward_weight_implicit_gemm(const Conv2dGradProblem& p);  // implicit GEMM, split-K
// fp32: the forward regtile tiling (regtile.cuh), 128 x 128 tiles of K/groups x
// C/groups*R*S, pixels split into fixed chunks of fp32 partials + the finish.
void conv2d_backward_weight_implicit_gemm_regtile(const Conv2dGradProblem& p);
// fp32, K/groups <= 64: the same with taps on the tile rows and the 128
// columns shared by 2 or 4 slots (groups, or pixel chunks of one group);
// others -> implicit_gemm_regtile.
void conv2d_backward_weight_implicit_gemm_regtile_slots(const Conv2dGradProblem& p);
// fp32 on the TF32 tensor cores at fp32 accuracy (3xTF32, tf32x3.cuh): both
// operands gathered by 4-byte cp.async into a 4-stage ring, split over pixels,
// deterministic finish; other problems/GPUs -> the regtile wgrad.
void conv2d_backward_weight_implicit_gemm_3xtf32(const Conv2dGradProblem& p);
// Tensor-core wgrad (fp16/bf16) through conv2d_wgrad_mma (+ a layout copy
// when grad_weight is not KCRS-contiguous).
void conv2d_backward_weight_implicit_gemm_mma(const Conv2dGradProblem& p);
// The tensor-core wgrad kernel itself: p.x = input, p.y = grad_output; dw =
// KCRS-contiguous [K][C/groups][R][S] of p.dtype, fully overwritten
// (docs/conv2d-mma.md).
void conv2d_wgrad_mma(const Conv2dProblem& p, void* dw);
// Runs such a kernel (p.x = input, p.y = grad_output, a KCRS-contiguous dw)
// for the ladder's grad_weight: in place when it is KCRS-contiguous, else
// into a temporary and a strided copy (data movement, K*Cg*R*S elements).
void wgrad_into_kcrs(const Conv2dGradProblem& p, void (*wgrad)(const Conv2dProblem&, void*));
// Element strides of a weight gradient dw[k][c][r][s] (KCRS-contiguous:
// {Cw*R*S, R*S, S, 1}; a channels_last grad_weight: c unit-stride).
struct DwStrides {
  int64_t k, c, r, s;
};
// The tensor-core wgrads' finish: dw (p.dtype, through `dws`) = the sum over
// ws's splits in split order (deterministic); ws = [splits][K][R*S*Cg] fp32
// partials, column (r*S + s)*Cg + c; columns of c >= Cw are padding.
void wgrad_reduce_splits(const at::Tensor& ws, void* dw, const DwStrides& dws,
                         const Conv2dProblem& p, int64_t Cw);
// 3c's wgrad on the wgmma engine (sm_90a; x channels_last with C % 64 == 0,
// dy dense channels_last, groups 1): dy^T by the copy engine, im2col(x)
// gathered by the producer warpgroup, split over pixels, the finish above;
// other problems -> implicit_gemm_mma.
void conv2d_backward_weight_implicit_gemm_wgmma(const Conv2dGradProblem& p);
// Pointwise gradients as GEMMs (gemm_1x1.cu): dgrad dx = dy . w per pixel
// (stride > 1: a dense temporary scattered into a zeroed dx); wgrad dw = dy^T
// . x with GEMM-K = N*P*Q (NCHW and strided operands through copies whose
// pixels run on at one stride; fp32/fp64 NCHW: per-image GEMMs' partials
// summed in image order). Other problems -> the ladders' defaults.
void conv2d_backward_input_gemm(const Conv2dGradProblem& p);
void conv2d_backward_weight_gemm(const Conv2dGradProblem& p);

// Sizes of the development tuning tables, (variant, entries) (tuning.h,
// CUOPS_CONV_CONFIG): what cuops.ops.conv2d.TUNING_TABLES reads through
// cuops._C.tuning_tables(). None without the CUDA kernels.
#ifdef CUOPS_WITH_CUDA
std::vector<std::pair<std::string, int>> conv2d_tuning_tables();
#else
inline std::vector<std::pair<std::string, int>> conv2d_tuning_tables() { return {}; }
#endif

}  // namespace cuops::cuda
