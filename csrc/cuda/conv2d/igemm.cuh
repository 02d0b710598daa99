// The SIMT implicit-GEMM engine shared by the forward, dgrad and wgrad steps
// (csrc/cuda/conv2d/implicit_gemm.cu, backward_implicit_gemm.cu).
//
// A convolution is a GEMM C[M][N] = sum_k A[M][k] B[k][N] whose operands are
// never materialized: a "problem" functor gathers A and B elements straight
// from the tensors (im2col on the fly, zero for padding) and scatters C:
//   forward  M = N*P*Q,  N = K/groups,    k = C/groups*R*S   A = x,  B = w
//   dgrad    M = N*H*W,  N = C/groups,    k = K/groups*R*S   A = dy, B = w
//   wgrad    M = K/groups, N = C/groups*R*S, k = N*P*Q       A = dy, B = x
// Groups are independent GEMMs (grid.z); wgrad also splits its long k range
// across grid.z (split-K) into partials.
//
// Tiling: a 256-thread block computes a 64x64 tile of C, 4x4 per thread, in
// steps of 16 along k. Each step the block stages A[64][16] and B[16][64] in
// shared memory (as acc_t, converted once on load), so every element fetched
// from global memory feeds 64 FMAs instead of 1 (direct: 2 loads per FMA).
// The next step's elements are gathered into registers while the current
// step computes (latency hiding without a second smem buffer).
//
// Coalescing: which of a tile's two dimensions consecutive threads walk when
// gathering is a template flag per operand (A_KFAST/B_KFAST), chosen from the
// layout so that a warp reads contiguous memory (e.g. along q for NCHW x,
// along c for channels_last x); the k order inside the functors (c,r,s vs
// r,s,c) is picked to match.
//
// Functor interface (all __device__ const):
//   struct Row; Row row(int64 g, int64 m);  A(m, k) = a(row, k)   (0 if m >= M)
//   struct Col; Col col(int64 g, int64 n);  B(k, n) = b(col, k)   (0 if n >= N)
//   void store(int64 g, int64 split, int64 m, int64 n, acc v)     (m < M, n < N)
// with members M, Ncols, Kdim, k_chunk (the k slice of one split).
#pragma once

#include "cuda/conv2d/common.cuh"

