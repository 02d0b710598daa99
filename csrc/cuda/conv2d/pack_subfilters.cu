// The sub-filters of dgrad by phases (csrc/conv2d_phases.cpp), packed in one
// pass on the GPU: every tap (r, s) of w sends its [C][K/groups] block,
// transposed to k-fastest, to the place the tap table gives. ATen's view
// copies did it as a flip and a transposing copy per phase: on ResNet-50's
// stride-2 3x3 layers eight small kernels, 20-40 us against a convolution of
// 70 (H100, 2026-12-07).
//
// Stages: load a 32 (k) x 32 (c) block of one tap, reading along w's unit
// dim where it has one -> transpose through shared memory -> store along k,
// the packed buffer's unit dim. Grid: x = (group, k block, c block), y = tap
// (a chunk of at most kMaxTapsPerLaunch). Groups with few channels (a
// depthwise filter has one c and one k per group) take one thread per
// element instead: a 32 x 32 block per group moved one element per 256
// threads, 87 us for ConvNeXt's 768-channel 7x7 dgrad against its 27 us
// convolution (H100, 2026-12-08).
#include <ATen/cuda/CUDAContext.h>

#include "conv2d_steps.h"
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda {
namespace {

constexpr int kTile = 32;  // k x c block per thread block
constexpr int kRows = 8;   // threads along the second dim: kTile / kRows rows each
constexpr int kMaxTapsPerLaunch = 128;  // the tap table travels as a kernel parameter

struct TapTable {
  int64_t dst[kMaxTapsPerLaunch];
  int64_t c_step[kMaxTapsPerLaunch];
  int tap0;  // the first tap (r * S + s) of this launch
};
static_assert(sizeof(TapTable) < 4000, "kernel parameters are limited to 4 KB");

struct PackGeom {
  int64_t w_sk, w_sc, w_sr, w_ss;
  int64_t Cg, Kg, S;
};

template <typename T>
__global__ void __launch_bounds__(kTile* kRows)
    pack_subfilters_kernel(const T* __restrict__ w, T* __restrict__ out, const PackGeom g,
                           const TapTable taps) {
  __shared__ T tile[kTile][kTile + 1];  // [k][c]; +1: conflict-free column reads
  const int slot = blockIdx.y;
  const int64_t dst = taps.dst[slot];
  if (dst < 0) return;  // the tap reaches no phase with outputs
  const int64_t tap = taps.tap0 + slot, r = tap / g.S, s = tap - r * g.S;
  const int64_t c_blocks = (g.Cg + kTile - 1) / kTile, k_blocks = (g.Kg + kTile - 1) / kTile;
  const int64_t b = blockIdx.x, grp = b / (c_blocks * k_blocks);
  const int64_t c0 = (b % c_blocks) * kTile, k0 = (b / c_blocks % k_blocks) * kTile;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const T* wt = w + (grp * g.Kg) * g.w_sk + r * g.w_sr + s * g.w_ss;
  // Load: lanes along c (w's unit dim when channels_last) or along k.
  const bool lanes_c = g.w_sc <= g.w_sk;
  CUOPS_UNROLL
  for (int i = 0; i < kTile; i += kRows) {
    const int64_t k = k0 + (lanes_c ? ty + i : tx), c = c0 + (lanes_c ? tx : ty + i);
    if (k < g.Kg && c < g.Cg) tile[k - k0][c - c0] = wt[k * g.w_sk + c * g.w_sc];
  }
  __syncthreads();
  // Store: lanes along k, the packed buffer's unit dim.
  T* o = out + dst + grp * g.Cg * taps.c_step[slot];
  CUOPS_UNROLL
  for (int i = 0; i < kTile; i += kRows) {
    const int64_t c = c0 + ty + i, k = k0 + tx;
    if (k < g.Kg && c < g.Cg) o[c * taps.c_step[slot] + k] = tile[k - k0][c - c0];
  }
}

// Few channels per group: thread i of tap slot blockIdx.y moves element
// i = (group, c, k), k fastest, of that tap.
template <typename T>
__global__ void __launch_bounds__(kTile* kRows)
    pack_small_groups_kernel(const T* __restrict__ w, T* __restrict__ out, const PackGeom g,
                             const TapTable taps, int64_t elems) {
  const int slot = blockIdx.y;
  const int64_t dst = taps.dst[slot];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (dst < 0 || i >= elems) return;
  const int64_t tap = taps.tap0 + slot, r = tap / g.S, s = tap - r * g.S;
  const int64_t k = i % g.Kg, gc = i / g.Kg, c = gc % g.Cg, grp = gc / g.Cg;
  out[dst + (grp * g.Cg + c) * taps.c_step[slot] + k] =
      w[(grp * g.Kg + k) * g.w_sk + c * g.w_sc + r * g.w_sr + s * g.w_ss];
}

template <typename T>
void launch(const Conv2dGradProblem& p, const std::vector<SubfilterTap>& taps, void* packed) {
  const PackGeom g{p.w_sk, p.w_sc, p.w_sr, p.w_ss, p.C / p.groups, p.K / p.groups, p.S};
  // One thread per element when a group's block would fill under a quarter
  // of a 32 x 32 tile.
  const bool small = g.Cg * g.Kg * 4 < kTile * kTile;
  const int64_t elems = p.groups * g.Cg * g.Kg;
  const int64_t blocks = small ? ceil_div<int64_t>(elems, kTile * kRows)
                               : ceil_div<int64_t>(g.Cg, kTile) * ceil_div<int64_t>(g.Kg, kTile) *
                                     p.groups;
  TORCH_CHECK(blocks <= INT_MAX,
              "cuops.conv2d_backward_input: weight too large for the sub-filter packing grid");
  const int64_t n = static_cast<int64_t>(taps.size());
  for (int64_t t0 = 0; t0 < n; t0 += kMaxTapsPerLaunch) {
    TapTable table{};
    const int count = static_cast<int>(std::min<int64_t>(kMaxTapsPerLaunch, n - t0));
    table.tap0 = static_cast<int>(t0);
    for (int i = 0; i < count; ++i) {
      table.dst[i] = taps[t0 + i].dst;
      table.c_step[i] = taps[t0 + i].c_step;
    }
    const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(count));
    auto stream = at::cuda::getCurrentCUDAStream();
    if (small) {
      pack_small_groups_kernel<T><<<grid, kTile * kRows, 0, stream>>>(
          static_cast<const T*>(p.w), static_cast<T*>(packed), g, table, elems);
    } else {
      pack_subfilters_kernel<T><<<grid, dim3(kTile, kRows), 0, stream>>>(
          static_cast<const T*>(p.w), static_cast<T*>(packed), g, table);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

void pack_subfilters_cuda(const Conv2dGradProblem& p, const std::vector<SubfilterTap>& taps,
                          void* packed) {
  if (p.R * p.S == 0 || p.C == 0 || p.K == 0) return;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input", [&] {
    launch<scalar_t>(p, taps, packed);
  });
}

}  // namespace

void dgrad_by_phases_cuda(const Conv2dGradProblem& p, Conv2dForwardFn forward,
                          Conv2dForwardAllFn forward_all) {
  conv2d_dgrad_by_phases(p, at::Device(at::kCUDA, at::cuda::current_device()), forward,
                         &pack_subfilters_cuda, forward_all);
}

}  // namespace cuops::cuda
