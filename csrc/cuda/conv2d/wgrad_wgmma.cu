// conv2d_backward_weight ladder steps "implicit_gemm_wgmma" (fp16/bf16, Hopper
// sm_90a): the weight gradient on matmul step 8's wgmma engine
// (csrc/cuda/matmul/wgmma/*.cuh); and "implicit_gemm_wgmma_3xtf32" (fp32):
// the same producer on matmul step 10's tf32 engine (tf32.cuh), 32 channels
// per 128-byte row and 32 pixels per k tile, the gathered N-major B split
// and transposed by the transform warpgroup, A = dy^T split in registers.
//
// GEMM view (groups 1, channels_last): dw[k][j] = sum_m dy[m][k] * x_j(m),
// m = output pixel (n, p, q) (GEMM-K, N*P*Q long), k = filter (GEMM-M), j =
// (r*S + s)*C + c (GEMM-N: tap (r, s), channel c fastest), x_j(m) = x at tap
// (r, s) of pixel m's window (0 outside the image).
// * A = dy^T is M-major: dy's rows are pixels with the K filters contiguous,
//   so the copy engine loads [64 pixels][64 filters] boxes of dy seen as a
//   [N*P*Q][K] matrix, as the GEMM loads a transposed A.
// * B = im2col(x) is N-major: for one pixel, 64 consecutive j are 64
//   channels of one tap (C % 64 == 0), 128 contiguous bytes of x. The
//   producer warpgroup gathers them as the forward's producer does (eight
//   threads per 128-byte row of a 64-column box, one 16-byte cp.async each
//   into the 128-byte-swizzled row, zero-fill outside the image and past
//   the last pixel), the box layout an N-major TMA load would write.
// * The reduction over N*P*Q is long and M x N is small (64 x 576 for
//   ResNet-50's first 3x3 layer), so it is split over pixels: split z takes
//   k tiles [z*per, min((z+1)*per, KT)), its tiles are product z of the
//   engine's batched tile order, and its fp32 partial tile goes to a
//   workspace; wgrad_reduce_splits sums the splits in order (deterministic)
//   and writes grad_weight through its strides.
//
// Eligibility (else implicit_gemm_mma; fp32: implicit_gemm_3xtf32): an sm_90
// device and sm_90a build; groups 1; x channels_last with 128-byte rows of
// channels (C % 64 == 0; fp32 C % 32 == 0) and 16-byte aligned pixels; dy
// dense channels_last (one [N*P*Q][K] matrix for the tensor map), K >= 64,
// 16-byte aligned rows (K % 8 == 0; fp32 K % 4 == 0); N*P*Q < 2^31
// (tensor-map coordinates). fp32 reads an x or dy outside those layouts (NCHW,
// misaligned views) from a channels_last copy (channels_last_copy.h).
#include <algorithm>

#include "cuda/conv2d/channels_last_copy.h"
#include "cuda/conv2d/common.cuh"
#include "cuda/conv2d/fast_div.cuh"
#include "cuda/conv2d/kernels.h"
#include "cuda/conv2d/tuning.h"
#include "cuda/matmul/tma.cuh"
#include "cuda/matmul/wgmma/pipeline.cuh"
#include "cuda/matmul/wgmma/tf32.cuh"

