// Shared CUDA helpers: vector types for 16-byte accesses, grid sizing, and the
// includes every kernel file needs (stream, device guard, launch check).
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstdlib>
#include <string>

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

// The current device is compute capability 9.0 (H100, H200): the one that
// runs sm_90a code (wgmma, setmaxnreg).
inline bool is_sm90() {
  const auto* props = at::cuda::getCurrentDeviceProperties();
  return props->major == 9 && props->minor == 0;
}

// Grid for a grid-stride loop over `work` items: enough blocks to fill the
// GPU several times over, no more (extra blocks only add scheduling cost).
inline unsigned grid_for(int64_t work, int threads, int blocks_per_sm = 8) {
  const int64_t want = ceil_div<int64_t>(work, threads);
  const int64_t cap = static_cast<int64_t>(num_sms()) * blocks_per_sm;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(want, cap)));
}

// Development tuning knobs (CUOPS_MATMUL_CONFIG, CUOPS_CONV_CONFIG):
// "variant=i,other=j" picks entry i of a variant's configuration table (0 =
// the default). Each knob is read once per process by its caller (a static
// copy of getenv_string), so a sweep runs one process per entry
// (scripts/explore/); Python validates the value at import
// (cuops/ops/_common.py: check_tuning_knob), this is the C++-side check.
inline std::string getenv_string(const char* name) {
  const char* e = std::getenv(name);
  return e != nullptr ? e : "";
}

inline int tuning_config(const std::string& knob, const char* knob_name, const char* variant) {
  const std::string key = std::string(variant) + "=";
  for (size_t pos = 0; pos < knob.size();) {
    size_t end = knob.find(',', pos);
    if (end == std::string::npos) end = knob.size();
    const std::string item = knob.substr(pos, end - pos);
    if (item.compare(0, key.size(), key) == 0) {
      const std::string num = item.substr(key.size());
      TORCH_CHECK_VALUE(!num.empty() && num.size() <= 3 &&
                            num.find_first_not_of("0123456789") == std::string::npos,
                        knob_name, ": expected '", variant, "=<index>', got '", item, "'");
      return std::stoi(num);
    }
    pos = end + 1;
  }
  return 0;
}

}  // namespace cuops::cuda
