// CUDA entry points of cuops.conv2d and its gradients: the kernel ladders
// and their default rules (a C++ file: op_entry.h says why). The kernels:
// csrc/cuda/conv2d/*.cu.
//
// Forward ladder (teaching order):
//   direct             one thread per output, any dtype/layout/argument
//   implicit_gemm      SIMT implicit GEMM, 64x64x16 smem tiles
//   implicit_gemm_mma  tensor cores (mma.sync), fp16/bf16
//   depthwise          dedicated depthwise kernel (others -> implicit_gemm)
//   implicit_gemm_mma_splitk  implicit_gemm_mma + split-K when the tiles
//                      cannot fill the GPU (ResNet 512@7); otherwise exactly
//                      implicit_gemm_mma
//   depthwise_nhwc     depthwise, channels_last, 8 channels per thread as
//                      16-byte vectors (others -> depthwise)
//   depthwise_nhwc_window  depthwise, channels_last, 8 channels x a strip of 4-8
//                      pixels per thread as a sliding window in registers
//                      (other filters -> the depthwise_nhwc kernel, others ->
//                      depthwise)
//   depthwise_plane    depthwise, rows contiguous (NCHW): a plane band in smem,
//                      8-row vertical strips per thread (others -> depthwise)
//   gemm               1x1 unpadded (is_pointwise): a plain GEMM through
//                      cuops.matmul's default (gemm_default); others -> the
//                      ladder's default
//   implicit_gemm_regtile  fp32: implicit GEMM with matmul warptile_static's
//                      register tiling (128x128 tiles, 8x8 per thread), packed
//                      filter + tap table, layout-specialized gathers
//   implicit_gemm_regtile_slots  the same with <= 64 filters of one group
//                      sharing the tile with pixel slots
//   implicit_gemm_3xtf32  fp32 on the tf32 tensor cores at fp32 accuracy
//                      (matmul mma_3xtf32's core), cp.async im2col gathers
//                      (opt-in; dgrad through the phases, wgrad its own kernel)
//   implicit_gemm_wgmma_3xtf32  fp32 3xTF32 on Hopper's tf32 wgmma engine with
//                      implicit_gemm_wgmma's gathers (NCHW operands through a
//                      channels_last copy; dgrad through the phases, wgrad as
//                      implicit_gemm_wgmma's)
//   implicit_gemm_narrow  K/groups <= 8 filters (heads; the dgrad phases of an
//                      RGB stem): filters as the inner loop, not a tile dim
//   narrow_window      the same at stride 1 with contiguous rows of x: a
//                      column strip of x per thread reused by every tap row
//                      (opt-in; dgrad through the phases)
//   implicit_gemm_wgmma  fp16/bf16 on Hopper: matmul's wgmma engine with a
//                      cp.async im2col producer warpgroup (the default for
//                      strided 1x1 layers on sm_90)
//
// Gradient ladders: direct, implicit_gemm and implicit_gemm_mma (fp16/bf16:
// tensor-core wgrad; dgrad as a flipped-weight forward for stride 1, else the
// SIMT step; wgrad pads C/groups to a multiple of 8 in a channels_last copy
// of x for its 16-byte loaders), gemm (pointwise dgrad dy . w and wgrad
// dy^T . x as GEMMs). dgrad adds
//   implicit_gemm_mma_phases  any stride: one stride-1 tensor-core forward
//                      (split-K step) per output phase of dx, sub-filter
//                      taps r0 + stride*t; stride 1 = the flipped-weight forward
//   implicit_gemm_wgmma  the same phases over the Hopper forward step
//                      (its wgrad: the wgmma engine with an im2col gather of
//                      x as the N-major B, split over pixels)
//   implicit_gemm_wgmma_phases  those phases in one persistent launch over
//                      all their tiles (opt-in)
//   im2col_gemm        groups 1: dy . w as one GEMM with R*S*C columns, then
//                      a gather of each dx element's taps (few channels)
// Both gradient ladders add implicit_gemm_regtile (fp32): dgrad runs
// conv2d_dgrad_by_phases with the forward regtile step, wgrad the same
// register tiling over pixel splits (deterministic finish); and
// implicit_gemm_regtile_slots, where a group of <= 64 filters shares the
// tile's columns with pixel slots (forward, so dgrad) or with group or pixel
// chunk slots (wgrad); and both add
// (multiplier > 1 -> direct)
//   depthwise          depthwise dgrad as the phases through the forward
//                      ladder's default (its depthwise kernels); wgrad: 8
//                      channels x taps per thread, pixel slices, fixed-order finish
// and the wgrad ladder adds
//   depthwise_window   5x5 / 7x7 depthwise wgrad at unit horizontal stride:
//                      lanes walk strips of 4 outputs along q
// The phase and pointwise planning is device-independent host code
// (csrc/conv2d_steps.h) that the CPU ladders list too (steps phases, gemm):
// the CPU tests prove it.
//
// The defaults depend on the problem, not only on the dtype: each ladder's
// default rules, below, say when and why.
#include <torch/library.h>

