// conv2d ladder step 4c: depthwise_nhwc_window. Channels_last, multiplier
// 1, C % 8 == 0, aligned (nhwc_eligible, depthwise.cuh).
// One thread = 8 channels (one 16-byte vector of fp16/bf16, two of fp32) x a
// strip of PIX consecutive output pixels along q. For each filter row the
// thread walks the strip's (PIX-1)*SW + S input columns once and FMAs each
// loaded vector into every output of the strip that uses it: 3x3 s1 with
// strips of 8 loads 3 x 10 vectors per 8 outputs (3.75 per output) instead
// of 9. Threads: channel group fastest (a warp reads 512 contiguous bytes of
// one pixel when C = 256), then strip, then output row, then n (grid.y): the
// blocks of vertically neighbouring rows run close in time, so the 3x input
// row re-reads hit L2. One thread per work item (no grid-stride loop): the
// item decode is then two 32-bit divisions per thread, and the grid (well
// under 2^31 blocks) needs no loop. Interior strips (every column inside the
// image, every output inside Q) load and store unconditionally.
// Other filter shapes and layouts run step 4b (depthwise_nhwc: per-tap, any
// R/S/stride/dilation), which passes what it cannot take to step 4.
#include "cuda/conv2d/depthwise.cuh"
#include "cuda/conv2d/tuning.h"

namespace cuops::cuda {
namespace {

constexpr int kWinPix = 8;
// 64 accumulators + one filter row of weights + 10 in-flight
// vectors need ~135-145 registers (ptxas; capping at 128 spills). Small blocks
// keep the SM full anyway: registers are granted per warp, so 64-thread
// blocks give 14 warps/SM at 144 registers where 256-thread blocks give 8.
constexpr int kWinThreads = 64;

struct WinArgs {
  const void* x;
  void* y;
  const void* bias;
  const float* wp;   // packed fp32 weights [R*S][C]
  int64_t x_sn, y_sn;  // the only 64-bit offsets: one image base each
  int H, W, P, Q, C, cgroups, strips, items;  // items: work items per image
  int x_sh, x_sw, y_sp, y_sq;
  int stride_h, dil_h, pad_h, pad_w;
  int64_t n0;  // first image of this launch (grid.y is capped at 65535)
};

// One filter row of the window: input column j feeds output e = (j - s)/SW
// with weights wt[s], for every s where that is an integer in [0, PIX).
// All of it resolves at compile time; kInterior drops the column tests.
template <typename T, int S, int SW, int PIX, bool kInterior>
__device__ __forceinline__ void window_row(const T* __restrict__ xrow, int iw0, int x_sw, int W,
                                           const float (&wt)[S][8], float (&acc)[PIX][8]) {
  constexpr int kCols = (PIX - 1) * SW + S;
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
    const int iw = iw0 + j;
    if (!kInterior && (iw < 0 || iw >= W)) continue;  // padding: contributes zero
    float v[8];
    ldg8(xrow + iw * x_sw, v);
#pragma unroll
    for (int s = 0; s < S; ++s) {
      if (j - s < 0 || (j - s) % SW != 0 || (j - s) / SW >= PIX) continue;
      const int e = (j - s) / SW;
#pragma unroll
      for (int ch = 0; ch < 8; ++ch) acc[e][ch] = fmaf(v[ch], wt[s][ch], acc[e][ch]);
    }
  }
}

// ROW_UNROLL: how many filter rows are unrolled. Fully unrolled 7x7 rows with
// strips of 8 are ~5K instructions per kernel, twice (interior and border).
template <typename T, int R, int S, int SW, int PIX, int ROW_UNROLL>
__global__ void __launch_bounds__(kWinThreads) depthwise_nhwc_window_kernel(WinArgs a) {
  constexpr int kCols = (PIX - 1) * SW + S;
  const int item = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);  // < 2^31: host
  if (item >= a.items) return;
  const int cg = item % a.cgroups, t = item / a.cgroups;
  const int strip = t % a.strips, pp = t / a.strips;
  const int c = cg * 8, q0 = strip * PIX;
  const int iw0 = q0 * SW - a.pad_w;
  const bool interior = iw0 >= 0 && iw0 + kCols <= a.W && q0 + PIX <= a.Q;
  const int64_t n = a.n0 + blockIdx.y;
  const T* __restrict__ xn = static_cast<const T*>(a.x) + n * a.x_sn + c;

