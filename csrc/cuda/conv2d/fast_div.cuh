// Division of 31-bit unsigned integers by an invariant divisor with one
// multiply-high, an add and a shift (Granlund & Montgomery, "Division by
// invariant integers using multiplication", PLDI 1994, section 4): the Hopper
// wgrad's producer splits every k tile's pixel indices into (image, row,
// column), and two 64-bit divisions there cost more instructions than the
// rest of the gather.
#pragma once

#include <cstdint>

namespace cuops::cuda::conv {

struct FastDiv {
  uint32_t d = 1;      // the divisor, >= 1
  uint32_t mul = 1;    // floor(2^(32 + shift) / d) - 2^32 + 1, < 2^32
  uint32_t shift = 0;  // ceil(log2 d)

  FastDiv() = default;
  explicit FastDiv(uint32_t divisor) : d(divisor) {
    while ((uint64_t{1} << shift) < divisor) ++shift;
    mul = static_cast<uint32_t>((uint64_t{1} << (32 + shift)) / divisor - (uint64_t{1} << 32) + 1);
  }

  // n / d for n < 2^31 (the sum below then fits 32 bits: mulhi(n, mul) <= n).
  __host__ __device__ __forceinline__ uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t hi = __umulhi(n, mul);
#else
    const uint32_t hi = static_cast<uint32_t>((uint64_t{n} * mul) >> 32);
#endif
    return (hi + n) >> shift;
  }
};

}  // namespace cuops::cuda::conv
