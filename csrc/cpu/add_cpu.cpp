// CPU kernels of cuops.add and cuops.sum_to.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "add.h"
#include "op_entry.h"

namespace cuops {
namespace {

// Elements per parallel task: large enough to amortize the OpenMP fork.
constexpr int64_t kGrain = 32768;

template <typename T>
void add_cpu_impl(const AddPlan& p, acc_t<T> alpha) {
  T* out = p.out.data_ptr<T>();
  const T* a = p.a.const_data_ptr<T>();
  const T* b = p.b.const_data_ptr<T>();
  const int64_t n = p.out.numel();
  if (p.flat) {
    // Unit stride, no aliasing: the compiler vectorizes this loop.
    at::parallel_for(0, n, kGrain, [&](int64_t beg, int64_t end) {
      for (int64_t i = beg; i < end; ++i)
        out[i] = static_cast<T>(static_cast<acc_t<T>>(a[i]) + alpha * static_cast<acc_t<T>>(b[i]));
    });
    return;
  }
  // General strides: locate each run of the innermost dim once, then step it.
  const auto& oc = p.oc;
  const int last = oc.ndim - 1;
  const int64_t inner = oc.ndim > 0 ? oc.sizes[last] : 1;
  const int64_t so = oc.ndim > 0 ? oc.strides[0][last] : 0;
  const int64_t sa = oc.ndim > 0 ? oc.strides[1][last] : 0;
  const int64_t sb = oc.ndim > 0 ? oc.strides[2][last] : 0;
  at::parallel_for(0, n, kGrain, [&](int64_t beg, int64_t end) {
    int64_t i = beg;
    while (i < end) {
      int64_t off[3];
      oc.get(i, off);
      const int64_t run = std::min(inner - i % inner, end - i);
      for (int64_t k = 0; k < run; ++k)
        out[off[0] + k * so] = static_cast<T>(static_cast<acc_t<T>>(a[off[1] + k * sa]) +
                                              alpha * static_cast<acc_t<T>>(b[off[2] + k * sb]));
      i += run;
    }
  });
}

using AddFn = void (*)(const AddPlan&, const c10::Scalar&);

// The CPU "ladder" has one step; it is listed so that cuops.variants() shows
// every implementation of the op.
const Ladder<AddFn> kAddCpu(
    "add", "cpu",
    {{"cpu", kAllFloat,
      [](const AddPlan& p, const c10::Scalar& alpha) {
        CUOPS_DISPATCH_FLOATING_TYPES(p.out.scalar_type(), "cuops.add(cpu)", [&] {
          add_cpu_impl<scalar_t>(p, alpha.to<acc_t<scalar_t>>());
        });
      },
      "parallel loop; flat fast path, strided/broadcast general path"}},
    {"cpu"});

at::Tensor add_cpu(const at::Tensor& a, const at::Tensor& b, const c10::Scalar& alpha,
                   std::optional<c10::string_view> variant) {
  AddPlan p = plan_add(a, b, alpha);
  run_ladder(kAddCpu, variant, p.out, p, p.out.numel() > 0, alpha);
  return p.out;
}

template <typename T>
void sum_to_cpu_impl(const SumToPlan& p, acc_t<T> scale) {
  const T* x = p.x.const_data_ptr<T>();
  T* out = p.out.data_ptr<T>();
  auto reduce_range = [&](int64_t base, int64_t r0, int64_t r1) {
    acc_t<T> s = 0;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off[1];
      p.red.get(r, off);
      s += static_cast<acc_t<T>>(x[base + off[0]]);
    }
    return s;
  };
  const int64_t threads = at::get_num_threads();
  if (p.n_out >= threads) {
    at::parallel_for(0, p.n_out, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, p.n_red)),
                     [&](int64_t beg, int64_t end) {
                       for (int64_t o = beg; o < end; ++o) {
                         int64_t base[1];
                         p.kept.get(o, base);
                         out[o] = static_cast<T>(scale * reduce_range(base[0], 0, p.n_red));
                       }
                     });
    return;
  }
  // Few outputs (e.g. a bias gradient): parallelize the reduction itself.
  for (int64_t o = 0; o < p.n_out; ++o) {
    int64_t base[1];
    p.kept.get(o, base);
    const acc_t<T> s = at::parallel_reduce(
        0, p.n_red, kGrain, acc_t<T>(0),
        [&](int64_t r0, int64_t r1, acc_t<T> init) { return init + reduce_range(base[0], r0, r1); },
        [](acc_t<T> u, acc_t<T> v) { return u + v; });
    out[o] = static_cast<T>(scale * s);
  }
}

at::Tensor sum_to_cpu(const at::Tensor& x, c10::SymIntArrayRef size, const c10::Scalar& scale) {
  SumToPlan p = plan_sum_to(x, size, scale);
  if (p.n_out > 0) {
    CUOPS_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cuops.sum_to(cpu)", [&] {
      sum_to_cpu_impl<scalar_t>(p, scale.to<acc_t<scalar_t>>());
    });
  }
  return p.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, CPU, m) {
  m.impl("add", &add_cpu);
  m.impl("sum_to", &sum_to_cpu);
}

}  // namespace cuops
