// Step of the conv2d forward ladder (fp16/bf16, Hopper sm_90a): implicit GEMM
// on matmul step 8's wgmma engine (csrc/cuda/matmul/wgmma/*.cuh).
//
// GEMM view of a channels_last convolution: C[m][k] = y at pixel m = (n, p, q)
// and filter k, so y itself is the row-major M x K output (M = N*P*Q); B =
// the filter as [K][R][S][C] rows (K-major: the copy engine loads it, as the
// GEMM's B); A = im2col(x), row m = the C channels of each tap (r, s) of
// pixel m's window, k tile kt = channels 64*(kt % (C/64)).. of tap kt / (C/64).
//
// What differs from the GEMM is the A producer. A tensor map cannot describe
// im2col rows with padding, so the producer warpgroup's 128 threads gather A
// themselves (the "cp.async producer" of CUTLASS's gather kernels): per k
// tile, each 128-byte row -- 64 channels of one tap of one pixel -- is
// copied by eight threads with one 16-byte cp.async each into the row's
// place of the 128-byte-swizzled K-major layout the wgmma descriptor
// expects (chunk c of row i at chunk c ^ (i % 8), what the copy engine's
// SWIZZLE_128B writes; pipeline.cuh: GatherLane). Taps outside the image and
// pixels past M copy 0 bytes (zero-fill). `cp.async.mbarrier.arrive.noinc`
// makes each thread's copies one arrival on the stage's full barrier, whose
// count is 128 gathers + 1 (thread 0's expect_tx for B's box). The consumers
// fence the proxies after the wait (generic writes, async-proxy wgmma reads)
// and run the GEMM's main loop and epilogue unchanged.
//
// The epilogue is the GEMM's, with row m of C at output pixel m's place in y
// (any strides: dense channels_last, or the strided phase views of dx that
// the dgrad step writes).
//
// Where the output tiles leave SMs idle (ResNet's 7x7 and 14x14 layers, the
// dgrad's small phases), GEMM-K is split: split z is product z of the
// engine's tile order and owns k tiles [z*per, (z+1)*per); its fp32 partial
// tiles go to a workspace that finish_splits_kernel sums in split order.
//
// Eligibility (else the fp16/bf16 default step runs): an sm_90 device and
// sm_90a build; groups 1; x channels_last with C % 64 == 0 and 16-byte
// aligned pixels; K >= 64, K % 8 == 0.
// The filter is copied to [K][R][S][C] when it is not laid out so.
// Deterministic: one block owns an output tile (or a split of its K) and sums
// its k tiles in order; splits are summed in order.
#include "conv2d_steps.h"
#include "cuda/conv2d/common.cuh"
#include "cuda/conv2d/tuning.h"
#include "cuda/matmul/tma.cuh"
#include "cuda/matmul/wgmma/pipeline.cuh"

namespace cuops::cuda {
namespace {

using namespace wgmma;

// The gather's view of x and of the convolution's geometry.
struct Gather {
  const void* x;
  int64_t x_sn, x_sh, x_sw;  // element strides; channels are unit-stride
  int64_t PQ;
  int Q, H, W, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int c_tiles;  // C / 64: k tiles per filter tap
  int ktiles_total;  // R * S * c_tiles; Params::ktiles is one split's share
  int64_t y_sn, y_sp, y_sq;  // where output pixel m's row of K channels starts