namespace cuops::cuda {
namespace {

using namespace wgmma;

// The gather's view of x, the convolution's geometry and the pixel split.
struct WgradGather {
  const void* x;
  int64_t x_sn, x_sh, x_sw;  // element strides; channels are unit-stride
  int64_t pixels;            // N*P*Q (< 2^31 - 64: eligible())
  conv::FastDiv PQ, Q;       // pixel m = (n * P + p) * Q + q: divisions by P*Q and Q
  int H, W, C, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int ktiles_total;          // ceil(pixels / 64); Params::ktiles is one split's share
};

// ---------------------------------------------------------------------------
// The producer: 128 threads (pipeline.cuh: GatherLane), eight per 128-byte
// row of B: thread t copies chunk t % 8 of pixel rows t / 8 + 16 i (i < 4)
// in every box of the tile. Per output tile each thread resolves the boxes'
// taps (the same for all its rows); per k tile the group's lanes 0-3
// decompose its four pixels and hand them out. Thread 0 also announces A's
// bytes and issues its boxes.
// ---------------------------------------------------------------------------
template <typename T, class C>
__device__ __forceinline__ void produce_wgrad(const Params& p, const WgradGather& g,
                                              const Ring<C>& ring, int tid) {
  constexpr int kBox = 128 / sizeof(T);                   // B box columns (j): 128 bytes
  constexpr int kChunkElems = 16 / sizeof(T);             // elements of one 16-byte chunk
  constexpr int kBoxes = C::BN / kBox;
  constexpr int kPixels = C::BK / GatherLane::kSlots;     // pixel rows per thread
  static_assert(C::BK % GatherLane::kSlots == 0 && kPixels <= 8,
                "k tiles of whole 16-row steps; lanes 0 .. kPixels-1 hold the pixels");
  constexpr int kFar = -(1 << 29);  // a row or box outside: every tap misses the image
  const T* x = static_cast<const T*>(g.x);
  const GatherLane gl(tid);
  RingPos pos;
  const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    int64_t z, m0, n0;
    tile_origin<C>(p, t, z, m0, n0);
    // Box b: column block j0 = tap (r, s), channels c0..c0+63; its offset
    // from a pixel's window corner (with this thread's chunk).
    int dh[kBoxes], dw[kBoxes];
    int64_t tap[kBoxes];
    CUOPS_UNROLL
    for (int b = 0; b < kBoxes; ++b) {
      const int64_t j0 = n0 + kBox * b;
      const int rs = static_cast<int>(j0 / g.C), r = rs / g.S;
      const int c0 = static_cast<int>(j0 - static_cast<int64_t>(rs) * g.C);
      dh[b] = j0 < p.N ? r * g.dil_h - g.pad_h : kFar;
      dw[b] = (rs - r * g.S) * g.dil_w - g.pad_w;
      tap[b] = dh[b] * g.x_sh + dw[b] * g.x_sw + c0 + kChunkElems * gl.chunk;
    }
    // A boxes wholly past K are neither loaded nor announced (as the GEMM's
    // producer): their stale rows feed only output rows >= K, never stored.
    const int a_boxes = mn_boxes<C::BM, kBox>(p.M - m0);
    const int64_t pix0 = z * p.ktiles * int64_t{C::BK};
    const int ktiles = split_ktiles(g.ktiles_total, z, p.ktiles);
    for (int kt = 0; kt < ktiles; ++kt) {
      mbar_wait_bounded(ring.empty(pos.s), pos.phase ^ 1u);
      const uint32_t bar = ring.full(pos.s);
      const int64_t k0 = pix0 + C::BK * kt;
      if (tid == 0) {
        mbar_arrive_expect_tx(bar, a_boxes * C::kMnBoxBytes);
        load_operand<true, C::BM, C::kMnBoxBytes, kBox>(ring.a(pos.s), &p.tma_a, bar,
                                                        static_cast<int>(m0), a_boxes,
                                                        static_cast<int>(k0));
      }
      // Lanes 0-3 of each group: pixel row slot + 16 chunk, its window's
      // corner in x (the other lanes' values are never read).
      const int64_t m = k0 + gl.slot + GatherLane::kSlots * gl.chunk;
      int ih0 = kFar, iw0 = kFar;
      int64_t corner = 0;
      if (gl.chunk < kPixels && m < g.pixels) {
        const uint32_t mu = static_cast<uint32_t>(m), n = g.PQ.div(mu), pq = mu - n * g.PQ.d;
        const uint32_t pr = g.Q.div(pq);
        ih0 = static_cast<int>(pr) * g.stride_h;
        iw0 = static_cast<int>(pq - pr * g.Q.d) * g.stride_w;
        corner = n * g.x_sn + ih0 * g.x_sh + iw0 * g.x_sw;
      }
      CUOPS_UNROLL
      for (int i = 0; i < kPixels; ++i) {
        const int rih = gl.from(ih0, i), riw = gl.from(iw0, i);
        const int64_t rcorner = gl.from(corner, i);
        const int row = gl.slot + GatherLane::kSlots * i;
        CUOPS_UNROLL
        for (int b = 0; b < kBoxes; ++b) {
          const int ih = rih + dh[b], iw = riw + dw[b];
          const bool in = static_cast<unsigned>(ih) < static_cast<unsigned>(g.H) &&
                          static_cast<unsigned>(iw) < static_cast<unsigned>(g.W);
          gl.copy(ring.b(pos.s) + b * C::kMnBoxBytes, row, x + (in ? rcorner + tap[b] : 0), in,
                  x);
        }
      }
      cp_async_mbar_arrive_noinc(bar);
      pos.next<C::kStages>();
    }
  }
  cp_async_wait_all();  // no thread leaves with copies in flight
}

template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, 1)
    wgrad_wgmma_kernel(const __grid_constant__ Params p, const __grid_constant__ WgradGather g,
                       float* ws) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[2 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Ring<C> ring = setup_ring<C>(smem, bars, 128 + 1);  // the gathers + the expect_tx
  const int tid = threadIdx.x, wg = tid / 128;
  if (wg == 0) {
    setmaxnreg_dec<C::cfg.producer_regs>();
    produce_wgrad<T, C>(p, g, ring, tid);
  } else {
    setmaxnreg_inc<C::cfg.consumer_regs>();
    const int cw = wg - 1, warp = (tid / 32) % 4, lane = tid % 32;
    const uint32_t a_off = cw * C::kMnBoxBytes;  // A's M-major box cw: this warpgroup's rows
    float acc[C::kAccRegs];
    CUOPS_UNROLL
    for (int i = 0; i < C::kAccRegs; ++i) acc[i] = 0.f;
    RingPos pos;
    for (int64_t t = blockIdx.x; t < p.tiles_m * p.tiles_n * p.batch; t += gridDim.x) {
      int64_t z, m0, n0;
      tile_origin<C>(p, t, z, m0, n0);
      mainloop<T, C, true, true, true>(ring, pos, a_off, acc, lane,
                                       split_ktiles(g.ktiles_total, z, p.ktiles));
      store_partials<C>(p, ws, acc, z, m0 + cw * C::WM, n0, warp, lane);
    }
  }
#endif
}

