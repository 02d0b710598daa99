// The register-blocked tile kernel behind steps 3 (regblock) and 4 (warptile)
// of the matmul ladder. The two steps are configurations of one template:
//
//   block tile BM x BN, K slice BK      data reuse from shared memory
//   warp tile  WM x WN                  what one warp computes
//   WMITER x WNITER sub-tiles per warp  each of (WM/WMITER) x (WN/WNITER)
//   thread tile TM x TN per sub-tile    outputs kept in registers
//   DB                                  double-buffered shared memory
//
// Per K step a thread loads WMITER*TM values of A and WNITER*TN of B from
// shared memory (16-byte loads) and does WMITER*TM*WNITER*TN FMAs: register
// blocking turns 2 shared loads per FMA (step 2) into ~(TM+TN)/(TM*TN).
//
// Shared memory holds the tiles in the accumulation type S (fp16/bf16 are
// widened once, at the store), both as Xs[k][r] (r = m for A, n for B), so
// the compute loop reads contiguous runs of m and n. A row-major A (unit
// stride in k) is therefore stored transposed; the row padding spreads those
// stores over the banks.
//
// Global loads go through registers (a "tile loader"): 16-byte vectors along
// whichever dimension is unit-stride when the host proved alignment
// (mm::pick_load_mode), element loads otherwise. Tails (M, N, K not
// multiples of the tile) load zeros, so the FMA loop never checks bounds; the
// epilogue checks every store.
//
// With DB, the next K slice is fetched into registers while the current one is
// computed, then stored into the other shared buffer: one barrier per slice,
// and global latency hidden behind the FMAs.
#pragma once

#include "cuda/matmul/common.cuh"

namespace cuops::cuda::mm {

template <int BM_, int BN_, int BK_, int WM_, int WN_, int WMITER_, int WNITER_, int TM_, int TN_,
          bool DB_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_;
  static constexpr int WMITER = WMITER_, WNITER = WNITER_, TM = TM_, TN = TN_;
  static constexpr bool DB = DB_;
  static constexpr int WSUBM = WM / WMITER, WSUBN = WN / WNITER;
  static constexpr int THREADS = (BM / WM) * (BN / WN) * 32;
  static_assert(BM % WM == 0 && BN % WN == 0, "warp tiles must cover the block tile");
  static_assert((WSUBM / TM) * (WSUBN / TN) == 32, "a sub-tile must hold one warp of thread tiles");
};

constexpr int kPad = 4;  // elements of row padding in the shared tiles

// Moves one BK x BR tile of operand X[r][k] from global memory to shared
// memory Xs[k][r] (row length BR + kPad), through registers.
template <typename T, int BR, int BK, int THREADS>
struct TileLoader {
  using S = acc_t<T>;
  static constexpr int V = kVec16<T>;                 // elements per 16-byte vector
  static constexpr int PER_THREAD = BR * BK / THREADS;  // elements each thread moves
  static constexpr int NV = PER_THREAD / V;
  static_assert(PER_THREAD % V == 0 && BR % V == 0 && BK % V == 0, "tile must split in vectors");
  static constexpr int SV = 16 / sizeof(S);  // S elements per 16-byte shared store
  static_assert(V % SV == 0, "");

  alignas(16) T reg[PER_THREAD];  // 16-byte aligned: vectors are moved in and out whole

