// Helpers shared by the steps of the CUDA matmul ladder (csrc/cuda/matmul/*.cu):
// the output-tile order, the batch loop, the bias epilogue, and the host-side
// layout analysis that decides when 16-byte vector accesses are legal.
#pragma once

#include <climits>
#include <string>

#include "cuda/cuda_utils.cuh"
#include "cuda/matmul/kernels.h"

namespace cuops::cuda::mm {

// ---------------------------------------------------------------------------
// Grid. Output tiles are numbered along blockIdx.x only (2^31 - 1 blocks:
// grid.y/z would cap M or N at 65535 tiles). Batch items use blockIdx.z in a
// grid-stride loop, so any batch count works with gridDim.z <= 65535.
// ---------------------------------------------------------------------------

inline dim3 gemm_grid(const GemmProblem& p, int64_t bm, int64_t bn) {
  const int64_t tiles = ceil_div(p.M, bm) * ceil_div(p.N, bn);
  TORCH_CHECK(tiles <= INT_MAX, "cuops.matmul: output of ", p.M, " x ", p.N,
              " is too large for one launch");
  return dim3(static_cast<unsigned>(tiles), 1,
              static_cast<unsigned>(std::min<int64_t>(p.batch, 65535)));
}

// Tile (tm, tn) of linear block id `bid`, in groups of kGroupM tile rows:
// consecutive blocks sweep a narrow band of A against all of B, so the A and
// B tiles that are live at one time fit in L2 (fewer DRAM reads than a plain
// row-major order on large problems).
constexpr int64_t kGroupM = 8;
__device__ __forceinline__ void tile_coords(int64_t bid, int64_t tiles_m, int64_t tiles_n,
                                            int64_t& tm, int64_t& tn) {
  const int64_t per_group = kGroupM * tiles_n;
  const int64_t first_m = bid / per_group * kGroupM;
  const int64_t rows = min(tiles_m - first_m, kGroupM);
  const int64_t in = bid % per_group;
  tm = first_m + in % rows;
  tn = in / rows;
}

// Element offsets {C, A, B} of batch item z. One (merged) batch dim is the
// common case: a multiply, not the calculator's 64-bit divisions.
__device__ __forceinline__ void batch_offsets(const OffsetCalculator<3>& oc, int64_t z,
                                              int64_t (&off)[3]) {
  if (oc.ndim <= 1) {
#pragma unroll
    for (int a = 0; a < 3; ++a) off[a] = oc.ndim == 0 ? 0 : z * oc.strides[a][0];
  } else {
    oc.get(z, off);
  }
}

// C = acc (+ bias[n]), rounded to T once.
template <typename T>
__device__ __forceinline__ T epilogue(acc_t<T> acc, const T* __restrict__ bias, int64_t n) {
  if (bias != nullptr) acc += static_cast<acc_t<T>>(bias[n]);
  return static_cast<T>(acc);
}

// Compensated (Kahan) running sum: the rounding error of adding n terms
// stays O(u) instead of growing with n. Deterministic (no reassociation:
// nvcc does not reorder floating-point adds without fast-math).
template <typename A>
struct Kahan {
  A s = A(0), c = A(0);  // sum, and minus the low-order part it lost
  __device__ __forceinline__ void add(A x) {
    const A y = x - c;
    const A t = s + y;
    c = (t - s) - y;
    s = t;
  }
  __device__ __forceinline__ A value() const { return s - c; }
};

// ---------------------------------------------------------------------------
// Host-side layout analysis for vectorized access.
// ---------------------------------------------------------------------------

// Largest power-of-two element count (<= 16) that divides the element
// address of `ptr`, every stride in `strides`, and every batch stride of
// operand `arg` (0 = C, 1 = A, 2 = B) in the batch offset calculator.
inline int elem_alignment(const void* ptr, int64_t elem_size, std::initializer_list<int64_t> strides,
                          const OffsetCalculator<3>& oc, int arg) {
  const auto addr = reinterpret_cast<uintptr_t>(ptr);
  if (addr % elem_size != 0) return 1;
  int64_t g = static_cast<int64_t>(addr / elem_size) | 16;
  for (int64_t s : strides) g |= s;
  for (int d = 0; d < oc.ndim; ++d) g |= oc.strides[arg][d];
  return static_cast<int>(g & -g);  // lowest set bit
}

// How a tile loader reads one operand X[r][k] (r = m for A, n for B).
enum LoadMode : int {
  kGeneric = 0,       // element loads, any strides; consecutive threads walk r
  kGenericKFast = 1,  // element loads; consecutive threads walk k (k is the dense dim)
  kVecR = 2,          // 16-byte loads along r (X is unit-stride in r)
  kVecK = 3,          // 16-byte loads along k (X is unit-stride in k)
};

// The loader mode for operand X (extent R x K, element strides sr, sk) when a
// 16-byte vector holds `vec` elements. A vector along r needs sr == 1 and
// every row start aligned (pointer, sk, batch strides: `align_r`); along k,
// sk == 1 and `align_k` (pointer, sr, batch strides).
inline LoadMode pick_load_mode(int64_t sr, int64_t sk, int align_r, int align_k, int vec) {
  if (sr == 1 && align_r >= vec) return kVecR;
  if (sk == 1 && align_k >= vec) return kVecK;
  return (sk == 1 || (sk != 0 && sk < sr)) ? kGenericKFast : kGeneric;
}

// pick_load_mode for operand `arg` (1 = A, 2 = B) of p, as an (R x K) matrix.
inline LoadMode operand_load_mode(const GemmProblem& p, int arg, int64_t elem_size, int vec) {
  const void* x = arg == 1 ? p.a : p.b;
  const int64_t R = arg == 1 ? p.M : p.N;
  const int64_t sr = arg == 1 ? p.a_sm : p.b_sn, sk = arg == 1 ? p.a_sk : p.b_sk;
  // A stride of a size-1 dim is never multiplied by a nonzero index.
  const int align_r = elem_alignment(x, elem_size, {p.K == 1 ? 0 : sk}, p.batch_oc, arg);
  const int align_k = elem_alignment(x, elem_size, {R == 1 ? 0 : sr}, p.batch_oc, arg);
  return pick_load_mode(sr, sk, align_r, align_k, vec);
}

// Tuning knob CUOPS_MATMUL_CONFIG="mma_sync=2,warptile=1": entry 2 of
// mma_sync's configuration table, entry 1 of warptile's (tables in
// mma_sync/explore.cuh, warptile.cu, warptile_static.cu; 0 = the default, the
// only entry unless built with CUOPS_EXPLORE). See cuda::tuning_config.
inline int tuning_config(const char* variant) {
  static const std::string env = getenv_string("CUOPS_MATMUL_CONFIG");
  return cuda::tuning_config(env, "CUOPS_MATMUL_CONFIG", variant);
}

}  // namespace cuops::cuda::mm
