// Step "depthwise" of both gradient ladders: depthwise problems (groups == C,
// multiplier K/C == 1) off the direct kernels. Other problems (multiplier > 1,
// not depthwise) run the direct steps, so the variant is correct for every
// input.
//
// dgrad: conv2d_dgrad_by_phases with the forward ladder's default as the
//   phase convolution. For multiplier 1 each phase problem is depthwise again
//   (groups = C, one channel per group), so the forward rule picks the
//   depthwise kernel of its layout (depthwise_nhwc_window channels_last,
//   depthwise_plane NCHW); those take negative padding, the strided output
//   view of dx and any weight strides, and pass what they cannot run to their
//   own fallbacks (depthwise_nhwc, depthwise). Stride 1 is one phase: the
//   forward kernel on the flipped filter, at forward speed.
//
// wgrad: dw[c][r][s] = sum_{n,p,q} dy[n][c][p][q] * x[n][c][ih][iw]. A thread
//   owns VEC channels (8 as 16-byte vectors when x and dy are channels_last
//   and aligned; else 1, any layout and dtype) x a group of taps (the whole
//   3x3; a filter row of 5x5 / 7x7 when 8 channels would not fit the
//   registers; one tap of other filters) and walks a strided lane of the
//   block's pixel slice, accumulating in acc_t registers. Block = bx channel
//   groups (fastest: a warp reads contiguous channels of a pixel) x by pixel
//   lanes; NCHW data takes bx = 1, so a warp reads 32 consecutive pixels of a
//   row. The by lanes are summed in smem by a fixed tree, each block writes
//   one row of acc_t partials (its slice), and conv::wgrad_finish_kernel adds
//   the rows in slice order: deterministic, the slice count a function of the
//   shape only.
//
// Step "depthwise_window" of the wgrad ladder: the same reduction,
//   but a lane walks strips of kStripPix outputs along q instead of single
//   pixels, for 5x5 and 7x7 filters at unit horizontal stride and dilation
//   (ConvNeXt's 7x7): tap s of output q0 + e reads input column
//   q0 + e + s - pad_w, so a strip's kStripPix + S - 1 columns are loaded once
//   each and feed every (e, s) pair that uses them -- 4 dy + 10 x vectors per
//   28 tap-outputs of a 7x7 filter row, where the pixel walk loads 1 + 7 per 7.
//   Other problems run step "depthwise".
#include "conv2d_steps.h"
#include "cuda/conv2d/depthwise.cuh"