#include "conv2d.h"
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"
#include "op_entry.h"

namespace cuops::cuda {
namespace {

using FwdFn = void (*)(const Conv2dProblem&);
using GradFn = void (*)(const Conv2dGradProblem&);

// Depthwise with unit channel strides in x and y (channels_last): the layout
// of the vectorized depthwise kernels.
bool is_depthwise_nhwc(const Conv2dProblem& p) {
  return is_depthwise(p) && p.x_sc == 1 && p.y_sk == 1;
}

// fp32 channels_last with wide channels: the 3xTF32 step's 16-byte gather,
// where it measured faster and more accurate than the register-tiled SIMT
// step (H100, 2026-12-06: ResNet-50's 3x3 layers 0.57-0.75x cuDNN true fp32
// against 0.45-0.64x; docs/conv2d-worklog.md).
constexpr const char* kWideChannelsLast =
    "fp32, x channels_last, C >= 64 and C % 4 == 0, groups 1";
bool is_wide_channels_last(const Conv2dProblem& p) {
  return p.dtype == at::kFloat && p.groups == 1 && p.x_sc == 1 && p.C >= 64 && p.C % 4 == 0;
}

// fp32 on Hopper's tf32 wgmma engine at fp32 accuracy (3xTF32), any layout
// of x (NCHW through a channels_last copy, channels_last_copy.h): H100,
// 2026-12-07, ResNet-50's 3x3 layers at batch 32, channels_last 1.34-2.30x cuDNN true
// fp32 against the mma.sync 3xTF32 step's 0.56-0.75x, NCHW 0.95-1.77x
// against regtile's 0.43-0.62x; backward 64@56 1.32x against 0.47x; RMS
// error 0.15-0.54x cuDNN's (docs/conv2d-worklog.md). Only where the build
// holds the engine for this device: the step's own fallback,
// implicit_gemm_3xtf32, is slower than the register tile on NCHW x. The
// forward's x and the wgrad's x have C channels, the dgrad phases' x is dy
// (K channels, C filters).
constexpr const char* kTf32Engine = "fp32, C % 32 == 0, K >= 64, groups 1, sm_90a build on sm_90";
bool is_tf32_engine(const Conv2dProblem& p) {
  return p.dtype == at::kFloat && p.groups == 1 && p.C % 32 == 0 && p.K >= 64 && p.K % 4 == 0 &&
         tf32_wgmma_conv_in_build();
}
constexpr const char* kTf32EngineDgrad =
    "fp32, K % 32 == 0, C >= 64, groups 1, sm_90a build on sm_90";
bool is_tf32_engine_dgrad(const Conv2dProblem& p) {
  return p.dtype == at::kFloat && p.groups == 1 && p.K % 32 == 0 && p.C >= 64 && p.C % 4 == 0 &&
         tf32_wgmma_conv_in_build();
}

// fp32 with at most 64 filters per group: the register tile's 128 columns
// shared by pixel slots (forward, dgrad phases) or by group / pixel-chunk
// slots (wgrad) instead of holding zeros (H100, 2026-12-07: 11x11/4 stem
// forward 0.275 -> 0.197 ms, cuDNN 0.212; grouped 3x3 g4 128@56 backward
// 1.46 -> 0.89 ms, cuDNN 0.77; 64@56 channels_last forward 0.304 ms against
// implicit_gemm_3xtf32's 0.401, so before kWideChannelsLast). The dgrad's
// filters are the phases' (C).
constexpr const char* kSlots = "fp32, K/groups <= 64";
bool is_slots(const Conv2dProblem& p) {
  return p.dtype == at::kFloat && p.K / p.groups <= 64;
}
constexpr const char* kSlotsDgrad = "fp32, C/groups <= 64";
bool is_slots_dgrad(const Conv2dProblem& p) {
  return p.dtype == at::kFloat && p.C / p.groups <= 64;
}

// fp32 dgrad of a layer with few input channels (an RGB stem) and dy in
// NCHW: the phases over the narrow forward (C = the phase filters) instead
// of 128-wide tiles of which 3 columns are real (H100, 2026-12-06: the
// 11x11/4 stem backward 5.96 -> 1.79 ms).
constexpr const char* kNarrowDgrad = "fp32, C <= 8, groups 1, dy NCHW";
bool is_narrow_dgrad(const Conv2dProblem& p) {
  return p.dtype == at::kFloat && p.groups == 1 && p.C <= 8 && p.y_sq == 1 && p.y_sk != 1;
}

// fp16/bf16 wgrad whose x the Hopper wgrad gathers (channels_last, C % 64
// == 0; the step checks the rest -- an sm_90 device and build, dy dense
// channels_last -- and runs implicit_gemm_mma otherwise): 128 x 128 wgmma
// tiles against mma.sync's 64 x 64 (ResNet-50, batch 64, H100, 2026-12-07:
// the 3x3 layers' wgrad 0.075-0.110 ms against 0.133-0.173 at 128@28 ..
// 512@7 and the strided ones, equal at 64@56; docs/conv2d-worklog.md).
constexpr const char* kWgmmaWgrad = "x channels_last, C % 64 == 0, K >= 64, groups 1";
// The x the wgmma steps gather (forward and wgrad alike).
bool is_wgmma_gather(const Conv2dProblem& p) {
  return p.groups == 1 && p.x_sc == 1 && p.C % 64 == 0 && p.K >= 64;
}

// A 1x1 wgrad of that kind with a long pixel reduction, on an sm_90 device:
// the Hopper wgrad's pixel split against the 1x1 GEMM through matmul's
// planner (ResNet-50, batch 64, H100, 2026-12-07: 256->1024@14 0.045 ms
// against 0.056, 128->512@28 0.047 against 0.058, the strided 256->512
// 0.064 against 0.117, equal at @56; slower at @7, N*P*Q = 3136: 0.050
// against 0.031). Elsewhere the GEMM, measured there.
constexpr int64_t kWgmmaWgrad1x1MinPixels = 8192;
constexpr const char* kWgmmaWgrad1x1 =
    "1x1, no padding, x channels_last, C % 64 == 0, K >= 64, groups 1, N*P*Q >= 8192, sm_90";
bool is_wgmma_wgrad_1x1(const Conv2dProblem& p) {
  return is_pointwise(p) && is_wgmma_gather(p) && p.N * p.P * p.Q >= kWgmmaWgrad1x1MinPixels &&
         is_sm90();
}

// A strided 1x1 forward of that kind on an sm_90 device: the wgmma forward
// gathers the strided pixels itself, where the GEMM step first copies them
// out (1x1/2 256->512@56, batch 32, H100, 2026-12-07: 0.026 ms against
// 0.043, cuDNN 0.024). Stride 1 stays with the GEMM (0.028 against 0.034).
constexpr const char* kWgmmaStrided1x1 =
    "1x1 strided, no padding, x channels_last, C % 64 == 0, K >= 64, groups 1, sm_90";
bool is_wgmma_strided_1x1(const Conv2dProblem& p) {
  return is_pointwise(p) && (p.stride_h > 1 || p.stride_w > 1) && is_wgmma_gather(p) &&
         is_sm90();
}

// fp16/bf16 dgrad whose phases the Hopper forward takes (dy channels_last
// with K % 64 == 0, C >= 64 output channels, groups 1) and whose dy has
// pixels enough for its tiles, on an sm_90 device: ResNet-50, batch 64, H100,
// 2026-12-07, 3x3 dgrads 128@28 0.056 ms against the mma.sync phases' 0.075,
// 256@14 0.071 against 0.079, strided 128@56 0.139 against 0.159; at dy's
// 3136 pixels (512@7) 0.106 against 0.089.
constexpr int64_t kWgmmaDgradMinPixels = 8192;
constexpr const char* kWgmmaDgrad =
    "dy channels_last, K % 64 == 0, C >= 64, groups 1, N*P*Q >= 8192, sm_90";
bool is_wgmma_dgrad(const Conv2dProblem& p) {
  return p.groups == 1 && p.y_sk == 1 && p.K % 64 == 0 && p.C >= 64 &&
         p.N * p.P * p.Q >= kWgmmaDgradMinPixels && is_sm90();
}

const Ladder<FwdFn> kConvCuda(
    "conv2d", "cuda",
    {{"direct", kAllFloat, &conv2d_direct, "one thread per output; any layout and argument"},
     {"implicit_gemm", kAllFloat, &conv2d_implicit_gemm,
      "implicit GEMM, 64x64x16 shared-memory tiles, 4x4 per thread (SIMT)"},
     {"implicit_gemm_mma", kHalfTypes, &conv2d_implicit_gemm_mma,
      "implicit GEMM on tensor cores (mma.sync), multi-stage cp.async"},
     {"depthwise", kAllFloat, &conv2d_depthwise,
      "depthwise (groups == C): smem input tile + halo; other problems -> implicit_gemm"},
     {"implicit_gemm_mma_splitk", kHalfTypes, &conv2d_implicit_gemm_mma_splitk,
      "implicit_gemm_mma + split-K (fp32 partials, deterministic finish) when tiles < 1 wave"},
     {"depthwise_nhwc", kAllFloat, &conv2d_depthwise_nhwc,
      "depthwise, channels_last: 8 channels/thread, 16-byte vectors; others -> depthwise"},
     {"depthwise_nhwc_window", kAllFloat, &conv2d_depthwise_nhwc_window,
      "depthwise, channels_last: 8 channels x 4-8 pixels/thread, register sliding window; "
      "others -> depthwise_nhwc / depthwise"},
     {"depthwise_plane", kAllFloat, &conv2d_depthwise_plane,
      "depthwise, NCHW rows: plane band in smem, 8-row strips/thread; others -> depthwise"},
     {"gemm", kAllFloat, &conv2d_gemm,
      "1x1 unpadded: a plain GEMM (cuops.matmul's default) over pixels x channels; others -> "
      "the ladder's default"},
     {"implicit_gemm_regtile", kFloatOnly, &conv2d_implicit_gemm_regtile,
      "fp32 implicit GEMM, 128x128x8 tiles, 8x8 per thread in registers, packed filter"},
     {"implicit_gemm_regtile_slots", kFloatOnly, &conv2d_implicit_gemm_regtile_slots,
      "implicit_gemm_regtile with a group of <= 64 filters sharing the 128 tile columns with "
      "2-4 pixel slots (an RGB stem, 64-filter layers); others -> as implicit_gemm_regtile"},
     {"implicit_gemm_3xtf32", kFloatOnly, &conv2d_implicit_gemm_3xtf32,
      "fp32 on tf32 tensor cores, operands split into big + small tf32 parts (3 products, "
      "~fp32 accuracy); im2col gathered by cp.async into a 4-stage ring"},
     {"implicit_gemm_wgmma_3xtf32", kFloatOnly, &conv2d_implicit_gemm_wgmma_3xtf32,
      "Hopper (sm_90a), fp32 at fp32 accuracy: matmul's tf32 wgmma engine (3 products of split "
      "operands) with the cp.async im2col gather (an NCHW x through a channels_last copy); "
      "C % 32 == 0, groups 1, K >= 64 (others -> implicit_gemm_3xtf32)"},
     {"narrow_window", kAllFloat, &conv2d_narrow_window,
      "K/groups <= 8, stride 1, rows of x contiguous: 8 output rows of a column per thread, "
      "each loaded column strip of x reused by every tap row; others -> implicit_gemm_narrow; "
      "opt-in"},
     {"implicit_gemm_narrow", kAllFloat, &conv2d_implicit_gemm_narrow,
      "K/groups <= 8 filters: 4 pixels x all filters per thread, taps and weights in smem; "
      "others -> implicit_gemm"},
     {"implicit_gemm_wgmma", kHalfTypes, &conv2d_implicit_gemm_wgmma,
      "Hopper (sm_90a): matmul's wgmma engine, im2col rows gathered by a 128-thread cp.async "
      "producer; channels_last, C % 64 == 0, groups 1; others -> implicit_gemm_mma_splitk"}},
    // Depthwise problems go to the kernel written for their layout, pointwise
    // ones to the GEMM (no im2col, the GEMM ladder's tile kernels; strided
    // ones on Hopper to the wgmma forward's gather: kWgmmaStrided1x1). The
    // split-K step splits only where the plain tiles leave the GPU idle, so it
    // is the fp16/bf16 default for every other problem; fp32 takes the
    // 3xTF32 tensor-core steps where their tiles are full (Hopper's wgmma
    // engine, else mma.sync for channels_last x; faster and more accurate
    // than the SIMT steps there), else the register-tiled implicit GEMM
    // (4-5x the SIMT step's speed), with pixel slots for <= 64 filters;
    // fp64 the SIMT step.
    {{"depthwise, x and y channel-contiguous", is_depthwise_nhwc, "depthwise_nhwc_window"},
     {"depthwise", is_depthwise, "depthwise_plane"},
     {kWgmmaStrided1x1, is_wgmma_strided_1x1, "implicit_gemm_wgmma"},
     {kPointwiseWhen, is_pointwise, "gemm"},
     {kTf32Engine, is_tf32_engine, "implicit_gemm_wgmma_3xtf32"},
     {kSlots, is_slots, "implicit_gemm_regtile_slots"},
     {kWideChannelsLast, is_wide_channels_last, "implicit_gemm_3xtf32"},
     "implicit_gemm_mma_splitk",
     "implicit_gemm_regtile",
     "implicit_gemm"});

// Wide depthwise filters at unit horizontal stride and dilation, x and dy
// channel-contiguous: the strip walk of depthwise_window loads each column
// once for all the taps that use it (H100, bf16, batch 64, 2026-12-08:
// ConvNeXt's 7x7 layers 0.35 / 0.20 / 0.12 / 0.061 ms against the pixel
// walk's 0.58 / 0.40 / 0.20 / 0.079; EfficientNet's 5x5 0.057-0.13 against
// 0.072-0.15).
constexpr const char* kDepthwiseWindowWgrad =
    "depthwise 5x5 or 7x7, stride_w and dilation_w 1, x and dy channel-contiguous";
bool is_depthwise_window_wgrad(const Conv2dProblem& p) {
  return is_depthwise_nhwc(p) && p.R == p.S && (p.R == 5 || p.R == 7) && p.stride_w == 1 &&
         p.dil_w == 1;
}

// wgrad: one input channel per group leaves the 64-wide GEMM tiles almost
// empty, so depthwise problems take their own kernel (it sends a channel
// multiplier > 1 to direct); a 1x1 wgrad is a GEMM whose K is N*P*Q, which
// matmul's planner splits (the Hopper wgrad where it measured faster:
// kWgmmaWgrad1x1); wide channels_last fp16/bf16 the Hopper wgrad
// (kWgmmaWgrad), wide fp32 the Hopper 3xTF32 wgrad (kTf32Engine); the others
// the tensor-core step where the dtype allows, the register-tiled one for
// fp32 (with slots for <= 64 filters per group).
const std::vector<Ladder<GradFn>::Rule> kWgradDefaults = {
    {kDepthwiseWindowWgrad, is_depthwise_window_wgrad, "depthwise_window"},
    {"depthwise", is_depthwise, "depthwise"},
    {kWgmmaWgrad1x1, is_wgmma_wgrad_1x1, "implicit_gemm_wgmma"},
    {kPointwiseWhen, is_pointwise, "gemm"},
    {kWgmmaWgrad, is_wgmma_gather, "implicit_gemm_wgmma"},
    {kTf32Engine, is_tf32_engine, "implicit_gemm_wgmma_3xtf32"},
    {kSlots, is_slots, "implicit_gemm_regtile_slots"},
    "implicit_gemm_mma",
    "implicit_gemm_regtile",
    "implicit_gemm"};
// dgrad: the phase steps do every stride as stride-1 forwards (tensor cores
// for fp16/bf16 -- the Hopper forward where it measured faster --, the
// Hopper 3xTF32 forward for wide fp32, else register tiles (with pixel slots
// for <= 64 filters), the narrow forward for an fp32 RGB stem); stride 1 is
// their one-phase case.
const std::vector<Ladder<GradFn>::Rule> kDgradDefaults = {
    {"depthwise", is_depthwise, "depthwise"},
    {kPointwiseWhen, is_pointwise, "gemm"},
    {kNarrowDgrad, is_narrow_dgrad, "implicit_gemm_narrow"},
    {kWgmmaDgrad, is_wgmma_dgrad, "implicit_gemm_wgmma"},
    {kTf32EngineDgrad, is_tf32_engine_dgrad, "implicit_gemm_wgmma_3xtf32"},
    {kSlotsDgrad, is_slots_dgrad, "implicit_gemm_regtile_slots"},
    "implicit_gemm_mma_phases",
    "implicit_gemm_regtile",
    "implicit_gemm"};

const Ladder<GradFn> kDgradCuda(
    "conv2d_backward_input", "cuda",
    {{"direct", kAllFloat, &conv2d_backward_input_direct,
      "one thread per input-gradient element; taps filtered by stride divisibility"},
     {"implicit_gemm", kAllFloat, &conv2d_backward_input_implicit_gemm,
      "implicit GEMM (N*H*W x C/groups x K/groups*R*S), smem tiles (SIMT)"},
     {"implicit_gemm_mma", kHalfTypes, &conv2d_backward_input_implicit_gemm_mma,
      "stride 1: forward mma conv of dy with the flipped weight; else -> implicit_gemm"},
     {"implicit_gemm_mma_phases", kHalfTypes, &conv2d_backward_input_implicit_gemm_mma_phases,
      "any stride: one stride-1 mma forward (split-K step) per output phase of dx"},
     {"depthwise", kAllFloat, &conv2d_backward_input_depthwise,
      "depthwise, multiplier 1: the phases through the forward's depthwise kernels; others -> "
      "direct"},
     {"gemm", kAllFloat, &conv2d_backward_input_gemm,
      "1x1 unpadded: dy . w as a plain GEMM (cuops.matmul's default); others -> the default"},
     {"implicit_gemm_regtile", kFloatOnly, &conv2d_backward_input_implicit_gemm_regtile,
      "fp32, any stride: one stride-1 implicit_gemm_regtile forward per output phase of dx"},
     {"implicit_gemm_regtile_slots", kFloatOnly,
      &conv2d_backward_input_implicit_gemm_regtile_slots,
      "fp32, any stride: the phases over the implicit_gemm_regtile_slots forward (pixel slots "
      "where groups == 1 and C <= 64)"},
     {"implicit_gemm_3xtf32", kFloatOnly, &conv2d_backward_input_implicit_gemm_3xtf32,
      "fp32, any stride: one stride-1 implicit_gemm_3xtf32 forward per output phase of dx; "
      "opt-in"},
     {"implicit_gemm_wgmma_3xtf32", kFloatOnly,
      &conv2d_backward_input_implicit_gemm_wgmma_3xtf32,
      "Hopper (sm_90a), fp32, any stride: one stride-1 implicit_gemm_wgmma_3xtf32 forward per "
      "output phase of dx (K % 32 == 0, an NCHW dy through a channels_last copy; others -> "
      "implicit_gemm_3xtf32)"},
     {"narrow_window", kAllFloat, &conv2d_backward_input_narrow_window,
      "C/groups <= 8 (an RGB stem), dy rows contiguous: the phases over the narrow_window "
      "forward; opt-in"},
     {"implicit_gemm_narrow", kAllFloat, &conv2d_backward_input_implicit_gemm_narrow,
      "C/groups <= 8 (an RGB stem): the phases over the narrow forward"},
     {"implicit_gemm_wgmma", kHalfTypes, &conv2d_backward_input_implicit_gemm_wgmma,
      "Hopper (sm_90a), any stride: one stride-1 implicit_gemm_wgmma forward per output phase "
      "of dx (dy channels_last, K % 64 == 0; others -> the split-K forward)"},
     {"implicit_gemm_wgmma_phases", kHalfTypes,
      &conv2d_backward_input_implicit_gemm_wgmma_phases,
      "Hopper (sm_90a), stride > 1: implicit_gemm_wgmma's phases as one persistent launch over "
      "the tiles of all of them (up to 2 x 2 phases; others -> implicit_gemm_wgmma); opt-in"},
     {"im2col_gemm", kAllFloat, &conv2d_backward_input_im2col_gemm,
      "groups 1: cols = dy . w as one GEMM with R*S*C columns (fp32), then each dx element "
      "gathers its taps (few input channels); others -> the default; opt-in"}},
    kDgradDefaults);

const Ladder<GradFn> kWgradCuda(
    "conv2d_backward_weight", "cuda",
    {{"direct", kAllFloat, &conv2d_backward_weight_direct,
      "one thread per (weight element, N*P*Q slice); partials + finishing pass"},
     {"implicit_gemm", kAllFloat, &conv2d_backward_weight_implicit_gemm,
      "implicit GEMM (K/groups x C/groups*R*S x N*P*Q), split-K partials (SIMT)"},
     {"implicit_gemm_mma", kHalfTypes, &conv2d_backward_weight_implicit_gemm_mma,
      "tensor cores (mma.sync, ldmatrix.trans), split over pixels, deterministic finish"},
     {"depthwise", kAllFloat, &conv2d_backward_weight_depthwise,
      "depthwise, multiplier 1: channels x taps per thread over pixel slices, fixed-order "
      "finish; others -> direct"},
     {"depthwise_window", kAllFloat, &conv2d_backward_weight_depthwise_window,
      "depthwise 5x5 / 7x7, unit horizontal stride and dilation, channels_last: the depthwise "
      "step with each lane walking strips of 4 outputs along q, every loaded column feeding "
      "all the taps that use it; others -> depthwise"},
     {"gemm", kAllFloat, &conv2d_backward_weight_gemm,
      "1x1 unpadded: dy^T . x as a plain GEMM (cuops.matmul's default); others -> the default"},
     {"implicit_gemm_regtile", kFloatOnly, &conv2d_backward_weight_implicit_gemm_regtile,
      "fp32, 128x128x8 tiles, 8x8 per thread in registers, split over pixels, deterministic"},
     {"implicit_gemm_regtile_slots", kFloatOnly,
      &conv2d_backward_weight_implicit_gemm_regtile_slots,
      "fp32, K/groups <= 64: implicit_gemm_regtile with taps as tile rows and the 128 columns "
      "shared by 2-4 slots of filters (groups, or pixel chunks of one group); others -> "
      "implicit_gemm_regtile"},
     {"implicit_gemm_3xtf32", kFloatOnly, &conv2d_backward_weight_implicit_gemm_3xtf32,
      "fp32 on tf32 tensor cores, split operands (3 products, ~fp32 accuracy), cp.async "
      "gathers, split over pixels, deterministic; opt-in"},
     {"implicit_gemm_wgmma_3xtf32", kFloatOnly,
      &conv2d_backward_weight_implicit_gemm_wgmma_3xtf32,
      "Hopper (sm_90a), fp32 at fp32 accuracy: the tf32 wgmma engine, dy^T by TMA, im2col(x) "
      "gathered by cp.async and split by the transform warpgroup, split over pixels; x "
      "C % 32 == 0, K >= 64, NCHW x or dy through channels_last copies (others -> "
      "implicit_gemm_3xtf32)"},
     {"implicit_gemm_wgmma", kHalfTypes, &conv2d_backward_weight_implicit_gemm_wgmma,
      "Hopper (sm_90a): the wgmma engine, dy^T by TMA, im2col(x) gathered by cp.async, split "
      "over pixels, deterministic finish; x channels_last C % 64 == 0, dy dense "
      "channels_last; others -> implicit_gemm_mma"}},
    kWgradDefaults);

at::Tensor conv2d_cuda(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       std::optional<c10::string_view> variant) {
  Conv2dPlan plan = plan_conv2d(input, weight, bias, stride, padding, dilation, groups);
  run_ladder<c10::cuda::CUDAGuard>(kConvCuda, variant, plan.out, plan.prob, plan.out.numel() > 0);
  return plan.result;
}

at::Tensor conv2d_backward_input_cuda(const at::Tensor& grad_output, const at::Tensor& weight,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      int64_t groups, std::optional<c10::string_view> variant) {
  Conv2dGradPlan plan = plan_conv2d_backward_input(
      grad_output, weight, C10_AS_INTARRAYREF_SLOW(input_size), stride, padding, dilation, groups);
  run_ladder<c10::cuda::CUDAGuard>(kDgradCuda, variant, plan.out, plan.prob, plan.out.numel() > 0);
  return plan.out;
}

at::Tensor conv2d_backward_weight_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                       c10::SymIntArrayRef weight_size, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation,
                                       int64_t groups, std::optional<c10::string_view> variant) {
  Conv2dGradPlan plan = plan_conv2d_backward_weight(
      grad_output, input, C10_AS_INTARRAYREF_SLOW(weight_size), stride, padding, dilation, groups);
  // N == 0 still runs the step: it writes zeros.
  run_ladder<c10::cuda::CUDAGuard>(kWgradCuda, variant, plan.out, plan.prob, plan.out.numel() > 0);
  return plan.out;
}

}  // namespace

void conv2d_default(const Conv2dProblem& p) { kConvCuda.run_default(p); }
void conv2d_backward_input_default(const Conv2dGradProblem& p) { kDgradCuda.run_default(p); }
void conv2d_backward_weight_default(const Conv2dGradProblem& p) { kWgradCuda.run_default(p); }

TORCH_LIBRARY_IMPL(cuops, CUDA, m) {
  m.impl("conv2d", &conv2d_cuda);
  m.impl("conv2d_backward_input", &conv2d_backward_input_cuda);
  m.impl("conv2d_backward_weight", &conv2d_backward_weight_cuda);
}

}  // namespace cuops::cuda
