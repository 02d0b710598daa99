// Host check of csrc/cuda/conv2d/fast_div.cuh (built and run by
// tests/test_fast_div.py): FastDiv(d).div(n) == n / d for every divisor up to
// 2000 with dividends up to 20000 and random ones, powers of two and their
// neighbours, and random 31-bit pairs with the multiples of d and one below.
#define __host__
#define __device__
#define __forceinline__ inline
#include <cstdio>
#include <random>

#include "cuda/conv2d/fast_div.cuh"

using cuops::cuda::conv::FastDiv;

int main() {
  std::mt19937_64 rng(1);
  long wrong = 0, checked = 0;
  const auto check = [&](uint32_t d, uint32_t n) {
    ++checked;
    if (FastDiv(d).div(n) != n / d) {
      if (wrong++ < 5) std::printf("wrong: %u / %u\n", n, d);
    }
  };
  for (uint32_t d = 1; d <= 2000; ++d) {
    for (uint32_t n = 0; n < 20000; ++n) check(d, n);
    for (int i = 0; i < 2000; ++i) check(d, rng() % 0x80000000u);
    check(d, 0x7fffffffu);
  }
  for (int s = 0; s < 31; ++s)
    for (int k = -1; k <= 1; ++k) {
      const uint32_t d = (1u << s) + k;
      if (d == 0) continue;
      for (int i = 0; i < 10000; ++i) check(d, rng() % 0x80000000u);
      check(d, 0x7fffffffu);
    }
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t d = 1 + rng() % 0x7fffffffu, n = rng() % 0x80000000u;
    check(d, n);
    check(d, n / d * d);
    if (n / d * d > 0) check(d, n / d * d - 1);
  }
  std::printf("checked %ld, wrong %ld\n", checked, wrong);
  return wrong != 0;
}