namespace cuops::cuda::igemm {

constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256;
constexpr int TM = 4, TN = 4;  // per-thread micro-tile (strided by 16 rows/cols)

template <typename T, typename Prob, bool A_KFAST, bool B_KFAST>
__global__ void __launch_bounds__(THREADS) igemm_kernel(Prob pr, int64_t g0, int64_t gcount) {
  using A = acc_t<T>;
  // +4 keeps rows 16-byte aligned and spreads the k-fast stores over banks.
  __shared__ A As[BK][BM + 4];
  __shared__ A Bs[BK][BN + 4];
  constexpr int LA = BM * BK / THREADS, LB = BN * BK / THREADS;  // 4 loads each per step
  const int tid = threadIdx.x;
  const int64_t g = g0 + blockIdx.z % gcount, split = blockIdx.z / gcount;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * BM, n0 = static_cast<int64_t>(blockIdx.y) * BN;
  const int64_t k_begin = split * pr.k_chunk;
  const int64_t k_end = k_begin + pr.k_chunk < pr.Kdim ? k_begin + pr.k_chunk : pr.Kdim;

  int a_m[LA], a_k[LA], b_n[LB], b_k[LB];
  typename Prob::Row rows[LA];
  typename Prob::Col cols[LB];
#pragma unroll
  for (int i = 0; i < LA; ++i) {
    a_k[i] = A_KFAST ? tid % BK : tid / BM + i * (THREADS / BM);
    a_m[i] = A_KFAST ? tid / BK + i * (THREADS / BK) : tid % BM;
    rows[i] = pr.row(g, m0 + a_m[i]);
  }
#pragma unroll
  for (int i = 0; i < LB; ++i) {
    b_k[i] = B_KFAST ? tid % BK : tid / BN + i * (THREADS / BN);
    b_n[i] = B_KFAST ? tid / BK + i * (THREADS / BK) : tid % BN;
    cols[i] = pr.col(g, n0 + b_n[i]);
  }

  A ra[LA], rb[LB];
  auto gather = [&](int64_t kt) {
#pragma unroll
    for (int i = 0; i < LA; ++i) {
      const int64_t kk = kt + a_k[i];
      ra[i] = kk < k_end ? pr.a(rows[i], kk) : A(0);
    }
#pragma unroll
    for (int i = 0; i < LB; ++i) {
      const int64_t kk = kt + b_k[i];
      rb[i] = kk < k_end ? pr.b(cols[i], kk) : A(0);
    }
  };

  const int tm = tid % 16, tn = tid / 16;
  A acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0;

  if (k_begin < k_end) gather(k_begin);
  for (int64_t kt = k_begin; kt < k_end; kt += BK) {
#pragma unroll
    for (int i = 0; i < LA; ++i) As[a_k[i]][a_m[i]] = ra[i];
#pragma unroll
    for (int i = 0; i < LB; ++i) Bs[b_k[i]][b_n[i]] = rb[i];
    __syncthreads();
    if (kt + BK < k_end) gather(kt + BK);  // in flight during the FMAs below
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      A fa[TM], fb[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) fa[i] = As[kk][tm + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) fb[j] = Bs[kk][tn + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += fa[i] * fb[j];
    }
    __syncthreads();  // the tile is overwritten by the next step
  }

  // Rows tm + 16*i: 16 consecutive threads store 16 consecutive m (coalesced
  // when m is the contiguous output dim, as for NCHW y).
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t m = m0 + tm + 16 * i;
    if (m >= pr.M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t n = n0 + tn + 16 * j;
      if (n < pr.Ncols) pr.store(g, split, m, n, acc[i][j]);
    }
  }
}

// Launches the engine over all groups (chunked so grid.z <= 65535) and
// `splits` k slices of `pr.k_chunk` each.
template <typename T, bool A_KFAST, bool B_KFAST, typename Prob>
void launch(const Prob& pr, int64_t groups, int64_t splits) {
  const int64_t mt = ceil_div<int64_t>(pr.M, BM), nt = ceil_div<int64_t>(pr.Ncols, BN);
  TORCH_CHECK(mt <= INT32_MAX && nt <= 65535, "cuops.conv2d: problem too large for implicit_gemm");
  TORCH_CHECK(splits <= 65535, "cuops.conv2d: too many k splits");
  const int64_t per = std::max<int64_t>(1, 65535 / splits);
  for (int64_t g0 = 0; g0 < groups; g0 += per) {
    const int64_t gc = std::min(per, groups - g0);
    const dim3 grid(static_cast<unsigned>(mt), static_cast<unsigned>(nt),
                    static_cast<unsigned>(gc * splits));
    igemm_kernel<T, Prob, A_KFAST, B_KFAST>
        <<<grid, THREADS, 0, at::cuda::getCurrentCUDAStream()>>>(pr, g0, gc);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// The (c, r, s) index of a filter tap in the GEMM's k (or n) order: c fastest
// when the gathered tensor is channels-last (contiguous along c), else s.
struct TapOrder {
  int64_t Cn = 1, R = 1, S = 1;
  bool c_fast = false;
  __device__ __forceinline__ void split(int64_t kk, int64_t& c, int64_t& r, int64_t& s) const {
    if (c_fast) {
      c = kk % Cn;
      const int64_t rs = kk / Cn;
      r = rs / S, s = rs - r * S;
    } else {
      const int64_t RS = R * S;
      c = kk / RS;
      const int64_t rs = kk - c * RS;
      r = rs / S, s = rs - r * S;
    }
  }
};

}  // namespace cuops::cuda::igemm
