// Shared CUDA helpers: vector types for 16-byte accesses, grid sizing, and the
// includes every kernel file needs (stream, device guard, launch check).
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuops.h"

namespace cuops::cuda {

// N elements of T moved as one aligned access (16 bytes => one LDG.128/STG.128).
template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

template <typename T>
constexpr int kVec16 = 16 / sizeof(T);  // elements per 16-byte access

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

inline int num_sms() { return at::cuda::getCurrentDeviceProperties()->multiProcessorCount; }

// Grid for a grid-stride loop over `work` items: enough blocks to fill the
// GPU several times over, no more (extra blocks only add scheduling cost).
inline unsigned grid_for(int64_t work, int threads, int blocks_per_sm = 8) {
  const int64_t want = ceil_div<int64_t>(work, threads);
  const int64_t cap = static_cast<int64_t>(num_sms()) * blocks_per_sm;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(want, cap)));
}

}  // namespace cuops::cuda
