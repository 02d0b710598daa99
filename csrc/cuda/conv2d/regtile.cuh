// The register-tiled fp32 GEMM core of the conv2d `*_regtile` steps
// (implicit_gemm_regtile.cu): matmul's warptile_static compute part
// (csrc/cuda/matmul/warptile_static.cu) with the operand loaders left to the
// step. A 256-thread block computes a 128 x 128 tile of C = A B, eight 64 x 32
// warp tiles of 2 x 2 sub-tiles of 32 x 16, each thread 4 x 4 of every
// sub-tile: 64 fp32 accumulators, 16 FMAs per 2 shared 16-byte loads.
//
// Shared tiles are Xs[k][r] (r = m for A, n for B), BK rows of 128 + 4
// floats, double-buffered: slice t + 1 is gathered into registers while slice
// t is multiplied, stored into the other buffer, one barrier per slice.
// Loaders must zero-fill everything outside the operands, so the FMA loop
// never tests a bound.
#pragma once

#include <climits>

#include "cuda/conv2d/common.cuh"

namespace cuops::cuda::regtile {

// The tile configuration. BK 8 keeps the prefetched values per thread at 4
// per operand, so the kernels fit 128 registers and two blocks (16 warps)
// share an SM: one block's barrier or gather latency is covered by the
// other's FMAs (the gather of an implicit GEMM is longer than a GEMM load).
struct Config {
  static constexpr int BM = 128, BN = 128, BK = 8;
  static constexpr int THREADS = 256, MIN_BLOCKS = 2;
  static constexpr int WM = 64, WN = 32;                    // warp tile
  static constexpr int WM_ITER = 2, WN_ITER = 2, TM = 4, TN = 4;
  static constexpr int WSUB_M = WM / WM_ITER, WSUB_N = WN / WN_ITER;  // 32 x 16 sub-tiles
  static constexpr int PAD = 4;         // row padding of the shared tiles (floats)
  static constexpr int LD = BM + PAD;   // one row length for As and Bs (BM == BN)
  static constexpr int ACC_M = WM_ITER * TM, ACC_N = WN_ITER * TN;  // 8 x 8 per thread
};
using C = Config;
static_assert(C::BM == C::BN, "As and Bs share one row length");
static_assert((C::BM / C::WM) * (C::BN / C::WN) * 32 == C::THREADS, "one warp per warp tile");
static_assert((C::WSUB_M / C::TM) * (C::WSUB_N / C::TN) == 32,
              "a sub-tile is one warp of thread tiles");
static_assert(C::BM * C::BK % (4 * C::THREADS) == 0, "a slice splits into 4-element pieces");
static_assert(C::LD % 4 == 0, "shared rows stay 16-byte aligned");

using F4 = Vec<float, 4>;

// A coordinate far outside any image: a tap or pixel beyond the GEMM's range
// carries it, so the padding test alone zero-fills it. The steps route
// geometry of kMaxGeom or more to implicit_gemm, so kFar + any real
// coordinate stays negative.
constexpr int kFar = -(1 << 30);
constexpr int64_t kMaxGeom = 1 << 28;

// Tap table entry of tap index kk (< Kdim = C/groups*R*S): {x offset of its
// (c, r, s), r*dil_h, s*dil_w, c*R*S + r*S + s (its KCRS place within one
// filter)}; past the end {0, kFar, kFar, -1}. Order (r, s, c) with c fastest
// when the loader reads channels contiguously (channels_last), else (c, r, s).
// Kdim < 2^31 (the callers check).
__device__ __forceinline__ int4 tap_entry(const Conv2dProblem& p, int64_t kk, int64_t Kdim,
                                          bool c_fast) {
  if (kk >= Kdim) return make_int4(0, kFar, kFar, -1);
  const int64_t Cg = p.C / p.groups, RS = p.R * p.S;
  int64_t c, rs;
  if (c_fast) {
    c = kk % Cg, rs = kk / Cg;
  } else {
    c = kk / RS, rs = kk % RS;
  }
  const int64_t r = rs / p.S, s = rs % p.S, dr = r * p.dil_h, ds = s * p.dil_w;
  return make_int4(static_cast<int>(c * p.x_sc + dr * p.x_sh + ds * p.x_sw),
                   static_cast<int>(dr), static_cast<int>(ds), static_cast<int>(c * RS + rs));
}

// The 32-bit tap offsets and coordinates (with kFar headroom) hold for p.
inline bool geometry_fits(const Conv2dProblem& p) {
  auto fits = [](int64_t v) { return v >= 0 && v < kMaxGeom; };
  const int64_t Cg = p.C / p.groups;
  const int64_t ph = std::abs(p.pad_h), pw = std::abs(p.pad_w);
  const int64_t tap_span = (Cg - 1) * p.x_sc + (p.R - 1) * p.dil_h * p.x_sh +
                           (p.S - 1) * p.dil_w * p.x_sw;
  return Cg > 0 && fits(p.H) && fits(p.W) && fits(p.stride_h) && fits(p.stride_w) &&
         fits((p.P - 1) * p.stride_h + ph) && fits((p.Q - 1) * p.stride_w + pw) &&
         fits((p.R - 1) * p.dil_h + ph) && fits((p.S - 1) * p.dil_w + pw) && p.x_sc >= 0 &&
         p.x_sh >= 0 && p.x_sw >= 0 && tap_span < INT_MAX;
}

// The pre-pass of the packed-filter implicit GEMMs (the regtile steps and
// implicit_gemm_3xtf32), on the current stream: wp[gb][kk][n] = the filter
// tap kk of output channel n of group block gb (SLOTS groups of slot_w
// columns each; zeros past the taps, the filters and the groups), n padded to
// Npad, kk to KT; and tab[kk] = tap_entry(kk) for kk < KT (sentinels past
// Kdim). Taps in (r, s, c) order when c_fast, else (c, r, s). pixel_slots:
// block gb is group gb, each slot holding its filters again.
void pack_filter(const Conv2dProblem& p, float* wp, int4* tab, int64_t Kdim, int64_t KT,
                 int64_t Npad, int64_t slots, int64_t slot_w, bool c_fast,
                 bool pixel_slots = false);

// The fp32 wgrad steps that split the pixel reduction (wgrad_regtile.cu,
// wgrad_3xtf32.cu): per group, dw[k][tap] = sum over pixels of dy[j][k] *
// im2col(x)[j][tap] in 128 x 128 output tiles, the pixels in `splits` fixed
// chunks (the count from the shape only: the bits of dw do not depend on the
// GPU) whose sums go to partial rows [split][K * Kdim] (KCRS order), then
// conv::launch_wgrad_finish adds the rows in a fixed order.
struct WgradArgs {
  const float* x;
  const float* dy;
  const int4* tab;  // [n_tiles * 128] tap_entry
  float* partial;   // [splits][total]
  int npq, PQ, Q, H, W, stride_h, stride_w, pad_h, pad_w;
  int64_t x_sn, x_sh, x_sw, x_sg;  // x_sg: offset of one group's channels
  int64_t y_sn, y_sk, y_sp, y_sq;
  int Kg, Kdim, n_tiles, chunk;  // chunk: pixels per split (a multiple of the step's k depth)
  int groups;
  int64_t total;                 // K * Kdim: one partial row
  int g0;                        // first group (block) of a launch (the caller's loop)
};
// Column slots of a tile: the 128 columns hold n slots of 128 / n filters,
// each slot one group (group slots) or, with `pixels`, the block's one group
// again over other pixels (the forward's pixel slots; the wgrad's pixel-chunk
// slots, each with its own partial row). n == 1: no slots.
struct TileSlots {
  int64_t n = 1;
  bool pixels = false;
};
// The slots for groups of Kg filters: groups side by side where there are
// groups to share the tile (4 of <= 32 filters from 3 groups on, else 2 of
// <= 64); else, where `by_pixels` allows it, 4 (<= 32 filters) or 2 (<= 64)
// pixel slots of the one group; else none.
inline TileSlots tile_slots(int64_t groups, int64_t Kg, bool by_pixels) {
  if (groups >= 3 && Kg <= C::BN / 4) return {4, false};
  if (groups >= 2 && Kg <= C::BN / 2) return {2, false};
  if (by_pixels && Kg <= C::BN / 2) return {Kg <= C::BN / 4 ? 4 : 2, true};
  return {};
}
struct WgradSplit {
  WgradArgs args;      // all but g0
  at::Tensor ws;       // owns the tap table and the partials
  at::Tensor partial;  // [splits * total] view of ws
  int64_t tiles = 0;   // 128 x 128 output tiles per group (block): grid.x
  int64_t grid_y = 0;  // grid.y: chunks, or chunk groups of chunk slots
  int64_t group_blocks = 0;  // grid.z (over launches of <= 65535)
  int64_t splits = 0;  // partial rows: grid_y * (chunk slots or 1)
};
// Pixel j of the reduction (valid: j below the split's end): the offsets of
// its dy element and of its x window origin, and that origin (kFar when not
// valid, so every tap fails the padding test).
struct WgradPixel {
  int64_t py = 0, px = 0;
  int ih0 = kFar, iw0 = kFar;
};
__device__ __forceinline__ WgradPixel wgrad_pixel(const WgradArgs& a, int j, bool valid) {
  WgradPixel w;
  if (valid) {
    const int nb = j / a.PQ, pq = j - nb * a.PQ, pp = pq / a.Q, q = pq - pp * a.Q;
    w.ih0 = pp * a.stride_h - a.pad_h, w.iw0 = q * a.stride_w - a.pad_w;
    w.py = nb * a.y_sn + pp * a.y_sp + q * a.y_sq;
    w.px = nb * a.x_sn + w.ih0 * a.x_sh + w.iw0 * a.x_sw;
  }
  return w;
}
// True when the step's 32-bit pixel indices and tap table hold for p.
bool wgrad_split_fits(const Conv2dGradProblem& p);
// The split for a step whose k tiles are `bk` pixels deep (chunks are whole
// k tiles), the workspace, and the tap table (written on the current stream).
WgradSplit plan_wgrad_split(const Conv2dGradProblem& p, int64_t bk, const char* step,
                            TileSlots slots = {});

// Where a thread's accumulators sit inside the block tile: rows
// warp_m + wi * WSUB_M + t_m + i, columns warp_n + wj * WSUB_N + t_n + j.
struct ThreadTile {
  int warp_m, warp_n, t_m, t_n;
  __device__ __forceinline__ explicit ThreadTile(int tid) {
    const int lane = tid % 32, warp = tid / 32;
    warp_m = warp / (C::BN / C::WN) * C::WM;
    warp_n = warp % (C::BN / C::WN) * C::WN;
    t_m = lane / (C::WSUB_N / C::TN) * C::TM;
    t_n = lane % (C::WSUB_N / C::TN) * C::TN;
  }
  __device__ __forceinline__ int m(int i) const {  // i < ACC_M
    return warp_m + i / C::TM * C::WSUB_M + t_m + i % C::TM;
  }
  __device__ __forceinline__ int n(int j) const {  // j < ACC_N
    return warp_n + j / C::TN * C::WSUB_N + t_n + j % C::TN;
  }
};

// acc += As[buffer] x Bs[buffer] over one BK slice: per k, two 16-byte loads
// of A (a warp reads 128 contiguous bytes: conflict-free) and two of B
// (broadcasts), then 64 FMAs.
__device__ __forceinline__ void multiply_slice(const float* __restrict__ as,
                                               const float* __restrict__ bs, const ThreadTile& tt,
                                               float (&acc)[C::ACC_M][C::ACC_N]) {
#pragma unroll
  for (int kk = 0; kk < C::BK; ++kk) {
    F4 af[C::WM_ITER], bf[C::WN_ITER];
#pragma unroll
    for (int wi = 0; wi < C::WM_ITER; ++wi)
      af[wi] = *reinterpret_cast<const F4*>(&as[kk * C::LD + tt.warp_m + wi * C::WSUB_M + tt.t_m]);
#pragma unroll
    for (int wj = 0; wj < C::WN_ITER; ++wj)
      bf[wj] = *reinterpret_cast<const F4*>(&bs[kk * C::LD + tt.warp_n + wj * C::WSUB_N + tt.t_n]);
#pragma unroll
    for (int i = 0; i < C::ACC_M; ++i)
#pragma unroll
      for (int j = 0; j < C::ACC_N; ++j)
        acc[i][j] = fmaf(af[i / C::TM].v[i % C::TM], bf[j / C::TN].v[j % C::TN], acc[i][j]);
  }
}

// The double-buffered main loop over `nk` slices. `fetch(t)` gathers slice t
// into the loaders' registers (it must accept t == nk and then load zeros or
// nothing that is stored anywhere read: one slice past the end is fetched so
// the loop body has no branch around the gather); `stash(buf)` writes the
// registers into shared buffer `buf`. The warp multiplies As[buf] + a_off
// (a step may stage several A tiles per buffer, one per group slot).
template <int A_FLOATS, typename Fetch, typename Stash>
__device__ __forceinline__ void main_loop(int nk, float (*As)[A_FLOATS],
                                          float (*Bs)[C::BK * C::LD], int a_off,
                                          const ThreadTile& tt, float (&acc)[C::ACC_M][C::ACC_N],
                                          Fetch&& fetch, Stash&& stash) {
#pragma unroll
  for (int i = 0; i < C::ACC_M; ++i)
#pragma unroll
    for (int j = 0; j < C::ACC_N; ++j) acc[i][j] = 0.f;
  fetch(0);
  stash(0);
  __syncthreads();
  for (int t = 0; t < nk; ++t) {
    const int buf = t & 1;
    fetch(t + 1);  // in flight during this slice's FMAs
    multiply_slice(As[buf] + a_off, Bs[buf], tt, acc);
    stash(buf ^ 1);  // nobody reads the other buffer since the last barrier
    __syncthreads();  // slice t + 1 visible, buffer t free
  }
}

}  // namespace cuops::cuda::regtile