  float acc[PIX][8];
  {
    float b[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (a.bias != nullptr) {
#pragma unroll
      for (int ch = 0; ch < 8; ++ch) b[ch] = static_cast<float>(static_cast<const T*>(a.bias)[c + ch]);
    }
#pragma unroll
    for (int e = 0; e < PIX; ++e)
#pragma unroll
      for (int ch = 0; ch < 8; ++ch) acc[e][ch] = b[ch];
  }

#pragma unroll ROW_UNROLL
  for (int r = 0; r < R; ++r) {
    const int ih = pp * a.stride_h - a.pad_h + r * a.dil_h;
    if (ih < 0 || ih >= a.H) continue;  // a padding row: zero for the whole strip
    float wt[S][8];  // this filter row's weights for the thread's 8 channels
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const float4* wv = reinterpret_cast<const float4*>(a.wp + (r * S + s) * a.C + c);
      const float4 w0 = __ldg(wv), w1 = __ldg(wv + 1);
      wt[s][0] = w0.x, wt[s][1] = w0.y, wt[s][2] = w0.z, wt[s][3] = w0.w;
      wt[s][4] = w1.x, wt[s][5] = w1.y, wt[s][6] = w1.z, wt[s][7] = w1.w;
    }
    const T* xrow = xn + ih * a.x_sh;
    if (interior)
      window_row<T, S, SW, PIX, true>(xrow, iw0, a.x_sw, a.W, wt, acc);
    else
      window_row<T, S, SW, PIX, false>(xrow, iw0, a.x_sw, a.W, wt, acc);
  }

  T* yrow = static_cast<T*>(a.y) + n * a.y_sn + pp * a.y_sp + c;
#pragma unroll
  for (int e = 0; e < PIX; ++e)
    if (interior || q0 + e < a.Q) store8(yrow + (q0 + e) * a.y_sq, acc[e]);
}