  __device__ __forceinline__ int64_t y_row(int64_t m) const {
    const conv::OutPixel o = conv::out_pixel(m, PQ, Q);
    return o.n * y_sn + o.p * y_sp + o.q * y_sq;
  }
};

// ---------------------------------------------------------------------------
// The producer: 128 threads (pipeline.cuh: GatherLane), eight per 128-byte
// row. Per output tile, each thread decomposes one pixel: tile row slot + 16
// chunk, the row whose state its group's lane `chunk` hands out. Per k tile
// every thread waits for the free stage and copies its chunk of rows slot,
// slot + 16, ..., thread 0 also announces and loads B's box.
// ---------------------------------------------------------------------------
template <typename T, class C>
__device__ __forceinline__ void produce_gathered(const Params& p, const Gather& g,
                                                 const Ring<C>& ring, int tid) {
  static_assert(C::BK * 2 == 128, "one 128-byte row per pixel and k tile");
  static_assert(C::BM == 8 * GatherLane::kSlots, "each group of eight holds one row per lane");
  constexpr int kFar = -(1 << 30);  // the window of a pixel past M: every tap is outside
  const T* x = static_cast<const T*>(g.x);
  const GatherLane gl(tid);
  RingPos pos;
  const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    int64_t z, m0, n0;  // z: the split of GEMM-K (product z of the tile order)
    tile_origin<C>(p, t, z, m0, n0);
    // Row slot + 16 chunk: its window's corner and where (n, ih0, iw0) is in x.
    const int64_t m = m0 + gl.slot + GatherLane::kSlots * gl.chunk;
    int ih0 = kFar, iw0 = kFar;
    int64_t corner = 0;
    if (m < p.M) {
      const conv::OutPixel o = conv::out_pixel(m, g.PQ, g.Q);
      ih0 = o.p * g.stride_h - g.pad_h, iw0 = o.q * g.stride_w - g.pad_w;
      corner = o.n * g.x_sn + ih0 * g.x_sh + iw0 * g.x_sw;
    }
    // Split z's k tiles kt0.. ; k tile kt = (tap_r * S + tap_s) * c_tiles + ct.
    const int kt0 = static_cast<int>(z) * p.ktiles;
    const int ktiles = split_ktiles(g.ktiles_total, z, p.ktiles);
    const int rs0 = kt0 / g.c_tiles;
    int ct = kt0 - rs0 * g.c_tiles, tap_r = rs0 / g.S, tap_s = rs0 - tap_r * g.S;
    for (int kt = kt0; kt < kt0 + ktiles; ++kt) {
      mbar_wait_bounded(ring.empty(pos.s), pos.phase ^ 1u);
      const uint32_t bar = ring.full(pos.s);
      if (tid == 0) {
        mbar_arrive_expect_tx(bar, C::kBBytes);
        tma_load_2d(ring.b(pos.s), &p.tma_b, bar, kt * C::BK, static_cast<int>(n0));
      }
      const int dr = tap_r * g.dil_h, ds = tap_s * g.dil_w;
      const int64_t tap = dr * g.x_sh + ds * g.x_sw + ct * C::BK + 8 * gl.chunk;
      CUOPS_UNROLL
      for (int i = 0; i < 8; ++i) {
        const int ih = gl.from(ih0, i) + dr, iw = gl.from(iw0, i) + ds;
        const int64_t at = gl.from(corner, i) + tap;
        const bool in = static_cast<unsigned>(ih) < static_cast<unsigned>(g.H) &&
                        static_cast<unsigned>(iw) < static_cast<unsigned>(g.W);
        gl.copy(ring.a(pos.s), gl.slot + GatherLane::kSlots * i, x + (in ? at : 0), in, x);
      }
      cp_async_mbar_arrive_noinc(bar);
      if (++ct == g.c_tiles) {
        ct = 0;
        if (++tap_s == g.S) tap_s = 0, ++tap_r;
      }
      pos.next<C::kStages>();
    }
  }
  // No thread leaves with copies (and their barrier arrivals) in flight, as
  // CUTLASS's gather producers drain theirs.
  cp_async_wait_all();
}

template <typename T, class C>
__global__ void __launch_bounds__(C::kThreads, 1)
    conv_wgmma_kernel(const __grid_constant__ Params p, const __grid_constant__ Gather g,
                      float* ws) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(8) uint64_t bars[2 * C::kStages];
  extern __shared__ __align__(1024) unsigned char smem[];
  const Ring<C> ring{(smem_u32(smem) + 1023u) & ~1023u, smem_u32(bars)};
  const int tid = threadIdx.x, wg = tid / 128;
  if (tid == 0) ring.init(128 + 1);  // the gathers + the expect_tx arrival
  __syncthreads();
  if (wg == 0) {
    setmaxnreg_dec<C::cfg.producer_regs>();
    produce_gathered<T, C>(p, g, ring, tid);
  } else {
    setmaxnreg_inc<C::cfg.consumer_regs>();
    const int cw = wg - 1, warp = (tid / 32) % 4, lane = tid % 32;
    const uint32_t a_off = cw * (C::WM * C::BK * 2);
    float acc[C::kAccRegs];
    CUOPS_UNROLL
    for (int i = 0; i < C::kAccRegs; ++i) acc[i] = 0.f;
    RingPos pos;
    for (int64_t t = blockIdx.x; t < p.tiles_m * p.tiles_n * p.batch; t += gridDim.x) {
      int64_t z, m0, n0;
      tile_origin<C>(p, t, z, m0, n0);
      mainloop<T, C, false, false, true>(ring, pos, a_off, acc, lane,
                                         split_ktiles(g.ktiles_total, z, p.ktiles));
      if (p.batch == 1)
        store_tile<T, C>(p, acc, 0, m0 + cw * C::WM, n0, warp, lane, ring.out(4 * cw + warp),
                         [&](int64_t m) { return g.y_row(m); });
      else
        store_partials<C>(p, ws, acc, z, m0 + cw * C::WM, n0, warp, lane);
    }
  }
#endif
}