// fp32 at fp32 accuracy on the tf32 engine (tf32.cuh): the same producer (32
// channels per 128-byte row, 32 pixels per k tile); the transform warpgroup
// splits and transposes the gathered N-major B into K-major big/small tiles;
// the consumers read dy^T's M-major boxes into split A fragments.
template <class C>
__global__ void __launch_bounds__(C::kThreads, 1)
    wgrad_tf32_wgmma_kernel(const __grid_constant__ Params p,
                            const __grid_constant__ WgradGather g, float* ws) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[3 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Tf32Ring<C> ring = make_ring<C>(smem, bars, 128 + 1);  // the gathers + expect_tx
  run_roles<C, /*A_MN=*/true, /*B_MN=*/true>(
      p, ring, [&](int tid) { produce_wgrad<float, C>(p, g, ring, tid); },
      [&](int64_t t) { return tile_split_ktiles(p, g.ktiles_total, t); },
      [&](const float(&acc)[C::kAccRegs], int64_t z, int64_t m0, int64_t n0, int warp,
          int lane) { store_partials<C>(p, ws, acc, z, m0, n0, warp, lane); });
#endif
}

// Runs `kernel` of tile C (element type T) on p: dy^T by the copy engine, the
// pixel splits (config.cuh: split_length), the finish into dw.
template <typename T, class C, class Kernel>
bool launch(Kernel kernel, const Conv2dProblem& p, void* dw, const DwStrides& dws) {
  if (!kernel_in_build<C>(kernel)) return false;
  const int64_t pixels = p.N * p.P * p.Q, ntot = p.R * p.S * p.C;
  Params prm{};
  prm.tma_a = tma::make_map<T>(p.y, pixels, p.K, p.K, C::BK);
  prm.M = p.K;
  prm.N = ntot;
  prm.K = pixels;
  prm.tiles_m = ceil_div<int64_t>(p.K, C::BM);
  prm.tiles_n = ceil_div<int64_t>(ntot, C::BN);
  const int64_t ktiles = ceil_div<int64_t>(pixels, C::BK);
  const int64_t units = prm.tiles_m * prm.tiles_n;
  const int64_t per = split_length(units, ktiles, p.K * ntot);
  const int64_t splits = ceil_div<int64_t>(ktiles, per);
  prm.ktiles = static_cast<int>(per);  // a split's k tiles (the last may have fewer)
  prm.batch = splits;
  WgradGather g{};
  g.x = p.x, g.x_sn = p.x_sn, g.x_sh = p.x_sh, g.x_sw = p.x_sw;
  g.pixels = pixels;
  g.PQ = conv::FastDiv(static_cast<uint32_t>(p.P * p.Q));
  g.Q = conv::FastDiv(static_cast<uint32_t>(p.Q));
  g.H = static_cast<int>(p.H), g.W = static_cast<int>(p.W);
  g.C = static_cast<int>(p.C), g.S = static_cast<int>(p.S);
  g.stride_h = static_cast<int>(p.stride_h), g.stride_w = static_cast<int>(p.stride_w);
  g.pad_h = static_cast<int>(p.pad_h), g.pad_w = static_cast<int>(p.pad_w);
  g.dil_h = static_cast<int>(p.dil_h), g.dil_w = static_cast<int>(p.dil_w);
  g.ktiles_total = static_cast<int>(ktiles);
  const auto opts = at::TensorOptions().device(at::kCUDA, c10::cuda::current_device());
  const at::Tensor ws = at::empty({splits, p.K, ntot}, opts.dtype(at::kFloat));
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const auto grid = static_cast<unsigned>(std::min<int64_t>(units * splits, num_sms()));
  kernel<<<grid, C::kThreads, C::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(
      prm, g, ws.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  wgrad_reduce_splits(ws, dw, dws, p, p.C);
  return true;
}

template <typename T, TileConfig kCfg>
bool launch(const Conv2dProblem& p, void* dw, const DwStrides& dws) {
  using C = Tile<kCfg>;
  return launch<T, C>(wgrad_wgmma_kernel<T, C>, p, dw, dws);
}

// 128 x 128 tiles (128 filters x 128 columns of (tap, channel)); tuning entry
// 1: one wgmma batch in flight (tuning.h).
template <typename T>
bool run(const Conv2dProblem& p, void* dw, const DwStrides& dws) {
  if (conv::conv_config("implicit_gemm_wgmma", conv::kWgmmaConfigs) == 1)
    return launch<T, in_flight(kConvNarrow, true)>(p, dw, dws);
  return launch<T, kConvNarrow>(p, dw, dws);
}

// The tf32 engine's tile with a gathering producer: four 32-column boxes'
// taps per thread need 64 registers there (56 spilled), so the consumers keep
// 200 (64 + 40 + 2 x 200 <= 4 x 128).
constexpr Tf32Config kWgradTf32{/*stages=*/3, /*producer_regs=*/64, /*transform_regs=*/40,
                                /*consumer_regs=*/200};

bool run_tf32(const Conv2dProblem& p, void* dw, const DwStrides& dws) {
  using C = Tf32Tile<kWgradTf32, /*kSplitOps=*/true>;
  return launch<float, C>(wgrad_tf32_wgmma_kernel<C>, p, dw, dws);
}

// The problems run() / run_tf32() take (p.x = input, p.y = grad_output):
// 128-byte rows of channels (C % 64 for 16-bit types, % 32 for fp32) and
// 16-byte aligned rows of x and dy.
bool eligible(const Conv2dProblem& p) {
  if (!is_sm90()) return false;
  if (p.dtype != at::kHalf && p.dtype != at::kBFloat16 && p.dtype != at::kFloat) return false;
  const int64_t vec = 16 / c10::elementSize(p.dtype), row = 8 * vec;  // 16 and 128 bytes
  const int64_t pixels = p.N * p.P * p.Q;
  const bool x_ok = p.groups == 1 && p.C % row == 0 &&
                    gather_layout(p.x, p.x_sn, p.x_sc, p.x_sh, p.x_sw, p.dtype);
  const bool dy_ok = y_dense_channels_last(p) && p.K % vec == 0 && aligned16(p.y);
  const auto fits = [](int64_t v) { return v >= 0 && v < (int64_t{1} << 28); };
  const bool geom_ok = fits(p.H) && fits(p.W) && fits((p.P - 1) * p.stride_h) &&
                       fits((p.Q - 1) * p.stride_w) && fits((p.R - 1) * p.dil_h + p.pad_h) &&
                       fits((p.S - 1) * p.dil_w + p.pad_w) && fits(p.R * p.S) &&
                       p.R * p.S * p.C < INT32_MAX;
  return x_ok && dy_ok && geom_ok && pixels >= 1 && pixels < INT32_MAX - 64 && p.K >= 64;
}

}  // namespace