  // x: the operand's batch item; R, K: its extents; (r0, k0): the tile origin.
  __device__ __forceinline__ void load(const T* __restrict__ x, int64_t sr, int64_t sk, int64_t R,
                                       int64_t K, int64_t r0, int64_t k0, int mode, int tid) {
    if (mode == kVecR || mode == kVecK) {
      using VT = Vec<T, V>;
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        const int v = tid + i * THREADS;
        int r, k;
        vec_coords(mode, v, r, k);
        const int64_t rg = r0 + r, kg = k0 + k;
        const bool full = mode == kVecR ? (kg < K && rg + V <= R) : (rg < R && kg + V <= K);
        if (full) {
          *reinterpret_cast<VT*>(&reg[i * V]) =
              *reinterpret_cast<const VT*>(x + rg * sr + kg * sk);
        } else {  // a tail vector: element by element, zero outside
#pragma unroll
          for (int j = 0; j < V; ++j) {
            const int64_t rr = mode == kVecR ? rg + j : rg, kk = mode == kVecR ? kg : kg + j;
            reg[i * V + j] = rr < R && kk < K ? x[rr * sr + kk * sk] : T(0);
          }
        }
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; ++i) {
        int r, k;
        elem_coords(mode, tid + i * THREADS, r, k);
        const int64_t rg = r0 + r, kg = k0 + k;
        reg[i] = rg < R && kg < K ? x[rg * sr + kg * sk] : T(0);
      }
    }
  }

  __device__ __forceinline__ void store(S* __restrict__ xs, int mode, int tid) const {
    constexpr int LD = BR + kPad;
    if (mode == kVecR) {  // a run along r: 16-byte shared stores
      using SVT = Vec<S, SV>;
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        int r, k;
        vec_coords(mode, tid + i * THREADS, r, k);
#pragma unroll
        for (int j = 0; j < V; j += SV) {
          SVT s;
#pragma unroll
          for (int e = 0; e < SV; ++e) s.v[e] = static_cast<S>(reg[i * V + j + e]);
          *reinterpret_cast<SVT*>(&xs[k * LD + r + j]) = s;
        }
      }
    } else if (mode == kVecK) {  // a run along k: transposed, one store per element
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        int r, k;
        vec_coords(mode, tid + i * THREADS, r, k);
#pragma unroll
        for (int j = 0; j < V; ++j) xs[(k + j) * LD + r] = static_cast<S>(reg[i * V + j]);
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; ++i) {
        int r, k;
        elem_coords(mode, tid + i * THREADS, r, k);
        xs[k * LD + r] = static_cast<S>(reg[i]);
      }
    }
  }

 private:
  // Vector v of the tile: consecutive v walk the unit-stride dimension.
  __device__ __forceinline__ static void vec_coords(int mode, int v, int& r, int& k) {
    if (mode == kVecR) {
      k = v / (BR / V);
      r = v % (BR / V) * V;
    } else {
      r = v / (BK / V);
      k = v % (BK / V) * V;
    }
  }
  __device__ __forceinline__ static void elem_coords(int mode, int e, int& r, int& k) {
    if (mode == kGenericKFast) {
      r = e / BK;
      k = e % BK;
    } else {
      k = e / BR;
      r = e % BR;
    }
  }
};

struct TiledArgs {
  GemmProblem p;
  int a_mode, b_mode;  // LoadMode of A (r = m) and B (r = n)
  bool c_vec;          // C rows may be stored TN elements at a time
};