namespace cuops::cuda {
namespace {

constexpr int kTargetBlocks = 1024;  // pixel slices x column blocks to aim for
constexpr int kMinLanePixels = 16;   // keeps the partials small next to x and dy
// Outputs per strip of the window walk: 4 x 8 dy values + 7 x 8 accumulators
// + 8 x values stay near 128 registers (2 blocks of 256 threads per SM).
constexpr int kStripPix = 4;

struct ReduceArgs {
  const void* x;
  const void* dy;
  void* partial;  // acc_t [slices][C][R][S]
  int64_t x_sn, x_sc, x_sh, x_sw, y_sn, y_sk, y_sp, y_sq;
  int64_t H, W, P, Q, chunk;  // chunk: work items (pixels or strips) per slice (grid.y)
  int64_t items, strips;           // work items: N*P*Q pixels, or N*P*strips strips of q
  int64_t C, groups_c;             // channels; channel groups of VEC
  int R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int cblocks, sgroups;  // column blocks per tap group; tap groups per filter row
};

// VEC channels of one pixel as acc_t: one or two 16-byte loads (VEC == 8,
// aligned, channel stride 1) or VEC strided scalars.
template <typename T, int VEC>
__device__ __forceinline__ void load_ch(const T* ptr, int64_t sc, acc_t<T> (&v)[VEC]) {
  if constexpr (VEC == 8) {
    ldg8(ptr, v);
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = static_cast<acc_t<T>>(ptr[j * sc]);
  }
}

// One lane's strip walk (PIX > 0; RT == 1: the block's filter row r0, all ST
// taps; stride_w == dil_w == 1): items i = (n, p, strip) from `i` by `by`.
template <typename T, int VEC, int ST, int PIX>
__device__ __forceinline__ void walk_strips(const ReduceArgs& a, const T* __restrict__ xc,
                                            const T* __restrict__ dyc, int r0, int64_t i,
                                            int64_t i1, int by, acc_t<T> (&acc)[ST][VEC]) {
  using A = acc_t<T>;
  for (; i < i1; i += by) {
    const int64_t strip = i % a.strips, t = i / a.strips;
    const int64_t pp = t % a.P, n = t / a.P;
    const int64_t ih = pp * a.stride_h - a.pad_h + r0 * a.dil_h;
    if (ih < 0 || ih >= a.H) continue;  // padding row: contributes zero
    const int64_t q0 = strip * PIX;
    A g[PIX][VEC];
#pragma unroll
    for (int e = 0; e < PIX; ++e) {
      if (q0 + e < a.Q) {
        load_ch<T, VEC>(dyc + n * a.y_sn + pp * a.y_sp + (q0 + e) * a.y_sq, a.y_sk, g[e]);
      } else {
#pragma unroll
        for (int c = 0; c < VEC; ++c) g[e][c] = A(0);  // past the row's end
      }
    }
    const T* xr = xc + n * a.x_sn + ih * a.x_sh;
#pragma unroll
    for (int j = 0; j < PIX + ST - 1; ++j) {
      const int64_t iw = q0 - a.pad_w + j;
      if (iw < 0 || iw >= a.W) continue;
      A v[VEC];
      load_ch<T, VEC>(xr + iw * a.x_sw, a.x_sc, v);
#pragma unroll
      for (int s = 0; s < ST; ++s) {
        if (j - s < 0 || j - s >= PIX) continue;  // resolved at compile time
#pragma unroll
        for (int c = 0; c < VEC; ++c) acc[s][c] += g[j - s][c] * v[c];
      }
    }
  }
}

// PIX == 0: the pixel walk; PIX > 0: the strip walk (walk_strips).
template <typename T, int VEC, int RT, int ST, int PIX = 0>
__global__ void __launch_bounds__(kThreads) dw_wgrad_reduce_kernel(ReduceArgs a) {
  static_assert(PIX == 0 || RT == 1, "the strip walk takes one filter row per block");
  using A = acc_t<T>;
  constexpr int kTaps = RT * ST;
  __shared__ A red[kThreads * VEC];  // [ty][tx][VEC], one tap at a time
  const int bx = blockDim.x, by = blockDim.y;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int cb = blockIdx.x % a.cblocks, tg = blockIdx.x / a.cblocks;
  const int64_t cg = static_cast<int64_t>(cb) * bx + tx;
  const bool active = cg < a.groups_c;
  const int r0 = (tg / a.sgroups) * RT, s0 = (tg % a.sgroups) * ST;

  A acc[kTaps][VEC];
#pragma unroll
  for (int t = 0; t < kTaps; ++t)
#pragma unroll
    for (int j = 0; j < VEC; ++j) acc[t][j] = A(0);

  const int64_t j0 = blockIdx.y * a.chunk;
  const int64_t j1 = j0 + a.chunk < a.items ? j0 + a.chunk : a.items;
  int64_t j = j0 + ty;
  if constexpr (PIX > 0) {
    if (active)
      walk_strips<T, VEC, ST, PIX>(a, static_cast<const T*>(a.x) + cg * VEC * a.x_sc,
                                   static_cast<const T*>(a.dy) + cg * VEC * a.y_sk, r0, j, j1,
                                   by, acc);
  } else if (active && j < j1) {
    const T* __restrict__ xc = static_cast<const T*>(a.x) + cg * VEC * a.x_sc;
    const T* __restrict__ dyc = static_cast<const T*>(a.dy) + cg * VEC * a.y_sk;
    int64_t q = j % a.Q, t = j / a.Q;
    int64_t pp = t % a.P, n = t / a.P;
    for (; j < j1; j += by) {
      A g[VEC];
      load_ch<T, VEC>(dyc + n * a.y_sn + pp * a.y_sp + q * a.y_sq, a.y_sk, g);
      const T* xn = xc + n * a.x_sn;
#pragma unroll
      for (int r = 0; r < RT; ++r) {
        const int64_t ih = pp * a.stride_h - a.pad_h + (r0 + r) * a.dil_h;
        if (ih < 0 || ih >= a.H) continue;  // padding row: contributes zero
#pragma unroll
        for (int s = 0; s < ST; ++s) {
          const int64_t iw = q * a.stride_w - a.pad_w + (s0 + s) * a.dil_w;
          if (iw < 0 || iw >= a.W) continue;
          A v[VEC];
          load_ch<T, VEC>(xn + ih * a.x_sh + iw * a.x_sw, a.x_sc, v);
#pragma unroll
          for (int c = 0; c < VEC; ++c) acc[r * ST + s][c] += g[c] * v[c];
        }
      }
      // Next pixel of this lane: by ahead in (n, p, q) order.
      q += by;
      while (q >= a.Q) {
        q -= a.Q;
        if (++pp == a.P) pp = 0, ++n;
      }
    }
  }

  // Sum the by lanes per tap: a fixed tree (by is a power of two), then lane 0
  // writes the block's partial, canonical (c, r, s) order.
  A* mine = red + (ty * bx + tx) * VEC;
  A* part = static_cast<A*>(a.partial) + blockIdx.y * (a.C * a.R * a.S);
#pragma unroll
  for (int t = 0; t < kTaps; ++t) {
#pragma unroll
    for (int c = 0; c < VEC; ++c) mine[c] = acc[t][c];
    __syncthreads();
    for (int h = by / 2; h > 0; h /= 2) {
      if (ty < h) {
#pragma unroll
        for (int c = 0; c < VEC; ++c) mine[c] += mine[h * bx * VEC + c];
      }
      __syncthreads();
    }
    if (ty == 0 && active) {
      const int64_t rs = static_cast<int64_t>(r0 + t / ST) * a.S + s0 + t % ST;
#pragma unroll
      for (int c = 0; c < VEC; ++c) part[(cg * VEC + c) * (a.R * a.S) + rs] = mine[c];
    }
    __syncthreads();  // red is rewritten by the next tap
  }
}

// x and dy channel-contiguous with 16-byte aligned pixels, C % 8 == 0: the
// 8-channel vector loads (fp16/bf16/fp32).
template <typename T>
bool wgrad_vec8(const Conv2dGradProblem& p) {
  constexpr int64_t vec = 16 / sizeof(T);
  return p.C % 8 == 0 && p.x_sc == 1 && p.y_sk == 1 && aligned16(p.x) && aligned16(p.dy) &&
         keeps16(p.N, p.x_sn, vec) && keeps16(p.H, p.x_sh, vec) && keeps16(p.W, p.x_sw, vec) &&
         keeps16(p.N, p.y_sn, vec) && keeps16(p.P, p.y_sp, vec) && keeps16(p.Q, p.y_sq, vec);
}

template <typename T, int VEC, int RT, int ST, int PIX = 0>
void launch_reduce(const Conv2dGradProblem& p, bool channels_fast) {
  using A = acc_t<T>;
  const int64_t groups_c = p.C / VEC;
  // bx channel groups (channels_last: up to a warp of them; NCHW: 1, the
  // lanes then run along q) x by pixel lanes, by a power of two.
  const int bx = channels_fast ? static_cast<int>(std::min<int64_t>(groups_c, 32)) : 1;
  int by = 1;
  while (2 * by * bx <= kThreads) by *= 2;
  const int64_t cblocks = ceil_div<int64_t>(groups_c, bx);
  const int64_t sgroups = p.S / ST, tgroups = (p.R / RT) * sgroups;
  const int64_t cols = cblocks * tgroups;
  const int64_t strips = PIX > 0 ? ceil_div<int64_t>(p.Q, PIX) : p.Q;
  const int64_t items = p.N * p.P * strips;  // pixels (PIX == 0) or strips
  // Slices: a function of the shape only (determinism), enough blocks for
  // the GPU, each lane at least kMinLanePixels items.
  int64_t slices = std::min<int64_t>({ceil_div<int64_t>(kTargetBlocks, cols),
                                      items / (static_cast<int64_t>(by) * kMinLanePixels), 65535});
  slices = std::max<int64_t>(1, slices);
  const int64_t chunk = std::max<int64_t>(1, ceil_div<int64_t>(items, slices));
  slices = std::max<int64_t>(1, ceil_div<int64_t>(items, chunk));  // no empty slice
  TORCH_CHECK(cols <= INT32_MAX, "cuops.conv2d_backward_weight: too many channels");
  at::Tensor partial = conv::acc_workspace<T>(slices * p.C * p.R * p.S);
  ReduceArgs a{p.x, p.dy, partial.data_ptr(), p.x_sn, p.x_sc, p.x_sh, p.x_sw,
               p.y_sn, p.y_sk, p.y_sp, p.y_sq, p.H, p.W, p.P, p.Q, chunk, items, strips,
               p.C, groups_c,
               static_cast<int>(p.R), static_cast<int>(p.S), static_cast<int>(p.stride_h),
               static_cast<int>(p.stride_w), static_cast<int>(p.pad_h), static_cast<int>(p.pad_w),
               static_cast<int>(p.dil_h), static_cast<int>(p.dil_w), static_cast<int>(cblocks),
               static_cast<int>(sgroups)};
  const dim3 grid(static_cast<unsigned>(cols), static_cast<unsigned>(slices));
  dw_wgrad_reduce_kernel<T, VEC, RT, ST, PIX>
      <<<grid, dim3(bx, by), 0, at::cuda::getCurrentCUDAStream()>>>(a);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  static_assert(sizeof(A) * kThreads * VEC <= kMaxSmem, "reduction buffer fits static smem");
  conv::launch_wgrad_finish<T>(p, partial, slices);
}

// Tap groups: 3x3 whole; 5x5 / 7x7 whole with one channel per thread, by
// filter rows with 8 (8 x 25 / 8 x 49 accumulators would spill); other
// filters one tap per thread.
template <typename T>
void launch_wgrad(const Conv2dGradProblem& p) {
  const bool channels_fast = p.x_sc == 1 && p.y_sk == 1;
  const bool square = p.R == p.S;
  if constexpr (sizeof(T) <= 4) {  // fp64 has no 8-channel vector path
    if (wgrad_vec8<T>(p)) {
      if (square && p.R == 3) return launch_reduce<T, 8, 3, 3>(p, true);
      if (square && p.R == 5) return launch_reduce<T, 8, 1, 5>(p, true);
      if (square && p.R == 7) return launch_reduce<T, 8, 1, 7>(p, true);
      return launch_reduce<T, 8, 1, 1>(p, true);
    }
  }
  if (square && p.R == 3) return launch_reduce<T, 1, 3, 3>(p, channels_fast);
  if (square && p.R == 5) return launch_reduce<T, 1, 5, 5>(p, channels_fast);
  if (square && p.R == 7) return launch_reduce<T, 1, 7, 7>(p, channels_fast);
  return launch_reduce<T, 1, 1, 1>(p, channels_fast);
}

// The strip walk's problems: 5x5 / 7x7 filters, unit horizontal stride and
// dilation, the 8-channel vector layout.
template <typename T>
bool launch_wgrad_window(const Conv2dGradProblem& p) {
  if constexpr (sizeof(T) > 4) {
    return false;
  } else {
    if (!wgrad_vec8<T>(p) || p.stride_w != 1 || p.dil_w != 1 || p.R != p.S) return false;
    if (p.R == 5) {
      launch_reduce<T, 8, 1, 5, kStripPix>(p, true);
    } else if (p.R == 7) {
      launch_reduce<T, 8, 1, 7, kStripPix>(p, true);
    } else {
      return false;
    }
    return true;
  }
}

// Multiplier 1: the kernels' domain (and, for dgrad, phase problems that are
// depthwise again).
bool depthwise_x1(const Conv2dProblem& p) { return is_depthwise(p) && p.K == p.C; }

// The wgrad reduction's problems: multiplier 1, sizes its 32-bit fields hold
// (R, S, strides, paddings, dilations are kernel arguments the frontend
// bounds far below 2^31).
bool reduce_eligible(const Conv2dGradProblem& p) {
  return depthwise_x1(p) && p.R * p.S <= INT32_MAX / 8 && p.stride_h <= INT32_MAX / 2 &&
         p.stride_w <= INT32_MAX / 2;
}

}  // namespace

void conv2d_backward_input_depthwise(const Conv2dGradProblem& p) {
  if (!depthwise_x1(p)) {
    conv2d_backward_input_direct(p);
    return;
  }
  if (p.N * p.C * p.H * p.W == 0) return;
  dgrad_by_phases_cuda(p, &conv2d_default);
}

void conv2d_backward_weight_depthwise(const Conv2dGradProblem& p) {
  if (!reduce_eligible(p)) {
    conv2d_backward_weight_direct(p);
    return;
  }
  // N == 0 runs too: one slice of zero sums, so dw is written as zeros.
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(depthwise)",
                                [&] { launch_wgrad<scalar_t>(p); });
}

void conv2d_backward_weight_depthwise_window(const Conv2dGradProblem& p) {
  bool done = false;
  if (reduce_eligible(p)) {
    CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(depthwise_window)",
                                  [&] { done = launch_wgrad_window<scalar_t>(p); });
  }
  if (!done) conv2d_backward_weight_depthwise(p);
}

}  // namespace cuops::cuda