void conv2d_backward_weight_implicit_gemm_wgmma(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
                   "cuops.conv2d_backward_weight(implicit_gemm_wgmma): unsupported dtype ",
                   p.dtype);
  Conv2dProblem q = p;  // x = input, y = grad_output
  q.y = const_cast<void*>(p.dy);
  if (!eligible(q)) {
    conv2d_backward_weight_implicit_gemm_mma(p);
    return;
  }
  // The finish writes grad_weight through its own strides (a channels_last
  // one with coalesced stores, and no KCRS temporary to copy from).
  const DwStrides dws{p.w_sk, p.w_sc, p.w_sr, p.w_ss};
  const bool ran =
      p.dtype == at::kHalf ? run<__half>(q, p.dw, dws) : run<__nv_bfloat16>(q, p.dw, dws);
  if (!ran) conv2d_backward_weight_implicit_gemm_mma(p);  // a build without the sm_90a body
}

void conv2d_backward_weight_implicit_gemm_wgmma_3xtf32(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_weight(implicit_gemm_wgmma_3xtf32): unsupported dtype ",
                   p.dtype);
  Conv2dProblem q = p;  // x = input, y = grad_output
  q.y = const_cast<void*>(p.dy);
  // x and dy as the engine reads them: channels_last copies of those it
  // cannot read as they are, e.g. NCHW (channels_last_copy.h), made only
  // where the engine then takes the problem. x's and dy's conditions are
  // separate terms of eligible(), so each copy is asked for on its own.
  at::Tensor x_copy, dy_copy;
  if (!eligible(q) && eligible(conv::with_y_copied(conv::with_x_copied(q)))) {
    if (!eligible(conv::with_y_copied(q))) conv::copy_x_channels_last(q, x_copy);
    if (!eligible(conv::with_x_copied(q)))
      q.y = const_cast<void*>(conv::copy_y_channels_last(q, q.y, dy_copy));
  }
  const DwStrides dws{p.w_sk, p.w_sc, p.w_sr, p.w_ss};
  if (!eligible(q) || !run_tf32(q, p.dw, dws)) conv2d_backward_weight_implicit_gemm_3xtf32(p);
}

}  // namespace cuops::cuda
