// Step 4b of the matmul ladder: warptile with the operand layouts fixed at
// compile time (fp32 only).
//
// Why: warptile (tiled.cuh) needs ~250 registers per thread, so only one
// 256-thread block (8 warps) fits an SM and every __syncthreads stalls the
// whole SM. The 64 accumulators are not the problem; the generic runtime-mode
// TileLoader is (a layout switch, 64-bit index math and a bounds test per
// vector, 16 prefetched values). Here the loader is specialized per layout:
//  - the contiguous dimension of each operand (K for a row-major A / a
//    transposed B, M or N otherwise) is a template parameter: 4 kernels,
//    every global load a 16-byte vector (the host proved alignment);
//  - offsets inside a batch item are 32-bit (the host routes any operand
//    whose span could overflow them to warptile);
//  - a block whose tile lies wholly inside C loads full K slices with no
//    bounds test at all; only edge tiles and the last, partial K slice take
//    the guarded (zero-filling) path, a uniform branch per block;
//  - BK = 8: 4 prefetched values per operand instead of 16.
// That fits 128 registers (__launch_bounds__(256, 2)), so two blocks (16
// warps) share an SM: one block's barrier or global-load wait is covered by
// the other's FMAs.
//
// Compute part as warptile: a 128 x 128 block tile, eight 64 x 32 warp tiles
// of 2 x 2 sub-tiles of 32 x 16, each thread 4 x 4 of every sub-tile (64
// accumulators); 16-byte shared loads of A and B fragments (a warp reads 128
// contiguous bytes of A and 64 of B: conflict-free, broadcasts); double-
// buffered shared memory, the next slice's global loads issued before the
// FMAs of the current one, one barrier per slice.
//
// Invariants: shared tiles are Xs[k][r] (r = m for A, n for B) with rows of
// 128 + 4 floats, zero-filled outside the operand, so the FMA loop never
// checks bounds; the epilogue checks every store of an edge tile. A block
// does one batch item (the host launches once per 65535 items). Every other
// fp32 layout (no unit stride, misaligned pointer/stride/batch offset, spans
// of 2^31 elements or more) runs gemm_warptile.
#include "cuda/matmul/common.cuh"

namespace cuops::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kThreads = 256;
constexpr int kWM = 64, kWN = 32, kWMIter = 2, kWNIter = 2, kTM = 4, kTN = 4;
constexpr int kWSubM = kWM / kWMIter, kWSubN = kWN / kWNIter;  // 32 x 16 sub-tiles
constexpr int kPadS = 4;          // row padding of the shared tiles (floats)
constexpr int kLD = 128 + kPadS;  // BM == BN: one row length for As and Bs
static_assert(kBM == 128 && kBN == 128, "the loaders assume 128-wide tiles");
static_assert((kBM / kWM) * (kBN / kWN) * 32 == kThreads, "one warp per warp tile");
static_assert((kWSubM / kTM) * (kWSubN / kTN) == 32, "a sub-tile is one warp of thread tiles");

// Extents and spans must stay below this for the 32-bit in-tile offsets
// (headroom: m0 + 128, k0 + BK + 3 never overflow an int).
constexpr int64_t kMaxExtent = INT_MAX - 1024;

using F4 = Vec<float, 4>;

// Moves one BK x 128 tile of operand X[r][k] into shared Xs[k][r] through
// registers, 16-byte global loads along X's contiguous dimension:
//  KC (k contiguous, e.g. a row-major A): a row's BK floats are BK/4 vectors;
//    thread (r_t = tid / (BK/4), k_t = tid % (BK/4) * 4), further vectors
//    STEP rows down. Stored transposed, one float per store; with rows of
//    132 floats the 32 lanes hit 32 distinct banks (BK = 8).
//  !KC (r contiguous): a k row's 128 floats are 32 vectors; thread
//    (k_t = tid / 32, r_t = tid % 32 * 4), further vectors STEP k down.
//    Stored as 16-byte vectors.
// `x` points at the tile origin (r0, 0) of the batch item; `ld` is X's
// non-unit stride (along r when KC, along k otherwise).
template <bool KC, int BK>
struct StaticLoader {
  static constexpr int V = 4;
  static constexpr int NV = 128 * BK / V / kThreads;  // vectors per thread
  static constexpr int VPR = KC ? BK / V : 128 / V;   // vectors per row of the contiguous dim
  static constexpr int STEP = kThreads / VPR;
  static_assert(NV >= 1 && kThreads % VPR == 0, "tile must split evenly into vectors");