// The finish of a split GEMM-K: y at (m, n) = the splits' partials summed in
// split order (deterministic) + bias, rounded to T once.
template <typename T>
__global__ void finish_splits_kernel(const float* ws, int64_t splits, int64_t M, int64_t N,
                                     const T* bias, T* y, int64_t y_sn_col,
                                     const __grid_constant__ Gather g) {
  using Ops = HalfOps<T>;
  const int64_t total = M * N;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t m = i / N, n = i - m * N;
    float s = 0.f;
    for (int64_t z = 0; z < splits; ++z) s += ws[z * total + i];
    if (bias != nullptr) s += Ops::to_float(bias[n]);
    y[g.y_row(m) + n * y_sn_col] = Ops::from_float(s);
  }
}

template <typename T, TileConfig kCfg>
bool launch(const Conv2dProblem& p, const void* w, int64_t rsc, bool staged) {
  using C = Tile<kCfg>;
  auto kernel = conv_wgmma_kernel<T, C>;
  if (!kernel_in_build<C>(kernel)) return false;
  Params prm{};
  prm.tma_b = tma::make_map<T>(w, p.K, rsc, rsc, C::BN);
  prm.M = p.N * p.P * p.Q;
  prm.N = p.K;
  prm.K = rsc;
  prm.c = p.y;
  prm.bias = p.bias;
  prm.c_sm = 0;  // rows through Gather::y_row
  prm.c_sn = p.y_sk;
  prm.tiles_m = ceil_div<int64_t>(prm.M, C::BM);
  prm.tiles_n = ceil_div<int64_t>(p.K, C::BN);
  // GEMM-K is split only where the output tiles leave SMs idle.
  const int64_t ktiles = rsc / C::BK, tiles = prm.tiles_m * prm.tiles_n;
  const int64_t per = tiles >= num_sms() ? ktiles : split_length(tiles, ktiles, prm.M * prm.N);
  const int64_t splits = ceil_div<int64_t>(ktiles, per);
  prm.ktiles = static_cast<int>(per);  // one split's k tiles (the last may have fewer)
  prm.c_pairs = p.y_sk == 1 && reinterpret_cast<uintptr_t>(p.y) % 4 == 0 && p.y_sn % 2 == 0 &&
                p.y_sp % 2 == 0 && p.y_sq % 2 == 0;
  prm.c_rows16 = p.y_sk == 1 && p.K % 8 == 0 && p.y_sn % 8 == 0 && p.y_sp % 8 == 0 &&
                 p.y_sq % 8 == 0 && reinterpret_cast<uintptr_t>(p.y) % 16 == 0 && staged;
  prm.batch = splits;
  Gather g{};
  g.x = p.x, g.x_sn = p.x_sn, g.x_sh = p.x_sh, g.x_sw = p.x_sw, g.PQ = p.P * p.Q;
  g.Q = static_cast<int>(p.Q), g.H = static_cast<int>(p.H), g.W = static_cast<int>(p.W);
  g.S = static_cast<int>(p.S);
  g.stride_h = static_cast<int>(p.stride_h), g.stride_w = static_cast<int>(p.stride_w);
  g.pad_h = static_cast<int>(p.pad_h), g.pad_w = static_cast<int>(p.pad_w);
  g.dil_h = static_cast<int>(p.dil_h), g.dil_w = static_cast<int>(p.dil_w);
  g.c_tiles = static_cast<int>(p.C / C::BK);
  g.ktiles_total = static_cast<int>(ktiles);
  g.y_sn = p.y_sn, g.y_sp = p.y_sp, g.y_sq = p.y_sq;
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  at::Tensor ws;
  if (splits > 1) {
    const auto opts = at::TensorOptions().device(at::kCUDA, c10::cuda::current_device());
    ws = at::empty({splits, prm.M, prm.N}, opts.dtype(at::kFloat));
  }
  const int64_t units = prm.tiles_m * prm.tiles_n * splits;
  const auto grid = static_cast<unsigned>(std::min<int64_t>(units, num_sms()));
  const auto stream = at::cuda::getCurrentCUDAStream();
  kernel<<<grid, C::kThreads, C::kDynSmem, stream>>>(prm, g,
                                                     splits > 1 ? ws.data_ptr<float>() : nullptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (splits > 1) {
    finish_splits_kernel<T><<<grid_for(prm.M * prm.N, 256), 256, 0, stream>>>(
        ws.const_data_ptr<float>(), splits, prm.M, prm.N, static_cast<const T*>(p.bias),
        static_cast<T*>(p.y), p.y_sk, g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return true;
}

// 128 x 64 tiles for <= 64 filters; 128 x 256 only where the filters fill
// them (K > 128) and the tiles fill the GPU; else 128 x 128.
template <typename T, bool kInFlight>
bool launch_sized(const Conv2dProblem& p, const void* w, int64_t rsc, int64_t M, bool staged) {
  const int64_t wide = ceil_div<int64_t>(M, 128) * ceil_div<int64_t>(p.K, 256);
  if (p.K <= 64) return launch<T, in_flight(kConvSlim, kInFlight)>(p, w, rsc, staged);
  if (p.K > 128 && wide >= num_sms())
    return launch<T, in_flight(kConvWide, kInFlight)>(p, w, rsc, staged);
  return launch<T, in_flight(kConvNarrow, kInFlight)>(p, w, rsc, staged);
}

template <typename T>
bool run(const Conv2dProblem& p) {
  if (!is_sm90()) return false;
  const int64_t M = p.N * p.P * p.Q, rsc = p.R * p.S * p.C;
  // C > 0: at least one k tile (the main loop's first step resets the
  // accumulators); rsc: the copy engine's k coordinate is an int.
  const bool x_ok = p.groups == 1 && p.x_sc == 1 && p.C > 0 && p.C % 64 == 0 &&
                    aligned16(p.x) && p.x_sn % 8 == 0 && p.x_sh % 8 == 0 && p.x_sw % 8 == 0;
  const auto fits = [](int64_t v) { return v >= 0 && v < (int64_t{1} << 28); };
  const int64_t ph = std::abs(p.pad_h), pw = std::abs(p.pad_w);
  const bool geom_ok = fits(p.H) && fits(p.W) && fits((p.P - 1) * p.stride_h + ph) &&
                       fits((p.Q - 1) * p.stride_w + pw) && fits((p.R - 1) * p.dil_h + ph) &&
                       fits((p.S - 1) * p.dil_w + pw) && rsc <= INT32_MAX - 64;
  if (!x_ok || !geom_ok || p.K < 64 || p.K % 8 != 0 || M < 1) return false;
  // B: the filter as [K][R][S][C] rows (a copy unless it is laid out so).
  const void* w = p.w;
  at::Tensor packed;
  if (!(p.w_sc == 1 && p.w_ss == p.C && p.w_sr == p.S * p.C && p.w_sk == rsc && aligned16(p.w))) {
    const auto opts = at::TensorOptions()
                          .dtype(p.dtype)
                          .device(at::kCUDA, c10::cuda::current_device());
    packed = at::from_blob(const_cast<void*>(p.w), {p.K, p.C, p.R, p.S},
                           {p.w_sk, p.w_sc, p.w_sr, p.w_ss}, opts)
                 .permute({0, 2, 3, 1})
                 .contiguous();
    w = packed.const_data_ptr();
  }
  // The tuning table (tuning.h): 1 = one wgmma batch in flight, 2 = the
  // direct epilogue.
  const int cfg = conv::conv_config("implicit_gemm_wgmma", conv::kWgmmaConfigs);
  if (cfg == 1) return launch_sized<T, true>(p, w, rsc, M, /*staged=*/true);
  return launch_sized<T, false>(p, w, rsc, M, /*staged=*/cfg != 2);
}

}  // namespace

bool conv2d_wgmma_try(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return false;
  if (p.dtype == at::kHalf) return run<__half>(p);
  if (p.dtype == at::kBFloat16) return run<__nv_bfloat16>(p);
  return false;
}

void conv2d_implicit_gemm_wgmma(const Conv2dProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
                   "cuops.conv2d(implicit_gemm_wgmma): unsupported dtype ", p.dtype);
  if (!conv2d_wgmma_try(p)) conv2d_implicit_gemm_mma_splitk(p);
}

// dgrad: one stride-1 forward of this step per output phase of dx (stride 1:
// dy with the whole filter flipped, K <-> C swapped). Each phase's output is
// a strided view of dx, which the epilogue's per-pixel rows address; the
// forward's eligibility asks dy for what it asks x (channels_last, K % 64).
void conv2d_backward_input_implicit_gemm_wgmma(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
                   "cuops.conv2d_backward_input(implicit_gemm_wgmma): unsupported dtype ",
                   p.dtype);
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_wgmma);
}

}  // namespace cuops::cuda
