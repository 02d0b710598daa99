// CPU kernel of cuops.gemm: cache-blocked, packed, parallel.
//
// The output is cut into MC x NC blocks, one task each (x batch). A task
// walks K in KC slices: it packs the A slice (MC x KC) and the B slice
// (KC x NC) into contiguous acc_t buffers laid out for the micro-kernel
// (zero-padded to whole MR x NR panels, converting fp16/bf16 to fp32 once),
// then runs an MR x NR register-blocked micro-kernel over the panels. Packing
// makes every operand layout (transposed, sliced, broadcast) look the same
// to the inner loop, which the compiler vectorizes over NR. Sums stay in an
// acc_t block buffer across K slices and are rounded to T once, at the end.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "cpu/gemm_cpu.h"
#include "matmul.h"
#include "op_entry.h"

namespace cuops {
namespace {

constexpr int64_t MR = 4, NR = 8;                   // micro-tile (registers)
constexpr int64_t MC = 64, NC = 256, KC = 256;      // cache blocks (L2 / L1)

// acc[MR][NR] (the block buffer, row stride ldc) += Ap[k][MR] x Bp[k][NR].
template <typename S>
inline void micro_kernel(int64_t kc, const S* __restrict__ ap, const S* __restrict__ bp,
                         S* __restrict__ c, int64_t ldc) {
  S acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const S* a = ap + k * MR;
    const S* b = bp + k * NR;
    for (int64_t i = 0; i < MR; ++i)
      for (int64_t j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
  }
  for (int64_t i = 0; i < MR; ++i)
    for (int64_t j = 0; j < NR; ++j) c[i * ldc + j] += acc[i][j];
}

template <typename T>
void gemm_cpu_impl(const GemmProblem& p) {
  using S = acc_t<T>;
  const T* A = static_cast<const T*>(p.a);
  const T* B = static_cast<const T*>(p.b);
  T* C = static_cast<T*>(p.c);
  const T* bias = static_cast<const T*>(p.bias);
  const int64_t mblocks = ceil_div(p.M, MC), nblocks = ceil_div(p.N, NC);
  const int64_t tasks = p.batch * mblocks * nblocks;

  at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<S> ap(MC * KC), bp(KC * NC), cbuf(MC * NC);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t z = t / (mblocks * nblocks);
      const int64_t m0 = (t / nblocks % mblocks) * MC, n0 = (t % nblocks) * NC;
      const int64_t mc = std::min(MC, p.M - m0), nc = std::min(NC, p.N - n0);
      const int64_t mp = round_up(mc, MR), np = round_up(nc, NR);  // padded extents
      int64_t off[3];
      p.batch_oc.get(z, off);
      const T* a = A + off[1] + m0 * p.a_sm;
      const T* b = B + off[2] + n0 * p.b_sn;
      std::fill(cbuf.begin(), cbuf.begin() + mp * NC, S(0));

      for (int64_t k0 = 0; k0 < p.K; k0 += KC) {
        const int64_t kc = std::min(KC, p.K - k0);
        // Pack A: panels of MR rows, each [k][MR].
        for (int64_t i0 = 0; i0 < mp; i0 += MR) {
          S* dst = ap.data() + i0 * kc;
          for (int64_t k = 0; k < kc; ++k)
            for (int64_t i = 0; i < MR; ++i)
              dst[k * MR + i] = i0 + i < mc
                                    ? static_cast<S>(a[(i0 + i) * p.a_sm + (k0 + k) * p.a_sk])
                                    : S(0);
        }
        // Pack B: panels of NR columns, each [k][NR].
        for (int64_t j0 = 0; j0 < np; j0 += NR) {
          S* dst = bp.data() + j0 * kc;
          for (int64_t k = 0; k < kc; ++k) {
            const T* src = b + (k0 + k) * p.b_sk;
            for (int64_t j = 0; j < NR; ++j)
              dst[k * NR + j] = j0 + j < nc ? static_cast<S>(src[(j0 + j) * p.b_sn]) : S(0);
          }
        }
        for (int64_t j0 = 0; j0 < np; j0 += NR)
          for (int64_t i0 = 0; i0 < mp; i0 += MR)
            micro_kernel<S>(kc, ap.data() + i0 * kc, bp.data() + j0 * kc,
                            cbuf.data() + i0 * NC + j0, NC);
      }

      T* c = C + off[0] + m0 * p.c_sm + n0 * p.c_sn;
      for (int64_t i = 0; i < mc; ++i)
        for (int64_t j = 0; j < nc; ++j) {
          S v = cbuf[i * NC + j];
          if (bias) v += static_cast<S>(bias[n0 + j]);
          c[i * p.c_sm + j * p.c_sn] = static_cast<T>(v);
        }
    }
  });
}

}  // namespace

void gemm_cpu_run(const GemmProblem& p) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.gemm(cpu)", [&] { gemm_cpu_impl<scalar_t>(p); });
}

namespace {

using GemmFn = void (*)(const GemmProblem&);

const Ladder<GemmFn> kGemmCpu(
    "matmul", "cpu",
    {{"cpu", kAllFloat, gemm_cpu_run,
      "cache-blocked (64x256x256), packed panels, 4x8 register micro-kernel, parallel over blocks"}},
    {"cpu"}, "cuops.gemm");

at::Tensor gemm_cpu(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias,
                    std::optional<c10::string_view> variant) {
  GemmPlan plan = plan_gemm(a, b, bias);
  run_ladder(kGemmCpu, variant, plan.out, plan.p, plan.run_kernel);
  return plan.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, CPU, m) { m.impl("gemm", &gemm_cpu); }

}  // namespace cuops
