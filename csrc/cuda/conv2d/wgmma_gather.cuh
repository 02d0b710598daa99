// The A producer of the implicit-GEMM convolutions on the wgmma engines
// (implicit_gemm_wgmma.cu: fp16/bf16; implicit_gemm_wgmma_3xtf32.cu: fp32):
// im2col(x) rows gathered by the producer warpgroup's 128 threads with
// cp.async into the ring's 128-byte-swizzled K-major A tile (the top comment
// of implicit_gemm_wgmma.cu explains the design). One k tile is 128 bytes of
// channels of one tap: 64 16-bit or 32 fp32 channels.
#pragma once

#include "cuda/conv2d/channels_last_copy.h"  // gather_layout
#include "cuda/conv2d/common.cuh"
#include "cuda/matmul/tma.cuh"
#include "cuda/matmul/wgmma/pipeline.cuh"

namespace cuops::cuda::wgmma {

// The gather's view of x and of the convolution's geometry.
struct Gather {
  const void* x;
  int64_t x_sn, x_sh, x_sw;  // element strides; channels are unit-stride
  int64_t PQ;
  int Q, H, W, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int c_tiles;  // C / BK (64 16-bit or 32 fp32 channels): k tiles per filter tap
  int ktiles_total;  // R * S * c_tiles; Params::ktiles is one split's share
  int64_t y_sn, y_sp, y_sq;  // where output pixel m's row of K channels starts

  __device__ __forceinline__ int64_t y_row(int64_t m) const {
    const conv::OutPixel o = conv::out_pixel(m, PQ, Q);
    return o.n * y_sn + o.p * y_sp + o.q * y_sq;
  }
};

// Output tile t (of split z, tile_origin's order) of the problem (p, g):
// its k tiles into the ring from `pos` on.
template <typename T, class C>
__device__ __forceinline__ void produce_gathered_tile(const Params& p, const Gather& g,
                                                      const Ring<C>& ring, RingPos& pos,
                                                      const GatherLane& gl, int tid, int64_t t) {
  static_assert(C::BK * sizeof(T) == 128, "one 128-byte row per pixel and k tile");
  static_assert(C::BM == 8 * GatherLane::kSlots, "each group of eight holds one row per lane");
  constexpr int kFar = -(1 << 30);  // the window of a pixel past M: every tap is outside
  constexpr int kChunkElems = 16 / sizeof(T);  // elements of one 16-byte chunk
  const T* x = static_cast<const T*>(g.x);
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
    const int64_t tap = dr * g.x_sh + ds * g.x_sw + ct * C::BK + kChunkElems * gl.chunk;
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
  const GatherLane gl(tid);
  RingPos pos;
  const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x)
    produce_gathered_tile<T, C>(p, g, ring, pos, gl, tid, t);
  // No thread leaves with copies (and their barrier arrivals) in flight, as
  // CUTLASS's gather producers drain theirs.
  cp_async_wait_all();
}

// The finish of a split GEMM-K: y at (m, n) = the splits' partials summed in
// split order (deterministic) + bias, rounded to T once (fp32: the bias added last, as the
// unsplit epilogue adds it).
template <typename T>
__global__ void finish_splits_kernel(const float* ws, int64_t splits, int64_t M, int64_t N,
                                     const T* bias, T* y, int64_t y_sn_col,
                                     const __grid_constant__ Gather g) {
  const int64_t total = M * N;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t m = i / N, n = i - m * N;
    float s = 0.f;
    for (int64_t z = 0; z < splits; ++z) s += ws[z * total + i];
    if constexpr (std::is_same_v<T, float>) {
      y[g.y_row(m) + n * y_sn_col] = s + (bias != nullptr ? bias[n] : 0.f);
    } else {
      using Ops = HalfOps<T>;
      if (bias != nullptr) s += Ops::to_float(bias[n]);
      y[g.y_row(m) + n * y_sn_col] = Ops::from_float(s);
    }
  }
}

// ---- host: what the gathered convolutions plan alike -----------------------

// x and the geometry suit the gather: groups 1, x in the gather's layout with
// C a multiple of `c_tile` (the channels of one k tile), coordinates within
// the gather's ints, the copy engine's k coordinate (R*S*C) an int, at least
// one output pixel.
inline bool gather_eligible(const Conv2dProblem& p, int64_t c_tile) {
  const bool x_ok = p.groups == 1 && p.C > 0 && p.C % c_tile == 0 &&
                    gather_layout(p.x, p.x_sn, p.x_sc, p.x_sh, p.x_sw, p.dtype);
  const auto fits = [](int64_t v) { return v >= 0 && v < (int64_t{1} << 28); };
  const int64_t ph = std::abs(p.pad_h), pw = std::abs(p.pad_w);
  const bool geom_ok = fits(p.H) && fits(p.W) && fits((p.P - 1) * p.stride_h + ph) &&
                       fits((p.Q - 1) * p.stride_w + pw) && fits((p.R - 1) * p.dil_h + ph) &&
                       fits((p.S - 1) * p.dil_w + pw) && p.R * p.S * p.C <= INT32_MAX - 64;
  return x_ok && geom_ok && p.N * p.P * p.Q >= 1;
}

