// CPU kernels of cuops.conv2d and its gradients: the `cpu` step (direct
// loops, below) and the `im2col_gemm` step (csrc/cpu/conv2d_im2col.cpp),
// listed in one ladder per op, with one default rule between them.
//
// The direct loops are written so that the innermost loop walks one
// output/input row (q or w) with a constant stride, accumulating in acc_t
// (fp32 for fp16/bf16) into a per-task buffer: no im2col buffer, no atomics,
// deterministic. Every layout works through the element strides of
// Conv2dProblem; NCHW data gets unit-stride inner loops (stride 1 convs).
//   forward  parallel over (n, k): y[n,k,:,:] += w[k,c,r,s] * x[n,c,...]
//   dgrad    parallel over (n, c): dx[n,c,:,:] += w[k,c,r,s] * dy[n,k,...]
//   wgrad    parallel over (k, c): dw[k,c,r,s] = sum_n,p,q dy[n,k,p,q] x[...]
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "conv2d.h"
#include "cpu/conv2d_im2col.h"
#include "op_entry.h"

namespace cuops {
namespace {

// The q range whose input column q*stride - pad + s*dil lies in [0, W).
inline void valid_range(int64_t Q, int64_t W, int64_t stride, int64_t off, int64_t* lo,
                        int64_t* hi) {
  // q*stride + off >= 0  and  q*stride + off <= W - 1
  *lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  *hi = W - 1 - off < 0 ? 0 : std::min(Q, (W - 1 - off) / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

template <typename T>
void forward_cpu(const Conv2dProblem& p) {
  using A = acc_t<T>;
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  const T* bias = static_cast<const T*>(p.bias);
  T* y = static_cast<T*>(p.y);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, PQ = p.P * p.Q;
  // One task per (n, k) output plane; small planes get several per chunk.
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, PQ * Cg * p.R * p.S));
  at::parallel_for(0, p.N * p.K, grain, [&](int64_t beg, int64_t end) {
    std::vector<A> acc(PQ);
    for (int64_t nk = beg; nk < end; ++nk) {
      const int64_t n = nk / p.K, k = nk % p.K, g = k / Kg;
      std::fill(acc.begin(), acc.end(), bias ? static_cast<A>(bias[k]) : A(0));
      for (int64_t c = 0; c < Cg; ++c) {
        const T* xc = x + n * p.x_sn + (g * Cg + c) * p.x_sc;
        for (int64_t r = 0; r < p.R; ++r) {
          for (int64_t s = 0; s < p.S; ++s) {
            const A wv = static_cast<A>(w[k * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss]);
            const int64_t offw = s * p.dil_w - p.pad_w;
            int64_t q0, q1;
            valid_range(p.Q, p.W, p.stride_w, offw, &q0, &q1);
            for (int64_t pp = 0; pp < p.P; ++pp) {
              const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
              if (ih < 0 || ih >= p.H) continue;
              const T* xr = xc + ih * p.x_sh;
              A* ar = acc.data() + pp * p.Q;
              for (int64_t q = q0; q < q1; ++q)
                ar[q] += wv * static_cast<A>(xr[(q * p.stride_w + offw) * p.x_sw]);
            }
          }
        }
      }
      T* yo = y + n * p.y_sn + k * p.y_sk;
      for (int64_t pp = 0; pp < p.P; ++pp)
        for (int64_t q = 0; q < p.Q; ++q)
          yo[pp * p.y_sp + q * p.y_sq] = static_cast<T>(acc[pp * p.Q + q]);
    }
  });
}

template <typename T>
void dgrad_cpu(const Conv2dGradProblem& p) {
  using A = acc_t<T>;
  const T* dy = static_cast<const T*>(p.dy);
  const T* w = static_cast<const T*>(p.w);
  T* dx = static_cast<T*>(p.dx);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, HW = p.H * p.W;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.P * p.Q * Kg * p.R * p.S));
  // Scatter form: each (n, c) task owns its whole dx plane, so the taps that a
  // strided conv skips simply never add anything (no divisibility tests).
  at::parallel_for(0, p.N * p.C, grain, [&](int64_t beg, int64_t end) {
    std::vector<A> acc(HW);
    for (int64_t nc = beg; nc < end; ++nc) {
      const int64_t n = nc / p.C, cc = nc % p.C, g = cc / Cg, c = cc % Cg;
      std::fill(acc.begin(), acc.end(), A(0));
      for (int64_t kk = 0; kk < Kg; ++kk) {
        const int64_t k = g * Kg + kk;
        const T* dyk = dy + n * p.y_sn + k * p.y_sk;
        for (int64_t r = 0; r < p.R; ++r) {
          for (int64_t s = 0; s < p.S; ++s) {
            const A wv = static_cast<A>(w[k * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss]);
            const int64_t offw = s * p.dil_w - p.pad_w;
            int64_t q0, q1;
            valid_range(p.Q, p.W, p.stride_w, offw, &q0, &q1);
            for (int64_t pp = 0; pp < p.P; ++pp) {
              const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
              if (ih < 0 || ih >= p.H) continue;
              A* ar = acc.data() + ih * p.W;
              const T* g_row = dyk + pp * p.y_sp;
              for (int64_t q = q0; q < q1; ++q)
                ar[q * p.stride_w + offw] += wv * static_cast<A>(g_row[q * p.y_sq]);
            }
          }
        }
      }
      T* xo = dx + n * p.x_sn + cc * p.x_sc;
      for (int64_t h = 0; h < p.H; ++h)
        for (int64_t x = 0; x < p.W; ++x) xo[h * p.x_sh + x * p.x_sw] = static_cast<T>(acc[h * p.W + x]);
    }
  });
}