  F4 reg[NV];
  const int r_t, k_t;

  __device__ __forceinline__ explicit StaticLoader(int tid)
      : r_t(KC ? tid / VPR : tid % VPR * V), k_t(KC ? tid % VPR * V : tid / VPR) {}

  // Element offset of (r, k) from the tile origin; valid only inside X.
  __device__ __forceinline__ static int offset(int r, int k, int ld) {
    return KC ? r * ld + k : k * ld + r;
  }

  // Interior: the whole slice [k0, k0 + BK) x [r0, r0 + 128) lies inside X.
  __device__ __forceinline__ void load_full(const float* __restrict__ x, int ld, int k0) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int r = KC ? r_t + i * STEP : r_t, k = KC ? k0 + k_t : k0 + k_t + i * STEP;
      reg[i] = *reinterpret_cast<const F4*>(x + offset(r, k, ld));
    }
  }

  // Edge tile or K tail: zeros outside X (rem_r = rows of X from r0 on). A
  // partial vector is read element by element; an address is only formed for
  // an element inside X, so the 32-bit offset never overflows.
  __device__ __forceinline__ void load_guarded(const float* __restrict__ x, int ld, int k0,
                                               int rem_r, int K) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int r = KC ? r_t + i * STEP : r_t, k = KC ? k0 + k_t : k0 + k_t + i * STEP;
      const bool row_in = KC ? r < rem_r : k < K;  // the fixed coordinate of the vector
      const int lim = KC ? K - k : rem_r - r;      // elements left along the vector
      if (row_in && lim >= V) {
        reg[i] = *reinterpret_cast<const F4*>(x + offset(r, k, ld));
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j)
          reg[i].v[j] = row_in && j < lim ? x[offset(KC ? r : r + j, KC ? k + j : k, ld)] : 0.f;
      }
    }
  }

  __device__ __forceinline__ void store(float* __restrict__ xs) const {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      if (KC) {
#pragma unroll
        for (int j = 0; j < V; ++j) xs[(k_t + j) * kLD + r_t + i * STEP] = reg[i].v[j];
      } else {
        *reinterpret_cast<F4*>(&xs[(k_t + i * STEP) * kLD + r_t]) = reg[i];
      }
    }
  }
};

struct StaticArgs {
  GemmProblem p;     // pointers, batch offsets, bias
  int M, N, K;       // < kMaxExtent
  int a_ld, b_ld;    // the non-unit stride of A and B
  int c_sm, c_sn;    // C strides (C's span < kMaxExtent)
  bool c_vec;        // C rows are unit-stride and 16-byte aligned
  int64_t z0;        // first batch item of this launch
};

