// Host side of the bulk tensor copy engine (TMA, sm_90+), shared by the
// tensor-core steps that feed shared memory with it (mma_sync's kBigTma,
// wgmma, wgmma_3xtf32): encoding the 2-D tensor maps of the operands, and the
// stride rule a map imposes. The device side (mbarriers, box copies) is in
// csrc/cuda/mma_ptx.cuh.
#pragma once

#include <cuda.h>  // CUtensorMap, cuTensorMapEncodeTiled's types
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "cuda/cuda_utils.cuh"

namespace cuops::cuda::tma {

// A tensor map's row stride must be a positive multiple of 16 bytes below
// 2^40 bytes: for 16-bit elements a multiple of 8 elements in [8, 2^39), for
// fp32 a multiple of 4 in [4, 2^38).
template <int kElemBytes = 2>
inline bool stride_ok(int64_t ld) {
  constexpr int per16 = 16 / kElemBytes;
  return ld >= per16 && ld % per16 == 0 && ld < (int64_t{1} << 40) / kElemBytes;
}

// cuTensorMapEncodeTiled through the runtime's driver entry point (no link
// against libcuda).
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
inline EncodeTiledFn encode_tiled_fn() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
#if CUDART_VERSION >= 12050
    C10_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                                    cudaEnableDefault, &q));
#else
    C10_CUDA_CHECK(cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &f, cudaEnableDefault, &q));
#endif
    TORCH_CHECK(q == cudaDriverEntryPointSuccess && f != nullptr,
                "cuops.matmul: cuTensorMapEncodeTiled is not available from the CUDA driver");
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// Row-major 2-D tensor map (rows x cols elements, `ld` elements between rows)
// with box_rows x (128 bytes) boxes: each box row is 64 16-bit or 32 fp32
// elements = 128 bytes, stored with the 128-byte swizzle (16-byte chunk c of the row at
// address bits [7:9] = r lands at chunk c ^ r; a box is then a stack of
// 1024-byte, 8-row swizzle atoms when its smem destination is 1024-byte
// aligned). Box elements outside the tensor are zero-filled; the full box's
// bytes still count towards the mbarrier's transaction count.
template <typename T>
CUtensorMap make_map(const void* base, int64_t rows, int64_t cols, int64_t ld, int box_rows) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16> ||
                std::is_same_v<T, float>);
  constexpr CUtensorMapDataType kType = std::is_same_v<T, float>  ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32
                                        : std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                                    : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  CUtensorMap m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(ld) * sizeof(T)};  // bytes, dim 1
  const cuuint32_t box[2] = {128 / sizeof(T), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = encode_tiled_fn()(
      &m, kType, 2, const_cast<void*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TORCH_CHECK(r == CUDA_SUCCESS, "cuops.matmul: cuTensorMapEncodeTiled failed (", static_cast<int>(r),
              ")");
  return m;
}

}  // namespace cuops::cuda::tma