template <typename T>
void wgrad_cpu(const Conv2dGradProblem& p) {
  using A = acc_t<T>;
  const T* dy = static_cast<const T*>(p.dy);
  const T* x = static_cast<const T*>(p.x);
  T* dw = static_cast<T*>(p.dw);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, RS = p.R * p.S;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.N * p.P * p.Q * RS));
  at::parallel_for(0, p.K * Cg, grain, [&](int64_t beg, int64_t end) {
    std::vector<A> acc(RS);
    for (int64_t kc = beg; kc < end; ++kc) {
      const int64_t k = kc / Cg, c = kc % Cg, g = k / Kg;
      std::fill(acc.begin(), acc.end(), A(0));
      for (int64_t n = 0; n < p.N; ++n) {
        const T* dyk = dy + n * p.y_sn + k * p.y_sk;
        const T* xc = x + n * p.x_sn + (g * Cg + c) * p.x_sc;
        for (int64_t r = 0; r < p.R; ++r) {
          for (int64_t s = 0; s < p.S; ++s) {
            const int64_t offw = s * p.dil_w - p.pad_w;
            int64_t q0, q1;
            valid_range(p.Q, p.W, p.stride_w, offw, &q0, &q1);
            A sum = 0;
            for (int64_t pp = 0; pp < p.P; ++pp) {
              const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
              if (ih < 0 || ih >= p.H) continue;
              const T* xr = xc + ih * p.x_sh;
              const T* gr = dyk + pp * p.y_sp;
              for (int64_t q = q0; q < q1; ++q)
                sum += static_cast<A>(gr[q * p.y_sq]) *
                       static_cast<A>(xr[(q * p.stride_w + offw) * p.x_sw]);
            }
            acc[r * p.S + s] += sum;
          }
        }
      }
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s)
          dw[k * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss] = static_cast<T>(acc[r * p.S + s]);
    }
  });
}

using FwdFn = void (*)(const Conv2dProblem&);
using GradFn = void (*)(const Conv2dGradProblem&);