template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::THREADS) gemm_tiled_kernel(const TiledArgs args) {
  using S = acc_t<T>;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int WMITER = Cfg::WMITER, WNITER = Cfg::WNITER, THREADS = Cfg::THREADS;
  constexpr int NBUF = Cfg::DB ? 2 : 1;
  constexpr int LDA = BM + kPad, LDB = BN + kPad;
  constexpr int SV = 16 / sizeof(S);
  static_assert(TM % SV == 0 && TN % SV == 0, "fragments are read as 16-byte vectors");
  using SVT = Vec<S, SV>;

  __shared__ __align__(16) S As[NBUF][BK * LDA];
  __shared__ __align__(16) S Bs[NBUF][BK * LDB];

  const GemmProblem& p = args.p;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  // Where this thread's outputs sit inside the block tile.
  const int warp_m = warp / (BN / Cfg::WN) * Cfg::WM, warp_n = warp % (BN / Cfg::WN) * Cfg::WN;
  const int t_m = lane / (Cfg::WSUBN / TN) * TM, t_n = lane % (Cfg::WSUBN / TN) * TN;

  int64_t tm, tn;
  tile_coords(blockIdx.x, ceil_div<int64_t>(p.M, BM), ceil_div<int64_t>(p.N, BN), tm, tn);
  const int64_t m0 = tm * BM, n0 = tn * BN;
  const int64_t nk = ceil_div<int64_t>(p.K, BK);

  TileLoader<T, BM, BK, THREADS> la;
  TileLoader<T, BN, BK, THREADS> lb;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t off[3];
    p.batch_oc.get(z, off);
    const T* a = static_cast<const T*>(p.a) + off[1];
    const T* b = static_cast<const T*>(p.b) + off[2];

    S acc[WMITER * TM][WNITER * TN];
#pragma unroll
    for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
      for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = 0;

    if (Cfg::DB) {  // prologue: slice 0 into buffer 0
      la.load(a, p.a_sm, p.a_sk, p.M, p.K, m0, 0, args.a_mode, tid);
      lb.load(b, p.b_sn, p.b_sk, p.N, p.K, n0, 0, args.b_mode, tid);
      la.store(As[0], args.a_mode, tid);
      lb.store(Bs[0], args.b_mode, tid);
      __syncthreads();
    }
    for (int64_t t = 0; t < nk; ++t) {
      const int buf = Cfg::DB ? static_cast<int>(t & 1) : 0;
      if (!Cfg::DB) {
        la.load(a, p.a_sm, p.a_sk, p.M, p.K, m0, t * BK, args.a_mode, tid);
        lb.load(b, p.b_sn, p.b_sk, p.N, p.K, n0, t * BK, args.b_mode, tid);
        la.store(As[0], args.a_mode, tid);
        lb.store(Bs[0], args.b_mode, tid);
        __syncthreads();
      } else if (t + 1 < nk) {  // fetch slice t+1 now; its latency hides behind the FMAs
        la.load(a, p.a_sm, p.a_sk, p.M, p.K, m0, (t + 1) * BK, args.a_mode, tid);
        lb.load(b, p.b_sn, p.b_sk, p.N, p.K, n0, (t + 1) * BK, args.b_mode, tid);
      }

      const S* as = As[buf];
      const S* bs = Bs[buf];
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        alignas(16) S af[WMITER * TM];
        alignas(16) S bf[WNITER * TN];
#pragma unroll
        for (int wi = 0; wi < WMITER; ++wi)
#pragma unroll
          for (int i = 0; i < TM; i += SV)
            *reinterpret_cast<SVT*>(&af[wi * TM + i]) = *reinterpret_cast<const SVT*>(
                &as[kk * LDA + warp_m + wi * Cfg::WSUBM + t_m + i]);
#pragma unroll
        for (int wj = 0; wj < WNITER; ++wj)
#pragma unroll
          for (int j = 0; j < TN; j += SV)
            *reinterpret_cast<SVT*>(&bf[wj * TN + j]) = *reinterpret_cast<const SVT*>(
                &bs[kk * LDB + warp_n + wj * Cfg::WSUBN + t_n + j]);
#pragma unroll
        for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
          for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = fma(af[i], bf[j], acc[i][j]);
      }

      if (Cfg::DB) {
        if (t + 1 < nk) {  // the other buffer: nobody reads it since the last barrier
          la.store(As[buf ^ 1], args.a_mode, tid);
          lb.store(Bs[buf ^ 1], args.b_mode, tid);
        }
      }
      __syncthreads();  // DB: slice t+1 visible; single: buffer free for the next load
    }

    // Epilogue: bias, rounding to T, bounds-checked (vector stores when legal).
    T* c = static_cast<T*>(p.c) + off[0];
    const T* bias = static_cast<const T*>(p.bias);
#pragma unroll
    for (int wi = 0; wi < WMITER; ++wi)
#pragma unroll
      for (int i = 0; i < TM; ++i) {
        const int64_t m = m0 + warp_m + wi * Cfg::WSUBM + t_m + i;
        if (m >= p.M) continue;
#pragma unroll
        for (int wj = 0; wj < WNITER; ++wj) {
          const int64_t n = n0 + warp_n + wj * Cfg::WSUBN + t_n;
          const S* row = &acc[wi * TM + i][wj * TN];
          if (args.c_vec && n + TN <= p.N) {
            Vec<T, TN> out;
#pragma unroll
            for (int j = 0; j < TN; ++j) out.v[j] = epilogue(row[j], bias, n + j);
            *reinterpret_cast<Vec<T, TN>*>(c + m * p.c_sm + n) = out;
          } else {
#pragma unroll
            for (int j = 0; j < TN; ++j)
              if (n + j < p.N) c[m * p.c_sm + (n + j) * p.c_sn] = epilogue(row[j], bias, n + j);
          }
        }
      }
  }
}

// Host side: analyse the layouts, then launch.
template <typename T, typename Cfg>
void launch_tiled(const GemmProblem& p) {
  constexpr int V = kVec16<T>;
  TiledArgs args{p, operand_load_mode(p, 1, sizeof(T), V), operand_load_mode(p, 2, sizeof(T), V),
                 false};
  args.c_vec = p.c_sn == 1 &&
               elem_alignment(p.c, sizeof(T), {p.M == 1 ? 0 : p.c_sm}, p.batch_oc, 0) >= Cfg::TN;
  gemm_tiled_kernel<T, Cfg><<<gemm_grid(p, Cfg::BM, Cfg::BN), Cfg::THREADS, 0,
                              at::cuda::getCurrentCUDAStream()>>>(args);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace cuops::cuda::mm
