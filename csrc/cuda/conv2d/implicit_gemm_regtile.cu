// Step 2b of the conv2d forward ladder: implicit GEMM with matmul's
// warptile_static register tiling (fp32, true fp32 FMAs, no TF32).
//
// GEMM view as in implicit_gemm (igemm.cuh): M = N*P*Q output pixels,
// N = K/groups filters, k = C/groups*R*S taps; groups are independent GEMMs
// (grid.z). Why implicit_gemm is slow: a 64 x 64 tile with 4 x 4 per thread
// does 16 FMAs per 8 scalar shared loads and divides (c, r, s) out of k with
// 64-bit divisions for every gathered element. Here:
//  - compute: 128 x 128 block tile, 8 x 8 per thread, 16-byte shared loads,
//    double-buffered (regtile.cuh), 128 registers, 2 blocks per SM;
//  - the filter is packed once per call by a tiny pre-pass into
//    wp[g][k][n] (n padded to the 128-wide tile, k to whole slices + one
//    slice of zeros), so B is read as unguarded 16-byte vectors;
//  - the same pre-pass writes a tap table tab[k] = {x offset of (c, r, s),
//    r*dil_h, s*dil_w} (sentinel rows past the end), so the gather does no
//    division at all: a thread's output pixels (n, p, q) are decomposed once,
//    and an element is one table entry (a warp-wide broadcast), two unsigned
//    compares for the padding, one load;
//  - the A (x) loader is chosen by layout so a warp reads contiguous memory:
//      PixelFast  threads walk m (consecutive q: NCHW), taps in (c, r, s) order
//      TapFast    threads walk k, taps in (r, s, c) order (channels_last, any C)
//      TapVec     channels_last, C/groups % 4 == 0: a thread gathers 4
//                 consecutive channels of one pixel (one table entry, one
//                 padding test for 4 loads)
//  - groups: grid.z over group blocks; narrow groups (K/groups <= 32 or 64)
//    share one tile, 4 or 2 groups side by side in the 128 columns, each
//    with its own A tile, instead of one group padded to 128 columns (3/4 of
//    the FMAs wasted at K/groups = 32);
//  - step implicit_gemm_regtile_slots: one group of <= 64 filters (an RGB
//    stem, ResNet's first stage) shares the tile the same way with 2 or 4
//    pixel slots: slot s holds the group's filters again and multiplies the
//    A tile of pixels m0 + 128 s, so a block computes 256 (512) pixels x 64
//    (32) filters with no column wasted;
//  - the epilogue adds the bias and stores 4 outputs as one 16-byte vector
//    along q (NCHW) or along k (channels_last) where y's strides allow.
// Padding may be any sign (negative = the window starts inside x) and y any
// strides. Problems whose offsets would not fit the 32-bit table or whose
// geometry is huge run implicit_gemm.
#include "conv2d_steps.h"
#include "cuda/conv2d/regtile.cuh"

