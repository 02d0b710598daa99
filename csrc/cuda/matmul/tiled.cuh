// The register-blocked tile kernel behind steps 3 (regblock) and 4 (warptile)
// of the matmul ladder. The two steps are configurations of one template:
//
//   block tile BM x BN, K slice BK      data reuse from shared memory
//   warp tile  WM x WN                  what one warp computes
//   WMITER x WNITER sub-tiles per warp  each of (WM/WMITER) x (WN/WNITER)
//   thread tile TM x TN per sub-tile    outputs kept in registers
//   DB                                  double-buffered shared memory
//   MINB                                blocks per SM the register budget must allow
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
          bool DB_, int MINB_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_;
  static constexpr int WMITER = WMITER_, WNITER = WNITER_, TM = TM_, TN = TN_;
  static constexpr bool DB = DB_;
  // __launch_bounds__ minimum blocks per SM: caps registers per thread at
  // 64K / (THREADS * MINB). Without it ptxas hoists the shared loads of all
  // BK steps and takes every register the block size allows (1 block/SM).
  static constexpr int MINB = MINB_;
  static constexpr int WSUBM = WM / WMITER, WSUBN = WN / WNITER;
  static constexpr int THREADS = (BM / WM) * (BN / WN) * 32;
  static_assert(BM % WM == 0 && BN % WN == 0, "warp tiles must cover the block tile");
  static_assert((WSUBM / TM) * (WSUBN / TN) == 32, "a sub-tile must hold one warp of thread tiles");
};

constexpr int kPad = 4;  // elements of row padding in the shared tiles

// Moves one BK x BR tile of operand X[r][k] from global memory to shared
// memory Xs[k][r] (row length BR + kPad), through registers.
//
// Every mode gives a thread a fixed starting point (r_t, k_t) in the tile and
// a fixed step (dr, dk) between its loads (along r or along k, never both),
// so a load is one 64-bit base address plus i * step: few live registers,
// whatever the mode (the mode is a runtime value; one kernel serves them all).
template <typename T, int BR, int BK, int THREADS>
struct TileLoader {
  using S = acc_t<T>;
  static constexpr int V = kVec16<T>;                   // elements per 16-byte vector
  static constexpr int PER_THREAD = BR * BK / THREADS;  // elements each thread moves
  static constexpr int NV = PER_THREAD / V;
  static_assert(PER_THREAD % V == 0 && BR % V == 0 && BK % V == 0, "tile must split in vectors");
  static_assert(THREADS % BR == 0 && THREADS % BK == 0 && THREADS % (BR / V) == 0 &&
                    THREADS % (BK / V) == 0,
                "each thread must keep one position along the non-stepped dimension");
  static constexpr int SV = 16 / sizeof(S);  // S elements per 16-byte shared store
  static_assert(V % SV == 0, "");

  alignas(16) T reg[PER_THREAD];  // 16-byte aligned: vectors are moved in and out whole
  int mode, r_t, k_t, dr, dk;

  __device__ __forceinline__ TileLoader(int mode_, int tid) : mode(mode_) {
    dr = dk = 0;
    switch (mode) {
      case kVecR:  // consecutive threads: consecutive vectors along r
        r_t = tid % (BR / V) * V, k_t = tid / (BR / V), dk = THREADS / (BR / V);
        break;
      case kVecK:  // consecutive threads: consecutive vectors along k
        k_t = tid % (BK / V) * V, r_t = tid / (BK / V), dr = THREADS / (BK / V);
        break;
      case kGenericKFast:
        k_t = tid % BK, r_t = tid / BK, dr = THREADS / BK;
        break;
      default:  // kGeneric
        r_t = tid % BR, k_t = tid / BR, dk = THREADS / BR;
    }
  }