// The GEMM step pays for its buffers once each output sums more than a few
// taps; depthwise-like problems (a handful of taps per output channel, many
// groups) run faster in the direct loops. One rule for all three ladders.
constexpr const char* kGemmPaysWhen = "C/groups*R*S >= 16 and K/groups >= 4";
bool gemm_pays(const Conv2dProblem& p) {
  return p.C / p.groups * p.R * p.S >= 16 && p.K / p.groups >= 4;
}

const Ladder<FwdFn> kConvCpu(
    "conv2d", "cpu",
    {{"cpu", kAllFloat,
      [](const Conv2dProblem& p) {
        CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(cpu)", [&] { forward_cpu<scalar_t>(p); });
      },
      "direct loops parallel over (n, k) planes, row-wise inner loop, any layout"},
     {"im2col_gemm", kAllFloat, conv2d_im2col_cpu,
      "patches gathered into a dense matrix, times the weight in the CPU GEMM"}},
    {{kGemmPaysWhen, gemm_pays, "im2col_gemm"}, "cpu"});

const Ladder<GradFn> kDgradCpu(
    "conv2d_backward_input", "cpu",
    {{"cpu", kAllFloat,
      [](const Conv2dGradProblem& p) {
        CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input(cpu)",
                                      [&] { dgrad_cpu<scalar_t>(p); });
      },
      "scatter loops parallel over (n, c) planes, any layout"},
     {"im2col_gemm", kAllFloat, conv2d_backward_input_im2col_cpu,
      "grad_output times the weight in the CPU GEMM, summed back into patches (col2im)"}},
    {{kGemmPaysWhen, gemm_pays, "im2col_gemm"}, "cpu"});

const Ladder<GradFn> kWgradCpu(
    "conv2d_backward_weight", "cpu",
    {{"cpu", kAllFloat,
      [](const Conv2dGradProblem& p) {
        CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(cpu)",
                                      [&] { wgrad_cpu<scalar_t>(p); });
      },
      "reduction loops parallel over (k, c), any layout"},
     {"im2col_gemm", kAllFloat, conv2d_backward_weight_im2col_cpu,
      "grad_output^T times the gathered patches in the CPU GEMM, chunks summed in order"}},
    {{kGemmPaysWhen, gemm_pays, "im2col_gemm"}, "cpu"});

at::Tensor conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                      at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                      std::optional<c10::string_view> variant) {
  Conv2dPlan plan = plan_conv2d(input, weight, bias, stride, padding, dilation, groups);
  run_ladder(kConvCpu, variant, plan.out, plan.prob, plan.out.numel() > 0);
  return plan.result;
}

at::Tensor conv2d_backward_input_cpu(const at::Tensor& grad_output, const at::Tensor& weight,
                                     c10::SymIntArrayRef input_size, at::IntArrayRef stride,
                                     at::IntArrayRef padding, at::IntArrayRef dilation,
                                     int64_t groups, std::optional<c10::string_view> variant) {
  Conv2dGradPlan plan = plan_conv2d_backward_input(
      grad_output, weight, C10_AS_INTARRAYREF_SLOW(input_size), stride, padding, dilation, groups);
  run_ladder(kDgradCpu, variant, plan.out, plan.prob, plan.out.numel() > 0);
  return plan.out;
}

at::Tensor conv2d_backward_weight_cpu(const at::Tensor& grad_output, const at::Tensor& input,
                                      c10::SymIntArrayRef weight_size, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      int64_t groups, std::optional<c10::string_view> variant) {
  Conv2dGradPlan plan = plan_conv2d_backward_weight(
      grad_output, input, C10_AS_INTARRAYREF_SLOW(weight_size), stride, padding, dilation, groups);
  // N == 0 sums nothing: the step still runs and writes zeros.
  run_ladder(kWgradCpu, variant, plan.out, plan.prob, plan.out.numel() > 0);
  return plan.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(cuops, CPU, m) {
  m.impl("conv2d", &conv2d_cpu);
  m.impl("conv2d_backward_input", &conv2d_backward_input_cpu);
  m.impl("conv2d_backward_weight", &conv2d_backward_weight_cpu);
}

}  // namespace cuops
