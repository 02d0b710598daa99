// Host side shared by the wgmma GEMMs (wgmma.cu: fp16/bf16; wgmma_3xtf32.cu:
// fp32): which operand layouts their tensor maps can describe, and the
// kernel parameters of one problem.
#pragma once

#include <algorithm>

#include "cuda/matmul/tma.cuh"
#include "cuda/matmul/wgmma/config.cuh"

namespace cuops::cuda::wgmma {

// Each operand K-major (unit stride along K, rows of the other stride) or
// M/N-major (the reverse), as a tensor map of T with 128-byte boxes: the
// layouts of p, or false where an operand is neither (or the problem is out
// of a map's reach). `bk`: the kernel's k tile.
//
// A batch (one merged batch dim) is one tall map per operand: product z's
// rows follow product z-1's at exactly rows * ld elements. Rows a tile reads
// past its product's M or N belong to the next product (or are zero-filled
// past the last) and feed only rows/columns of C that are not stored; k rows
// past K would be multiplied, so a stacked M/N-major operand (rows = K) needs
// K to be whole k tiles. The callers require M, N >= 64 and K >= 8, so no
// size-1 dim hides its stride; a map's rows do not overlap (the row stride
// spans the row).
template <typename T>
bool map_layouts(const GemmProblem& p, int bk, bool& a_mn, bool& b_mn) {
  int64_t a_sz = 0, b_sz = 0;
  if (p.batch > 1) {
    if (p.batch_oc.ndim != 1) return false;
    a_sz = p.batch_oc.strides[1][0];
    b_sz = p.batch_oc.strides[2][0];
  }
  const bool whole_k = p.batch == 1 || p.K % bk == 0;
  // TMA box origins are int32 element coordinates (a tile may start 192
  // past the last row or column).
  const int64_t lim = int64_t{INT32_MAX} - 512;
  if (p.M > lim || p.N > lim || p.K > lim || p.batch * std::max({p.M, p.N, p.K}) > lim)
    return false;
  if (!aligned16(p.a) || !aligned16(p.b)) return false;
  const auto ok = [](int64_t ld) { return tma::stride_ok<sizeof(T)>(ld); };
  const bool one = p.batch == 1;
  const bool a_k = p.a_sk == 1 && ok(p.a_sm) && p.a_sm >= p.K && (one || a_sz == p.M * p.a_sm);
  const bool a_m = p.a_sm == 1 && ok(p.a_sk) && p.a_sk >= p.M &&
                   (one || (a_sz == p.K * p.a_sk && whole_k));
  const bool b_k = p.b_sk == 1 && ok(p.b_sn) && p.b_sn >= p.K && (one || b_sz == p.N * p.b_sn);
  const bool b_n = p.b_sn == 1 && ok(p.b_sk) && p.b_sk >= p.N &&
                   (one || (b_sz == p.K * p.b_sk && whole_k));
  if (!(a_k || a_m) || !(b_k || b_n)) return false;
  a_mn = !a_k;
  b_mn = !b_k;
  return true;
}

// The kernel parameters of p for tile C (all but c_rows16, left false): a
// K-major operand is a map of rows = M/N, columns = K with BM/BN-row boxes;
// an M/N-major one rows = K, columns = M/N with BK-row boxes (pipeline.cuh);
// a batch is stacked along the rows (map_layouts checked that it can be).
template <typename T, class C, bool A_MN, bool B_MN>
Params gemm_params(const GemmProblem& p) {
  Params prm{};
  prm.batch = p.batch;
  prm.a_zrows = A_MN ? p.K : p.M;
  prm.b_zrows = B_MN ? p.K : p.N;
  prm.c_sz = p.batch > 1 ? p.batch_oc.strides[0][0] : 0;
  prm.tma_a = A_MN ? tma::make_map<T>(p.a, p.batch * p.K, p.M, p.a_sk, C::BK)
                   : tma::make_map<T>(p.a, p.batch * p.M, p.K, p.a_sm, C::BM);
  prm.tma_b = B_MN ? tma::make_map<T>(p.b, p.batch * p.K, p.N, p.b_sk, C::BK)
                   : tma::make_map<T>(p.b, p.batch * p.N, p.K, p.b_sn, C::BN);
  prm.M = p.M;
  prm.N = p.N;
  prm.K = p.K;
  prm.c = p.c;
  prm.bias = p.bias;
  prm.c_sm = p.c_sm;
  prm.c_sn = p.c_sn;
  prm.tiles_m = ceil_div<int64_t>(p.M, C::BM);
  prm.tiles_n = ceil_div<int64_t>(p.N, C::BN);
  prm.ktiles = static_cast<int>(ceil_div<int64_t>(p.K, C::BK));
  // Pairs of columns stored as one 2-element access: aligned to its size.
  prm.c_pairs = p.c_sn == 1 && p.c_sm % 2 == 0 && prm.c_sz % 2 == 0 &&
                reinterpret_cast<uintptr_t>(p.c) % (2 * sizeof(T)) == 0;
  return prm;
}

// One persistent block per SM (at most one per output tile), on the current
// stream; dynamic shared memory above 48 KB opted into per kernel.
template <class C, class Kernel>
void launch_persistent(Kernel kernel, const Params& prm) {
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const int64_t tiles = prm.tiles_m * prm.tiles_n * prm.batch;
  const auto grid = static_cast<unsigned>(std::min<int64_t>(tiles, num_sms()));
  kernel<<<grid, C::kThreads, C::kDynSmem, at::cuda::getCurrentCUDAStream()>>>(prm);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace cuops::cuda::wgmma