  // x: the operand's batch item; R, K: its extents; (r0, k0): the tile origin.
  __device__ __forceinline__ void load(const T* __restrict__ x, int64_t sr, int64_t sk, int64_t R,
                                       int64_t K, int64_t r0, int64_t k0) {
    const int64_t rb = r0 + r_t, kb = k0 + k_t;
    const T* base = x + rb * sr + kb * sk;
    const int64_t step = dr * sr + dk * sk;
    if (mode == kVecR || mode == kVecK) {
      using VT = Vec<T, V>;
      const bool along_r = mode == kVecR;
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        const int64_t rg = rb + i * dr, kg = kb + i * dk;
        const T* src = base + i * step;
        if (along_r ? (kg < K && rg + V <= R) : (rg < R && kg + V <= K)) {
          *reinterpret_cast<VT*>(&reg[i * V]) = *reinterpret_cast<const VT*>(src);
        } else {  // a tail vector: element by element, zero outside
#pragma unroll
          for (int j = 0; j < V; ++j) {
            const bool in = along_r ? (kg < K && rg + j < R) : (rg < R && kg + j < K);
            reg[i * V + j] = in ? src[along_r ? j * sr : j * sk] : T(0);
          }
        }
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; ++i) {
        const bool in = rb + i * dr < R && kb + i * dk < K;
        reg[i] = in ? base[i * step] : T(0);
      }
    }
  }

  __device__ __forceinline__ void store(S* __restrict__ xs) const {
    constexpr int LD = BR + kPad;
    if (mode == kVecR) {  // a run along r: 16-byte shared stores
      using SVT = Vec<S, SV>;
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        S* dst = &xs[(k_t + i * dk) * LD + r_t];
#pragma unroll
        for (int j = 0; j < V; j += SV) {
          SVT v;
#pragma unroll
          for (int e = 0; e < SV; ++e) v.v[e] = static_cast<S>(reg[i * V + j + e]);
          *reinterpret_cast<SVT*>(dst + j) = v;
        }
      }
    } else if (mode == kVecK) {  // a run along k: transposed, one store per element
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        S* dst = &xs[k_t * LD + r_t + i * dr];
#pragma unroll
        for (int j = 0; j < V; ++j) dst[j * LD] = static_cast<S>(reg[i * V + j]);
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; ++i)
        xs[(k_t + i * dk) * LD + r_t + i * dr] = static_cast<S>(reg[i]);
    }
  }
};

struct TiledArgs {
  GemmProblem p;
  int a_mode, b_mode;  // LoadMode of A (r = m) and B (r = n)
  bool c_vec;          // C rows may be stored TN elements at a time
};

template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MINB) gemm_tiled_kernel(const __grid_constant__ TiledArgs args) {
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

  TileLoader<T, BM, BK, THREADS> la(args.a_mode, tid);
  TileLoader<T, BN, BK, THREADS> lb(args.b_mode, tid);

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t off[3];
    batch_offsets(p.batch_oc, z, off);
    const T* a = static_cast<const T*>(p.a) + off[1];
    const T* b = static_cast<const T*>(p.b) + off[2];

    S acc[WMITER * TM][WNITER * TN];
#pragma unroll
    for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
      for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = 0;

    if (Cfg::DB) {  // prologue: slice 0 into buffer 0
      la.load(a, p.a_sm, p.a_sk, p.M, p.K, m0, 0);
      lb.load(b, p.b_sn, p.b_sk, p.N, p.K, n0, 0);
      la.store(As[0]);
      lb.store(Bs[0]);
      __syncthreads();
    }
    for (int64_t t = 0; t < nk; ++t) {
      const int buf = Cfg::DB ? static_cast<int>(t & 1) : 0;
      if (!Cfg::DB) {
        la.load(a, p.a_sm, p.a_sk, p.M, p.K, m0, t * BK);
        lb.load(b, p.b_sn, p.b_sk, p.N, p.K, n0, t * BK);
        la.store(As[0]);
        lb.store(Bs[0]);
        __syncthreads();
      } else if (t + 1 < nk) {  // fetch slice t+1 now; its latency hides behind the FMAs
        la.load(a, p.a_sm, p.a_sk, p.M, p.K, m0, (t + 1) * BK);
        lb.load(b, p.b_sn, p.b_sk, p.N, p.K, n0, (t + 1) * BK);
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
          la.store(As[buf ^ 1]);
          lb.store(Bs[buf ^ 1]);
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