template <bool A_KC, bool B_KC, int BK, int MINB>
__global__ void __launch_bounds__(kThreads, MINB)
    gemm_warptile_static_kernel(const __grid_constant__ StaticArgs args) {
  __shared__ __align__(16) float As[2][BK * kLD];
  __shared__ __align__(16) float Bs[2][BK * kLD];

  const GemmProblem& p = args.p;
  const int M = args.M, N = args.N, K = args.K;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int warp_m = warp / (kBN / kWN) * kWM, warp_n = warp % (kBN / kWN) * kWN;
  const int t_m = lane / (kWSubN / kTN) * kTM, t_n = lane % (kWSubN / kTN) * kTN;

  int64_t tm, tn;
  mm::tile_coords(blockIdx.x, ceil_div(M, kBM), ceil_div(N, kBN), tm, tn);
  const int m0 = static_cast<int>(tm) * kBM, n0 = static_cast<int>(tn) * kBN;
  const int rem_m = M - m0, rem_n = N - n0;
  // Uniform per block: interior tiles never test a bound on M or N.
  const bool interior = rem_m >= kBM && rem_n >= kBN;
  const int nk = ceil_div(K, BK);

  StaticLoader<A_KC, BK> la(tid);
  StaticLoader<B_KC, BK> lb(tid);

  {
    // One batch item per block (blockIdx.z + z0; the host launches once per
    // 65535 items): a grid-stride batch loop as in tiled.cuh keeps ~10 more
    // values live and spills 264-324 bytes at 128 registers.
    int64_t off[3];
    mm::batch_offsets(p.batch_oc, args.z0 + blockIdx.z, off);
    // 64-bit tile origins once per batch item; 32-bit offsets from here on.
    const float* a = static_cast<const float*>(p.a) + off[1] +
                     static_cast<int64_t>(m0) * (A_KC ? args.a_ld : 1);
    const float* b = static_cast<const float*>(p.b) + off[2] +
                     static_cast<int64_t>(n0) * (B_KC ? args.b_ld : 1);

    float acc[kWMIter * kTM][kWNIter * kTN];
#pragma unroll
    for (int i = 0; i < kWMIter * kTM; ++i)
#pragma unroll
      for (int j = 0; j < kWNIter * kTN; ++j) acc[i][j] = 0.f;

    // Slice k0 into registers: unguarded when the tile is interior and the
    // slice is whole (every slice but a partial last one).
    auto fetch = [&](int k0) {
      if (interior && k0 + BK <= K) {
        la.load_full(a, args.a_ld, k0);
        lb.load_full(b, args.b_ld, k0);
      } else {
        la.load_guarded(a, args.a_ld, k0, rem_m, K);
        lb.load_guarded(b, args.b_ld, k0, rem_n, K);
      }
    };

    fetch(0);
    la.store(As[0]);
    lb.store(Bs[0]);
    __syncthreads();
    for (int t = 0; t < nk; ++t) {
      const int buf = t & 1;
      if (t + 1 < nk) fetch((t + 1) * BK);  // in flight during this slice's FMAs

      const float* as = As[buf];
      const float* bs = Bs[buf];
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        F4 af[kWMIter], bf[kWNIter];
#pragma unroll
        for (int wi = 0; wi < kWMIter; ++wi)
          af[wi] = *reinterpret_cast<const F4*>(&as[kk * kLD + warp_m + wi * kWSubM + t_m]);
#pragma unroll
        for (int wj = 0; wj < kWNIter; ++wj)
          bf[wj] = *reinterpret_cast<const F4*>(&bs[kk * kLD + warp_n + wj * kWSubN + t_n]);
#pragma unroll
        for (int i = 0; i < kWMIter * kTM; ++i)
#pragma unroll
          for (int j = 0; j < kWNIter * kTN; ++j)
            acc[i][j] = fmaf(af[i / kTM].v[i % kTM], bf[j / kTN].v[j % kTN], acc[i][j]);
      }

      if (t + 1 < nk) {  // the other buffer: nobody reads it since the last barrier
        la.store(As[buf ^ 1]);
        lb.store(Bs[buf ^ 1]);
      }
      __syncthreads();  // slice t+1 visible, buffer t free
    }

    // Epilogue: + bias[n], 16-byte stores where C rows allow, bounds-checked on edges.
    float* c = static_cast<float*>(p.c) + off[0] + static_cast<int64_t>(m0) * args.c_sm +
               static_cast<int64_t>(n0) * args.c_sn;
    const float* bias = static_cast<const float*>(p.bias);
#pragma unroll
    for (int wj = 0; wj < kWNIter; ++wj) {
      const int n = warp_n + wj * kWSubN + t_n;  // within the tile
      F4 bv;
#pragma unroll
      for (int j = 0; j < kTN; ++j)
        bv.v[j] = bias != nullptr && n + j < rem_n ? bias[n0 + n + j] : 0.f;
#pragma unroll
      for (int wi = 0; wi < kWMIter; ++wi)
#pragma unroll
        for (int i = 0; i < kTM; ++i) {
          const int m = warp_m + wi * kWSubM + t_m + i;
          if (m >= rem_m) continue;
          F4 out;
#pragma unroll
          for (int j = 0; j < kTN; ++j) out.v[j] = acc[wi * kTM + i][wj * kTN + j] + bv.v[j];
          if (args.c_vec && n + kTN <= rem_n) {
            *reinterpret_cast<F4*>(c + m * args.c_sm + n) = out;
          } else {
#pragma unroll
            for (int j = 0; j < kTN; ++j)
              if (n + j < rem_n) c[m * args.c_sm + (n + j) * args.c_sn] = out.v[j];
          }
        }
    }
  }
}