namespace cuops::cuda {
namespace {

using regtile::C;
using regtile::F4;
using regtile::kFar;

struct FwdArgs {
  const float* x;
  const int4* tab;   // [KT] regtile::tap_entry
  const float* wp;   // [group blocks][KT][Npad]
  float* y;
  const float* bias;  // [K] or null
  int64_t M, PQ;
  int Q, H, W, stride_h, stride_w, pad_h, pad_w;
  int64_t x_sn, x_sh, x_sw, x_sg;  // x_sg: offset of one group's channels
  int Kg, Npad, n_tiles, nk;
  int groups, slot_w;  // slot_w: tile columns per group slot (Npad when 1 slot)
  int64_t wp_sg;  // KT * Npad: one group block of wp
  int64_t y_sn, y_sk, y_sp, y_sq;
  int epi;  // Epilogue
  int gb0;  // first group block of this launch
};

enum Epilogue : int { kScalar = 0, kVecM = 1, kVecN = 2 };

// One output pixel's gather origin: x offset of (n, group, ih0, iw0) and the
// window's top-left input coordinate.
struct Pixel {
  int64_t pix;
  int ih0, iw0;
};

__device__ __forceinline__ Pixel pixel_of(const FwdArgs& a, int64_t m, int64_t g) {
  if (m >= a.M) return {0, kFar, kFar};
  const conv::OutPixel o = conv::out_pixel(m, a.PQ, a.Q);
  const int ih0 = o.p * a.stride_h - a.pad_h, iw0 = o.q * a.stride_w - a.pad_w;
  return {o.n * a.x_sn + g * a.x_sg + ih0 * a.x_sh + iw0 * a.x_sw, ih0, iw0};
}

__device__ __forceinline__ bool inside(const FwdArgs& a, const Pixel& px, const int4& e) {
  return static_cast<unsigned>(px.ih0 + e.y) < static_cast<unsigned>(a.H) &&
         static_cast<unsigned>(px.iw0 + e.z) < static_cast<unsigned>(a.W);
}

__device__ __forceinline__ float gather(const FwdArgs& a, const Pixel& px, const int4& e) {
  return inside(a, px, e) ? __ldg(a.x + px.pix + e.x) : 0.f;
}

// ---- A loaders: one BK x 128 slice of im2col(x) into As[k][m] -------------
// per slot (SLOTS per block, see the kernel). Interface: ctor(tid, args, m0,
// g = first group, slots = valid slots); fetch(args, k0) into registers;
// store(as) into a shared buffer (slot s at s * BK * LD). Group slots
// (kPix false): slot s gathers at +s * x_sg (the next group's channels);
// slots past the last group load nothing and store zeros. Pixel slots:
// slot s gathers group g at pixels m0 + 128 s + ...
constexpr int kSlotFloats = C::BK * C::LD;

// The first pixel row of slot s: m0 + 128 s for pixel slots, else m0.
__device__ __forceinline__ int64_t slot_m0(int64_t m0, int s, bool pix) {
  return pix ? m0 + static_cast<int64_t>(C::BM) * s : m0;
}

// Threads walk m: thread (m_t = tid % 128) owns one pixel and BK/2 taps.
template <int SLOTS, bool kPix>
struct ALoaderPixelFast {
  static constexpr int KSTEP = C::THREADS / C::BM;
  static constexpr int NE = C::BK / KSTEP;
  static constexpr int NPX = kPix ? SLOTS : 1;  // pixel states: one per pixel slot
  static_assert(C::THREADS % C::BM == 0 && C::BK % KSTEP == 0, "pixel-fast split");
  int m_t, k_t, slots;
  Pixel px[NPX];
  float reg[SLOTS][NE];
  __device__ __forceinline__ ALoaderPixelFast(int tid, const FwdArgs& a, int64_t m0, int64_t g,
                                              int valid_slots)
      : m_t(tid % C::BM), k_t(tid / C::BM), slots(valid_slots) {
#pragma unroll
    for (int s = 0; s < NPX; ++s) px[s] = pixel_of(a, slot_m0(m0, s, kPix) + m_t, g);
  }
  __device__ __forceinline__ void fetch(const FwdArgs& a, int k0) {
#pragma unroll
    for (int i = 0; i < NE; ++i) {
      const int4 e = __ldg(a.tab + k0 + k_t + i * KSTEP);
      const bool in0 = inside(a, px[0], e);
#pragma unroll
      for (int sl = 0; sl < SLOTS; ++sl) {
        const Pixel& q = px[kPix ? sl : 0];
        const int64_t off = kPix ? 0 : sl * a.x_sg;
        const bool in = kPix && sl > 0 ? inside(a, q, e) : in0;
        reg[sl][i] = in && sl < slots ? __ldg(a.x + q.pix + off + e.x) : 0.f;
      }
    }
  }
  __device__ __forceinline__ void store(float* as) const {
#pragma unroll
    for (int sl = 0; sl < SLOTS; ++sl)
#pragma unroll
      for (int i = 0; i < NE; ++i) as[sl * kSlotFloats + (k_t + i * KSTEP) * C::LD + m_t] = reg[sl][i];
  }
};

// Threads walk k: thread (k_t = tid % BK) owns one tap and NP pixels 32 apart.
template <int SLOTS, bool kPix>
struct ALoaderTapFast {
  static constexpr int MSTEP = C::THREADS / C::BK;
  static constexpr int NP = C::BM / MSTEP;
  static constexpr int NPX = kPix ? SLOTS : 1;
  static_assert(C::THREADS % C::BK == 0 && C::BM % MSTEP == 0, "tap-fast split");
  int m_t, k_t, slots;
  Pixel px[NPX][NP];
  float reg[SLOTS][NP];
  __device__ __forceinline__ ALoaderTapFast(int tid, const FwdArgs& a, int64_t m0, int64_t g,
                                            int valid_slots)
      : m_t(tid / C::BK), k_t(tid % C::BK), slots(valid_slots) {
#pragma unroll
    for (int s = 0; s < NPX; ++s)
#pragma unroll
      for (int i = 0; i < NP; ++i)
        px[s][i] = pixel_of(a, slot_m0(m0, s, kPix) + m_t + i * MSTEP, g);
  }
  __device__ __forceinline__ void fetch(const FwdArgs& a, int k0) {
    const int4 e = __ldg(a.tab + k0 + k_t);
#pragma unroll
    for (int i = 0; i < NP; ++i) {
      const bool in0 = inside(a, px[0][i], e);
#pragma unroll
      for (int sl = 0; sl < SLOTS; ++sl) {
        const Pixel& q = px[kPix ? sl : 0][i];
        const int64_t off = kPix ? 0 : sl * a.x_sg;
        const bool in = kPix && sl > 0 ? inside(a, q, e) : in0;
        reg[sl][i] = in && sl < slots ? __ldg(a.x + q.pix + off + e.x) : 0.f;
      }
    }
  }
  __device__ __forceinline__ void store(float* as) const {
    // Lanes: 8 taps (rows 132 floats apart: banks 4 apart) x 4 pixels.
#pragma unroll
    for (int sl = 0; sl < SLOTS; ++sl)
#pragma unroll
      for (int i = 0; i < NP; ++i) as[sl * kSlotFloats + k_t * C::LD + m_t + i * MSTEP] = reg[sl][i];
  }
};

// Channels_last, C/groups % 4 == 0: a 4-tap piece is 4 consecutive channels
// of one (r, s) (one table entry, one padding test); one pixel per thread.
template <int SLOTS, bool kPix>
struct ALoaderTapVec {
  static constexpr int VPR = C::BK / 4;  // vectors per pixel row of the slice
  static constexpr int NPX = kPix ? SLOTS : 1;
  static_assert(C::BM * VPR == C::THREADS, "one vector per thread");
  int m_t, k_t, slots;
  Pixel px[NPX];
  float reg[SLOTS][4];
  __device__ __forceinline__ ALoaderTapVec(int tid, const FwdArgs& a, int64_t m0, int64_t g,
                                           int valid_slots)
      : m_t(tid / VPR), k_t(tid % VPR * 4), slots(valid_slots) {
#pragma unroll
    for (int s = 0; s < NPX; ++s) px[s] = pixel_of(a, slot_m0(m0, s, kPix) + m_t, g);
  }
  __device__ __forceinline__ void fetch(const FwdArgs& a, int k0) {
    // Four 4-byte loads (a warp's requests coalesce as 16-byte vectors'
    // would, and x needs no alignment): a 128-bit load needs 4 aligned
    // registers, which spilled more at 128 registers.
    const int4 e = __ldg(a.tab + k0 + k_t);
#pragma unroll
    for (int sl = 0; sl < SLOTS; ++sl) {
      const Pixel& q = px[kPix ? sl : 0];
      const bool in = inside(a, q, e) && sl < slots;
      const float* src = a.x + q.pix + (kPix ? 0 : sl * a.x_sg) + e.x;
#pragma unroll
      for (int j = 0; j < 4; ++j) reg[sl][j] = in ? __ldg(src + j) : 0.f;
    }
  }
  __device__ __forceinline__ void store(float* as) const {
    // Lanes: 16 pixels x 2 pieces (rows 4 * 132 floats apart: banks +16).
#pragma unroll
    for (int sl = 0; sl < SLOTS; ++sl)
#pragma unroll
      for (int j = 0; j < 4; ++j) as[sl * kSlotFloats + (k_t + j) * C::LD + m_t] = reg[sl][j];
  }
};

// ---- B loader: one BK x 128 slice of the packed filter into Bs[k][n] ------
struct BLoader {
  static constexpr int VPR = C::BN / 4;
  static constexpr int KSTEP = C::THREADS / VPR;
  static constexpr int NV = C::BK / KSTEP;
  static_assert(C::THREADS % VPR == 0 && C::BK % KSTEP == 0, "B slice split");
  const float* w;  // tile origin (k = 0, n0) of the group block
  int npad, n_t, k_t;
  F4 reg[NV];
  __device__ __forceinline__ BLoader(int tid, const float* wtile, int Npad)
      : w(wtile), npad(Npad), n_t(tid % VPR * 4), k_t(tid / VPR) {}
  __device__ __forceinline__ void fetch(int k0) {
#pragma unroll
    for (int i = 0; i < NV; ++i)
      reg[i] = *reinterpret_cast<const F4*>(w + (k0 + k_t + i * KSTEP) * npad + n_t);
  }
  __device__ __forceinline__ void store(float* bs) const {
#pragma unroll
    for (int i = 0; i < NV; ++i) *reinterpret_cast<F4*>(&bs[(k_t + i * KSTEP) * C::LD + n_t]) = reg[i];
  }
};

// ---- epilogue: y = acc + bias, bounds-checked, vectorized where allowed ---
__device__ __forceinline__ int64_t y_pixel(const FwdArgs& a, int64_t m) {
  const conv::OutPixel o = conv::out_pixel(m, a.PQ, a.Q);
  return o.n * a.y_sn + o.p * a.y_sp + o.q * a.y_sq;
}

// Output channel of tile column `col` (0 .. Npad) of group block gb, -1 past
// the group's filters or the last group (pixel slots: gb is the group).
template <int SLOTS, bool kPix>
__device__ __forceinline__ int64_t channel_of(const FwdArgs& a, int64_t gb, int col) {
  const int slot = col / a.slot_w, nn = col - slot * a.slot_w;
  const int64_t g = kPix ? gb : gb * SLOTS + slot;
  return nn < a.Kg && g < a.groups ? g * a.Kg + nn : -1;
}

// m0: the first pixel of this thread's slot (its warp's columns lie in one).
template <int SLOTS, bool kPix>
__device__ __forceinline__ void store_output(const FwdArgs& a, const regtile::ThreadTile& tt,
                                             const float (&acc)[C::ACC_M][C::ACC_N], int64_t m0,
                                             int n0, int64_t gb) {
  float bv[C::ACC_N];
#pragma unroll
  for (int j = 0; j < C::ACC_N; ++j) {
    const int64_t ch = channel_of<SLOTS, kPix>(a, gb, n0 + tt.n(j));
    bv[j] = a.bias != nullptr && ch >= 0 ? __ldg(a.bias + ch) : 0.f;
  }

  if (a.epi == kVecM) {  // 4 consecutive m = 4 consecutive q of one row (Q % 4 == 0)
#pragma unroll
    for (int wi = 0; wi < C::WM_ITER; ++wi) {
      const int64_t m = m0 + tt.m(wi * C::TM);
      if (m >= a.M) continue;  // M % 4 == 0: the whole vector is inside
      float* yp = a.y + y_pixel(a, m);
#pragma unroll
      for (int j = 0; j < C::ACC_N; ++j) {
        const int64_t ch = channel_of<SLOTS, kPix>(a, gb, n0 + tt.n(j));
        if (ch < 0) continue;
        F4 out;
#pragma unroll
        for (int i = 0; i < C::TM; ++i) out.v[i] = acc[wi * C::TM + i][j] + bv[j];
        *reinterpret_cast<F4*>(yp + ch * a.y_sk) = out;
      }
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < C::ACC_M; ++i) {
    const int64_t m = m0 + tt.m(i);
    if (m >= a.M) continue;
    float* yp = a.y + y_pixel(a, m);
    if (a.epi == kVecN) {  // 4 consecutive channels contiguous (y_sk == 1, Kg % 4 == 0)
#pragma unroll
      for (int wj = 0; wj < C::WN_ITER; ++wj) {
        const int64_t ch = channel_of<SLOTS, kPix>(a, gb, n0 + tt.n(wj * C::TN));
        if (ch < 0) continue;  // the first is a group's filter: so are the next 3
        F4 out;
#pragma unroll
        for (int j = 0; j < C::TN; ++j) out.v[j] = acc[i][wj * C::TN + j] + bv[wj * C::TN + j];
        *reinterpret_cast<F4*>(yp + ch) = out;
      }
    } else {
#pragma unroll
      for (int j = 0; j < C::ACC_N; ++j) {
        const int64_t ch = channel_of<SLOTS, kPix>(a, gb, n0 + tt.n(j));
        if (ch >= 0) yp[ch * a.y_sk] = acc[i][j] + bv[j];
      }
    }
  }
}

// ---- the kernel ----------------------------------------------------------
// blockIdx.x = m tile * n_tiles + n tile (the n tiles of one pixel tile run
// together: x is read from DRAM about once), blockIdx.z = group block - gb0.
// Group slots: a group block is SLOTS consecutive groups: with K/groups <=
// 128/SLOTS the 128 tile columns hold SLOTS groups' filters (slot_w =
// 128/SLOTS columns each) instead of one group's padded to 128; each group
// has its own A tile (its channels). Pixel slots (kPix): the block is one
// group and SLOTS * 128 pixels, slot s's columns the group's filters again
// and its A tile pixels m0 + 128 s. Either way a warp's 32 columns lie in one
// slot, so the warp multiplies that slot's A tile. SLOTS > 1 holds SLOTS x 4
// gathered values per thread: one block per SM (no 128-register cap).
template <template <int, bool> class ALoader, int SLOTS, bool kPix>
__global__ void __launch_bounds__(C::THREADS, SLOTS == 1 ? C::MIN_BLOCKS : 1)
    conv_regtile_kernel(const __grid_constant__ FwdArgs a) {
  static_assert((C::BN / SLOTS) % C::WN == 0, "a warp's columns lie in one slot");
  __shared__ __align__(16) float As[2][SLOTS * kSlotFloats];
  __shared__ __align__(16) float Bs[2][C::BK * C::LD];
  const int tid = threadIdx.x;
  const int64_t gb = a.gb0 + static_cast<int64_t>(blockIdx.z);
  const int n_tile = static_cast<int>(blockIdx.x % a.n_tiles);
  const int64_t m0 = static_cast<int64_t>(blockIdx.x / a.n_tiles) * C::BM * (kPix ? SLOTS : 1);
  const int n0 = n_tile * C::BN;
  const int valid_slots =
      kPix ? SLOTS : static_cast<int>(std::min<int64_t>(SLOTS, a.groups - gb * SLOTS));

  const regtile::ThreadTile tt(tid);
  ALoader<SLOTS, kPix> la(tid, a, m0, kPix ? gb : gb * SLOTS, valid_slots);
  BLoader lb(tid, a.wp + gb * a.wp_sg + n0, a.Npad);
  const int slot = SLOTS == 1 ? 0 : tt.warp_n / (C::BN / SLOTS);
  float acc[C::ACC_M][C::ACC_N];
  regtile::main_loop(
      a.nk, As, Bs, slot * kSlotFloats, tt, acc,
      [&](int t) {
        la.fetch(a, t * C::BK);
        lb.fetch(t * C::BK);
      },
      [&](int buf) {
        la.store(As[buf]);
        lb.store(Bs[buf]);
      });
  store_output<SLOTS, kPix>(a, tt, acc, slot_m0(m0, slot, kPix), n0, gb);
}

enum class AMode { kPixelFast, kTapFast, kTapVec };

template <template <int, bool> class ALoader, int SLOTS, bool kPix>
void launch(FwdArgs a, int64_t group_blocks, int64_t m_tiles) {
  const int64_t tiles = m_tiles * a.n_tiles;
  TORCH_CHECK(tiles <= INT_MAX, "cuops.conv2d: problem too large for implicit_gemm_regtile");
  for (int64_t gb0 = 0; gb0 < group_blocks; gb0 += 65535) {  // gridDim.z <= 65535
    a.gb0 = static_cast<int>(gb0);
    const dim3 grid(static_cast<unsigned>(tiles), 1,
                    static_cast<unsigned>(std::min<int64_t>(group_blocks - gb0, 65535)));
    conv_regtile_kernel<ALoader, SLOTS, kPix>
        <<<grid, C::THREADS, 0, at::cuda::getCurrentCUDAStream()>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <template <int, bool> class ALoader>
void launch_slots(const FwdArgs& a, int64_t slots, bool pix, int64_t group_blocks,
                  int64_t m_tiles) {
  if (pix) {
    return slots == 4 ? launch<ALoader, 4, true>(a, group_blocks, m_tiles)
                      : launch<ALoader, 2, true>(a, group_blocks, m_tiles);
  }
  switch (slots) {
    case 4: return launch<ALoader, 4, false>(a, group_blocks, m_tiles);
    case 2: return launch<ALoader, 2, false>(a, group_blocks, m_tiles);
    default: return launch<ALoader, 1, false>(a, group_blocks, m_tiles);
  }
}

// ---- the pre-pass: packed filter + tap table ------------------------------
// wp[gb][kk][n] = w[g*Kg + nn][c][r][s] with slot = n / slot_w,
// nn = n % slot_w, g = gb * slots + slot, for kk < Kdim, nn < Kg, g < groups;
// else 0. tab[kk] (written by the n == 0, gb == 0 threads). Tap order:
// (r, s, c) with c fastest when the loader reads channels contiguously,
// else (c, r, s).
__global__ void pack_kernel(const Conv2dProblem p, float* __restrict__ wp, int4* __restrict__ tab,
                            int64_t Kdim, int64_t KT, int64_t Npad, int64_t slots, int64_t slot_w,
                            bool c_fast, bool pix, int64_t total) {
  const int64_t Kg = p.K / p.groups;
  const float* w = static_cast<const float*>(p.w);
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    const int64_t n = idx % Npad, kk = idx / Npad % KT, gb = idx / (Npad * KT);
    const int64_t slot = n / slot_w, nn = n - slot * slot_w, g = pix ? gb : gb * slots + slot;
    const bool in = kk < Kdim && nn < Kg && g < p.groups;
    if (in) {  // (c, r, s) of kk from its KCRS place c*R*S + r*S + s
      const int64_t canon = regtile::tap_entry(p, kk, Kdim, c_fast).w;
      const int64_t c = canon / (p.R * p.S), rs = canon % (p.R * p.S), r = rs / p.S, s = rs % p.S;
      wp[idx] = w[(g * Kg + nn) * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss];
    } else {
      wp[idx] = 0.f;
    }
    if (gb == 0 && n == 0) tab[kk] = regtile::tap_entry(p, kk, Kdim, c_fast);
  }
}

}  // namespace

void regtile::pack_filter(const Conv2dProblem& p, float* wp, int4* tab, int64_t Kdim, int64_t KT,
                          int64_t Npad, int64_t slots, int64_t slot_w, bool c_fast,
                          bool pixel_slots) {
  const int64_t blocks = pixel_slots ? p.groups : ceil_div(p.groups, slots);
  const int64_t total = blocks * KT * Npad;
  pack_kernel<<<grid_for(total, conv::kThreads), conv::kThreads, 0,
                at::cuda::getCurrentCUDAStream()>>>(p, wp, tab, Kdim, KT, Npad, slots, slot_w,
                                                    c_fast, pixel_slots, total);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

namespace {

// The forward; `pixel_slots`: a group of <= 64 filters that no group slots
// take shares the tile's columns with 2 or 4 pixel slots (the step
// implicit_gemm_regtile_slots).
void run_regtile(const Conv2dProblem& p, bool pixel_slots, const char* step) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.conv2d(", step, "): unsupported dtype ",
                   p.dtype);
  if (!regtile::geometry_fits(p)) return conv2d_implicit_gemm(p);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, Kdim = Cg * p.R * p.S;
  const int64_t Kpad = ceil_div<int64_t>(Kdim, C::BK) * C::BK, KT = Kpad + C::BK;
  // Slots: narrow groups (or one group's filters over more pixels) share the
  // 128 tile columns (see the kernel).
  const regtile::TileSlots ts = regtile::tile_slots(p.groups, Kg, pixel_slots);
  const int64_t slots = ts.n;
  const bool pix = ts.pixels;
  const int64_t Npad = slots == 1 ? ceil_div<int64_t>(Kg, C::BN) * C::BN : C::BN;
  const int64_t slot_w = Npad / slots;
  const int64_t group_blocks = pix ? p.groups : ceil_div<int64_t>(p.groups, slots);
  if (KT * Npad >= INT_MAX) return conv2d_implicit_gemm(p);  // 32-bit in-block wp offsets

  const auto* xf = static_cast<const float*>(p.x);
  const bool x_cl = p.x_sc == 1 && Cg > 1;
  const bool x_vec = x_cl && Cg % 4 == 0;
  const AMode mode = x_vec ? AMode::kTapVec : x_cl ? AMode::kTapFast : AMode::kPixelFast;

  // Workspace: the table (KT int4 = 4 KT floats, keeps wp 16-byte aligned), then wp.
  const int64_t total = group_blocks * KT * Npad;
  at::Tensor ws = conv::acc_workspace<float>(4 * KT + total);
  auto* tab = reinterpret_cast<int4*>(ws.data_ptr<float>());
  float* wp = ws.data_ptr<float>() + 4 * KT;
  regtile::pack_filter(p, wp, tab, Kdim, KT, Npad, slots, slot_w, mode != AMode::kPixelFast, pix);

  FwdArgs a{};
  a.x = xf, a.tab = tab, a.wp = wp, a.y = static_cast<float*>(p.y);
  a.bias = static_cast<const float*>(p.bias);
  a.PQ = p.P * p.Q, a.M = p.N * a.PQ;
  a.Q = static_cast<int>(p.Q), a.H = static_cast<int>(p.H), a.W = static_cast<int>(p.W);
  a.stride_h = static_cast<int>(p.stride_h), a.stride_w = static_cast<int>(p.stride_w);
  a.pad_h = static_cast<int>(p.pad_h), a.pad_w = static_cast<int>(p.pad_w);
  a.x_sn = p.x_sn, a.x_sh = p.x_sh, a.x_sw = p.x_sw, a.x_sg = Cg * p.x_sc;
  a.Kg = static_cast<int>(Kg), a.Npad = static_cast<int>(Npad);
  a.groups = static_cast<int>(p.groups), a.slot_w = static_cast<int>(slot_w);
  a.n_tiles = static_cast<int>(Npad / C::BN), a.nk = static_cast<int>(Kpad / C::BK);
  a.wp_sg = KT * Npad;
  a.y_sn = p.y_sn, a.y_sk = p.y_sk, a.y_sp = p.y_sp, a.y_sq = p.y_sq;
  const bool y_al = aligned16(p.y) && p.y_sn % 4 == 0 && p.y_sp % 4 == 0;
  a.epi = y_al && p.y_sq == 1 && p.Q % 4 == 0 && p.y_sk % 4 == 0  ? kVecM
          : y_al && p.y_sk == 1 && Kg % 4 == 0 && p.y_sq % 4 == 0 ? kVecN
                                                                   : kScalar;
  const int64_t m_tiles = ceil_div<int64_t>(a.M, C::BM * (pix ? slots : 1));
  switch (mode) {
    case AMode::kTapVec:
      return launch_slots<ALoaderTapVec>(a, slots, pix, group_blocks, m_tiles);
    case AMode::kTapFast:
      return launch_slots<ALoaderTapFast>(a, slots, pix, group_blocks, m_tiles);
    default: return launch_slots<ALoaderPixelFast>(a, slots, pix, group_blocks, m_tiles);
  }
}

}  // namespace

void conv2d_implicit_gemm_regtile(const Conv2dProblem& p) {
  run_regtile(p, /*pixel_slots=*/false, "implicit_gemm_regtile");
}

void conv2d_implicit_gemm_regtile_slots(const Conv2dProblem& p) {
  run_regtile(p, /*pixel_slots=*/true, "implicit_gemm_regtile_slots");
}

// dgrad step implicit_gemm_regtile: one stride-1 forward per output phase of
// dx (conv2d_dgrad_by_phases, csrc/conv2d_phases.cpp: flipped, K <-> C
// swapped sub-filters, padding of any sign, strided views of dx as outputs),
// each run by this forward.
void conv2d_backward_input_implicit_gemm_regtile(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_input(implicit_gemm_regtile): unsupported dtype ",
                   p.dtype);
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_regtile);
}

void conv2d_backward_input_implicit_gemm_regtile_slots(const Conv2dGradProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_input(implicit_gemm_regtile_slots): unsupported dtype ",
                   p.dtype);
  dgrad_by_phases_cuda(p, &conv2d_implicit_gemm_regtile_slots);
}

}  // namespace cuops::cuda