// The filter is already the [K][R][S][C] rows B is read as (dgrad's packed
// sub-filters are).
inline bool krsc_in_place(const Conv2dProblem& p) {
  return p.w_sc == 1 && p.w_ss == p.C && p.w_sr == p.S * p.C && p.w_sk == p.R * p.S * p.C &&
         aligned16(p.w);
}

// Every output pixel's K channels of y are one contiguous, 16-byte aligned
// row with K % 8 == 0: what the staged epilogue (Params::c_rows16) needs.
inline bool y_rows16(const Conv2dProblem& p) {
  return p.y_sk == 1 && p.K % 8 == 0 && p.y_sn % 8 == 0 && p.y_sp % 8 == 0 && p.y_sq % 8 == 0 &&
         reinterpret_cast<uintptr_t>(p.y) % 16 == 0;
}

// B: the filter as [K][R][S][C] rows (a copy into `holder` unless it is laid out so).
inline const void* krsc_filter(const Conv2dProblem& p, at::Tensor& holder) {
  if (krsc_in_place(p)) return p.w;
  const auto opts = at::TensorOptions().dtype(p.dtype).device(at::kCUDA,
                                                               c10::cuda::current_device());
  holder = at::from_blob(const_cast<void*>(p.w), {p.K, p.C, p.R, p.S},
                         {p.w_sk, p.w_sc, p.w_sr, p.w_ss}, opts)
               .permute({0, 2, 3, 1})
               .contiguous();
  return holder.const_data_ptr();
}

inline Gather make_gather(const Conv2dProblem& p, int bk, int64_t ktiles) {
  Gather g{};
  g.x = p.x, g.x_sn = p.x_sn, g.x_sh = p.x_sh, g.x_sw = p.x_sw, g.PQ = p.P * p.Q;
  g.Q = static_cast<int>(p.Q), g.H = static_cast<int>(p.H), g.W = static_cast<int>(p.W);
  g.S = static_cast<int>(p.S);
  g.stride_h = static_cast<int>(p.stride_h), g.stride_w = static_cast<int>(p.stride_w);
  g.pad_h = static_cast<int>(p.pad_h), g.pad_w = static_cast<int>(p.pad_w);
  g.dil_h = static_cast<int>(p.dil_h), g.dil_w = static_cast<int>(p.dil_w);
  g.c_tiles = static_cast<int>(p.C / bk);
  g.ktiles_total = static_cast<int>(ktiles);
  g.y_sn = p.y_sn, g.y_sp = p.y_sp, g.y_sq = p.y_sq;
  return g;
}

// The GEMM of the convolution on tile C: y as the row-major M x K output
// (rows through Gather::y_row), B = the [K][R*S*C] filter rows `w` by the copy
// engine; GEMM-K split (Params::batch splits of Params::ktiles k tiles) only
// where the output tiles leave SMs idle.
template <typename T, class C>
Params conv_params(const Conv2dProblem& p, const void* w, int64_t rsc) {
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
  const int64_t ktiles = rsc / C::BK, tiles = prm.tiles_m * prm.tiles_n;
  const int64_t per = tiles >= num_sms() ? ktiles : split_length(tiles, ktiles, prm.M * prm.N);
  prm.ktiles = static_cast<int>(per);  // one split's k tiles (the last may have fewer)
  prm.batch = ceil_div<int64_t>(ktiles, per);
  prm.c_pairs = p.y_sk == 1 && reinterpret_cast<uintptr_t>(p.y) % (2 * sizeof(T)) == 0 &&
                p.y_sn % 2 == 0 && p.y_sp % 2 == 0 && p.y_sq % 2 == 0;
  return prm;
}

// Launches `kernel(prm, g, ws)` (one persistent block per SM at most) on the
// current stream, with the fp32 workspace of the splits and their finish.
template <typename T, class C, class Kernel>
void launch_conv(Kernel kernel, const Conv2dProblem& p, const Params& prm, const Gather& g) {
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const int64_t splits = prm.batch;
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
}

}  // namespace cuops::cuda::wgmma
