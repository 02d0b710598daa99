// Strided / broadcast indexing shared by the CPU and CUDA kernels.
//
// An OffsetCalculator maps the linear index of an output element to the
// element offset of each operand, so one kernel handles any strides: views,
// transposes, channels_last, and broadcasting (stride 0). Offsets are 64-bit,
// so tensors with more than 2^31 elements index correctly.
#pragma once

#include <c10/macros/Macros.h>

#include <array>
#include <cstdint>

#include "cuops.h"

namespace cuops {

template <int NARGS>
struct OffsetCalculator {
  int ndim = 0;
  int64_t sizes[kMaxDims];            // dims, outermost first
  int64_t strides[NARGS][kMaxDims];  // element strides of each operand

  C10_HOST_DEVICE void get(int64_t linear, int64_t (&off)[NARGS]) const {
CUOPS_UNROLL
    for (int a = 0; a < NARGS; ++a) off[a] = 0;
    // Innermost dim first; `CUOPS_UNROLL` over the constant bound keeps the
    // arrays in registers on the GPU (a runtime bound would spill them).
CUOPS_UNROLL
    for (int i = 0; i < kMaxDims; ++i) {
      if (i == ndim) break;
      const int d = ndim - 1 - i;
      const int64_t idx = linear % sizes[d];
      linear /= sizes[d];
CUOPS_UNROLL
      for (int a = 0; a < NARGS; ++a) off[a] += idx * strides[a][d];
    }
  }
};

// Builds a calculator over `shape` for operands whose strides are given in the
// output's dimension order (a broadcast operand passes stride 0 for expanded
// dims). Size-1 dims are dropped and neighbours that are contiguous for every
// operand are merged, so a contiguous tensor becomes one dim (cheap indexing).
template <int NARGS>
OffsetCalculator<NARGS> make_offset_calculator(at::IntArrayRef shape,
                                               const std::array<std::vector<int64_t>, NARGS>& st) {
  OffsetCalculator<NARGS> oc;
  int n = 0;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (shape[d] == 1) continue;
    bool merge = n > 0;
    for (int a = 0; a < NARGS && merge; ++a)
      merge = oc.strides[a][n - 1] == st[a][d] * shape[d];
    if (merge) {
      oc.sizes[n - 1] *= shape[d];
      for (int a = 0; a < NARGS; ++a) oc.strides[a][n - 1] = st[a][d];
    } else {
      TORCH_CHECK(n < kMaxDims, "cuops: too many dimensions");
      oc.sizes[n] = shape[d];
      for (int a = 0; a < NARGS; ++a) oc.strides[a][n] = st[a][d];
      ++n;
    }
  }
  oc.ndim = n;
  return oc;
}

// Strides of `t` as seen through broadcasting to `shape` (right-aligned, as
// torch broadcasts): 0 for missing or expanded dims.
inline std::vector<int64_t> broadcast_strides(const at::Tensor& t, at::IntArrayRef shape) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> s(nd, 0);
  const int64_t lead = nd - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    s[lead + d] = t.size(d) == 1 ? 0 : t.stride(d);
  return s;
}

}  // namespace cuops