template <typename T, int R, int S, int SW, int PIX, int ROW_UNROLL = R>
void launch_window(const Conv2dProblem& p, const float* wp) {
  const int64_t strips = ceil_div<int64_t>(p.Q, PIX);
  const int64_t items = p.P * strips * (p.C / 8);  // < INT32_MAX - kWinThreads: checked
  WinArgs a{p.x, p.y, p.bias, wp, p.x_sn, p.y_sn,
            static_cast<int>(p.H), static_cast<int>(p.W), static_cast<int>(p.P),
            static_cast<int>(p.Q), static_cast<int>(p.C), static_cast<int>(p.C / 8),
            static_cast<int>(strips), static_cast<int>(items),
            static_cast<int>(p.x_sh), static_cast<int>(p.x_sw), static_cast<int>(p.y_sp),
            static_cast<int>(p.y_sq), static_cast<int>(p.stride_h), static_cast<int>(p.dil_h),
            static_cast<int>(p.pad_h), static_cast<int>(p.pad_w), 0};
  const unsigned blocks = static_cast<unsigned>(ceil_div<int64_t>(items, kWinThreads));
  auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t n0 = 0; n0 < p.N; n0 += 65535) {  // grid.y limit
    a.n0 = n0;
    const dim3 grid(blocks, static_cast<unsigned>(std::min<int64_t>(65535, p.N - n0)));
    depthwise_nhwc_window_kernel<T, R, S, SW, PIX, ROW_UNROLL><<<grid, kWinThreads, 0, stream>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// The window's strip length and row unrolling per filter class. 3x3 s1:
// strips of 4 halve the accumulators, so more resident warps hide the load
// latency, for 4.5 loads per output instead of 3.75. 3x3 s2 always runs
// strips of kWinPix. 5x5 / 7x7 (ConvNeXt, EfficientNet): strips of 4 with a
// loop over the filter rows. Unrolled rows with strips of 8 need 188
// registers: 96@56 7x7 at batch 64 took 0.78 ms there, 0.36 on the per-tap
// kernel and 0.19 with strips of 4 and rolled rows (cuDNN 0.20; H100, bf16,
// 2026-12-08), which also won 7x7 192@28, 384@14, 768@7 and 5x5 120@28,
// 672@14 (5x5 960@7: 0.036 against 0.033 ms).
struct WindowConfig {
  int pix_3x3s1;     // strip length for 3x3 stride 1: 4 or kWinPix
  int pix_wide;      // strip length for 5x5 / 7x7 stride 1: 4 or kWinPix
  bool unroll_wide;  // unroll the wide filters' rows (false: a loop over r)
  bool window_7x7;   // 7x7 on the window (false: the per-tap kernel)
};
// The first configuration is the step's choice; development builds
// (CUOPS_EXPLORE) select the others with CUOPS_CONV_CONFIG="depthwise_nhwc_window=<i>"
// (scripts/explore/tune_conv.py --dw).
constexpr WindowConfig kWindowTable[] = {
    {4, 4, false, true},
    {4, kWinPix, true, false},
    {kWinPix, kWinPix, true, true},
    {4, kWinPix, false, true},
    {4, 4, true, true},
};
static_assert(sizeof(kWindowTable) / sizeof(kWindowTable[0]) >= conv::kWindowConfigs,
              "tuning.h's kWindowConfigs names an entry kWindowTable lacks");

WindowConfig window_config() {
#ifdef CUOPS_EXPLORE
  return kWindowTable[conv::conv_config("depthwise_nhwc_window", conv::kWindowConfigs)];
#else
  return kWindowTable[0];
#endif
}

int window_pix(DwShape shape, const WindowConfig& cfg) {
  if (shape == DwShape::k3x3s1) return cfg.pix_3x3s1;
  if (shape == DwShape::k5x5s1 || shape == DwShape::k7x7s1) return cfg.pix_wide;
  return kWinPix;
}

// A wide filter (K x K, stride 1) with the configuration's strip and rows;
// a product build compiles the default configuration's combination only.
template <typename T, int K>
void launch_wide(const Conv2dProblem& p, const float* w, const WindowConfig& cfg) {
  constexpr WindowConfig k0 = kWindowTable[0];
#ifdef CUOPS_EXPLORE
  if (cfg.pix_wide != k0.pix_wide || cfg.unroll_wide != k0.unroll_wide) {
    if (cfg.pix_wide == 4)
      cfg.unroll_wide ? launch_window<T, K, K, 1, 4>(p, w) : launch_window<T, K, K, 1, 4, 1>(p, w);
    else
      cfg.unroll_wide ? launch_window<T, K, K, 1, kWinPix>(p, w)
                      : launch_window<T, K, K, 1, kWinPix, 1>(p, w);
    return;
  }
#endif
  (void)cfg;
  launch_window<T, K, K, 1, k0.pix_wide, k0.unroll_wide ? K : 1>(p, w);
}

// True when it ran; false: the caller's fallback (the per-tap nhwc kernel).
template <typename T>
bool try_window(const Conv2dProblem& p) {
  const DwShape shape = dw_shape(p, /*vertical=*/false);
  const WindowConfig cfg = window_config();
  if (shape == DwShape::kGeneral || (shape == DwShape::k7x7s1 && !cfg.window_7x7)) return false;
  const int pix = window_pix(shape, cfg);
  const int64_t items = p.P * ceil_div<int64_t>(p.Q, pix) * (p.C / 8);
  if (!index32_ok(p, 1, pix) || items > INT32_MAX - kWinThreads ||
      p.R * p.S * p.C > INT32_MAX)
    return false;
  const at::Tensor wp = packed_dw_weight<T>(p);
  const float* w = wp.const_data_ptr<float>();
  switch (shape) {
    case DwShape::k3x3s1:
#ifdef CUOPS_EXPLORE
      if (pix == kWinPix) {
        launch_window<T, 3, 3, 1, kWinPix>(p, w);
        break;
      }
#endif
      launch_window<T, 3, 3, 1, 4>(p, w);
      break;
    case DwShape::k3x3s2: launch_window<T, 3, 3, 2, kWinPix>(p, w); break;
    case DwShape::k5x5s1: launch_wide<T, 5>(p, w, cfg); break;
    case DwShape::k7x7s1: launch_wide<T, 7>(p, w, cfg); break;
    default: break;
  }
  return true;
}

}  // namespace

void conv2d_depthwise_nhwc_window(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  bool done = false;
  switch (p.dtype) {  // fp64 -> depthwise_nhwc (which passes it to depthwise)
    case at::kHalf: done = nhwc_eligible<at::Half>(p) && try_window<at::Half>(p); break;
    case at::kBFloat16:
      done = nhwc_eligible<at::BFloat16>(p) && try_window<at::BFloat16>(p);
      break;
    case at::kFloat: done = nhwc_eligible<float>(p) && try_window<float>(p); break;
    default: break;
  }
  if (!done) conv2d_depthwise_nhwc(p);  // per-tap kernel, or the general step
}

}  // namespace cuops::cuda