// Default BK 16 at one block per SM: halving the barriers per FMA beats
// doubling the resident warps (docs/matmul-worklog.md, step 4b).
template <bool A_KC, bool B_KC, int BK = 16, int MINB = 1>
void launch(StaticArgs args) {
  dim3 grid = mm::gemm_grid(args.p, kBM, kBN);
  for (args.z0 = 0; args.z0 < args.p.batch; args.z0 += 65535) {  // gridDim.z <= 65535
    grid.z = static_cast<unsigned>(std::min<int64_t>(args.p.batch - args.z0, 65535));
    gemm_warptile_static_kernel<A_KC, B_KC, BK, MINB>
        <<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(args);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// Elements spanned by one batch item of an R x K operand (strides >= 0).
int64_t span(int64_t R, int64_t K, int64_t sr, int64_t sk) {
  return (R - 1) * sr + (K - 1) * sk + 1;
}

// Tuning table (CUOPS_MATMUL_CONFIG="warptile_static=<i>", see
// mm::tuning_config), instantiated for A K-contiguous / B N-contiguous only
// (other layouts keep the default); entries 1.. only in a CUOPS_EXPLORE build:
//   0: BK 16, 1 block/SM (the default; 149 registers; BK 16 at 2 blocks/SM
//      spills ~200 bytes on sm_90)
//   1: BK 8, 1 block/SM (no register cap)
//   2: BK 8, 2 blocks/SM (125-128 registers, no spills)
#ifdef CUOPS_EXPLORE
constexpr int kNumStaticTune = 3;
#else
constexpr int kNumStaticTune = 1;
#endif

}  // namespace

int warptile_static_tuning_entries() { return kNumStaticTune; }

void gemm_warptile_static(const GemmProblem& p) {
  TORCH_CHECK_TYPE(p.dtype == at::kFloat, "cuops.matmul(warptile_static): unsupported dtype ",
                   p.dtype);
  const int cfg = mm::tuning_config("warptile_static");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumStaticTune, "CUOPS_MATMUL_CONFIG: warptile_static=", cfg,
                    " is out of range (0..", kNumStaticTune - 1, ")");
  constexpr int V = 4;
  const mm::LoadMode am = mm::operand_load_mode(p, 1, sizeof(float), V);
  const mm::LoadMode bm = mm::operand_load_mode(p, 2, sizeof(float), V);
  const bool vec_a = am == mm::kVecK || am == mm::kVecR, vec_b = bm == mm::kVecK || bm == mm::kVecR;
  const bool small = p.M < kMaxExtent && p.N < kMaxExtent && p.K < kMaxExtent &&
                     span(p.M, p.K, p.a_sm, p.a_sk) < kMaxExtent &&
                     span(p.N, p.K, p.b_sn, p.b_sk) < kMaxExtent &&
                     span(p.M, p.N, p.c_sm, p.c_sn) < kMaxExtent;
  if (!vec_a || !vec_b || !small) return gemm_warptile(p);  // the general loader

  const bool a_kc = am == mm::kVecK, b_kc = bm == mm::kVecK;
  StaticArgs args{p,
                  static_cast<int>(p.M),
                  static_cast<int>(p.N),
                  static_cast<int>(p.K),
                  static_cast<int>(a_kc ? p.a_sm : p.a_sk),
                  static_cast<int>(b_kc ? p.b_sn : p.b_sk),
                  static_cast<int>(p.c_sm),
                  static_cast<int>(p.c_sn),
                  p.c_sn == 1 && mm::elem_alignment(p.c, sizeof(float), {p.M == 1 ? 0 : p.c_sm},
                                                    p.batch_oc, 0) >= kTN,
                  0};
  if (a_kc && !b_kc) {  // a plain row-major a @ b
    switch (cfg) {
#ifdef CUOPS_EXPLORE
      case 1: return launch<true, false, 8, 1>(args);
      case 2: return launch<true, false, 8, 2>(args);
#endif
      default: return launch<true, false>(args);
    }
  }
  if (a_kc && b_kc) return launch<true, true>(args);    // B = W.mT (linear forward)
  if (!a_kc && !b_kc) return launch<false, false>(args);  // A = X.mT (weight gradient)
  return launch<false, true>(args);                     // A = X.mT, B = W.mT
}

}  // namespace cuops::cuda
