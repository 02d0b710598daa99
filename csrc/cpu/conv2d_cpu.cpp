// CPU kernels of cuops.conv2d and its gradients, one ladder per op:
//   cpu          direct loops (below)
//   im2col_gemm  patches times the weight in the CPU GEMM (conv2d_im2col.cpp);
//                the default once a reduction is more than a few taps long
//   phases       (dgrad) any stride and dilation as one stride-1 forward per
//                output phase of dx through the forward ladder's default
//                (conv2d_dgrad_by_phases, csrc/conv2d_phases.cpp)
//   gemm         pointwise (1x1, unpadded) problems as GEMMs in the CPU GEMM
//                (csrc/conv2d_pointwise.cpp); others -> the ladder's default
// phases and gemm run the device-independent planning of the CUDA steps
// implicit_gemm_mma(_phases) and gemm over the CPU kernels, so the CPU tests
// prove it. gemm is the pointwise dgrad's default (measured faster); phases
// and the forward/wgrad gemm are not defaults (slower or mixed).
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
#include "conv2d_steps.h"
#include "cpu/conv2d_im2col.h"
#include "cpu/gemm_cpu.h"
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

// What each ladder runs on `p` with no variant named (defined after the
// ladders): the steps that serve only part of the problems send the rest here.
void conv2d_default_cpu(const Conv2dProblem& p);
void conv2d_backward_input_default_cpu(const Conv2dGradProblem& p);
void conv2d_backward_weight_default_cpu(const Conv2dGradProblem& p);

// out[n][o][p][q] += bias[o] in place (the pointwise steps' NCHW bias, a
// second rounding to T as on CUDA), parallel over (n, o) planes.
void add_bias_cpu(const at::Tensor& out, const void* bias) {
  const int64_t O = out.size(1), P = out.size(2), Q = out.size(3);
  const int64_t sn = out.stride(0), so = out.stride(1), sp = out.stride(2), sq = out.stride(3);
  CUOPS_DISPATCH_FLOATING_TYPES(out.scalar_type(), "cuops.conv2d(cpu, bias)", [&] {
    using A = acc_t<scalar_t>;
    scalar_t* y = static_cast<scalar_t*>(out.data_ptr());
    const scalar_t* b = static_cast<const scalar_t*>(bias);
    at::parallel_for(0, out.size(0) * O, 1, [&](int64_t beg, int64_t end) {
      for (int64_t no = beg; no < end; ++no) {
        const int64_t n = no / O, o = no % O;
        const A bo = static_cast<A>(b[o]);
        scalar_t* plane = y + n * sn + o * so;
        for (int64_t pp = 0; pp < P; ++pp)
          for (int64_t q = 0; q < Q; ++q) {
            scalar_t& v = plane[pp * sp + q * sq];
            v = static_cast<scalar_t>(static_cast<A>(v) + bo);
          }
      }
    });
  });
}

// dw[k][c] = sum_n partial[n][k][c] in image order (the pointwise wgrad's
// per-image partials, fp32/fp64).
void sum_images_cpu(const at::Tensor& partial, const Conv2dGradProblem& p) {
  const int64_t Cg = p.C / p.groups, KC = p.K * Cg;
  AT_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(cpu, sum)", [&] {
    const scalar_t* part = partial.const_data_ptr<scalar_t>();
    scalar_t* dw = static_cast<scalar_t*>(p.dw);
    at::parallel_for(0, KC, 256, [&](int64_t beg, int64_t end) {
      for (int64_t i = beg; i < end; ++i) {
        scalar_t acc = 0;
        for (int64_t n = 0; n < p.N; ++n) acc += part[n * KC + i];
        dw[i / Cg * p.w_sk + i % Cg * p.w_sc] = acc;
      }
    });
  });
}

// The pointwise steps' device pieces: the CPU GEMM (the CPU matmul ladder's
// one step and default) and the loops above.
const PointwiseKernels kPointwiseCpu{at::Device(at::kCPU), &gemm_cpu_run, &add_bias_cpu,
                                     &sum_images_cpu};

void conv2d_gemm_cpu(const Conv2dProblem& p) {
  if (!is_pointwise(p)) return conv2d_default_cpu(p);
  conv2d_pointwise(p, kPointwiseCpu);
}
void conv2d_backward_input_gemm_cpu(const Conv2dGradProblem& p) {
  if (!is_pointwise(p)) return conv2d_backward_input_default_cpu(p);
  conv2d_backward_input_pointwise(p, kPointwiseCpu);
}
void conv2d_backward_weight_gemm_cpu(const Conv2dGradProblem& p) {
  if (!is_pointwise(p)) return conv2d_backward_weight_default_cpu(p);
  conv2d_backward_weight_pointwise(p, kPointwiseCpu);
}

// Each phase is a stride-1 forward run by the forward ladder's default for
// it (direct loops or im2col_gemm: both take negative padding and strided
// outputs); every dx element is written by exactly one phase. The
// sub-filters come from the tap table (the one the CUDA steps' pack kernel
// reads), so these tests prove it.
void conv2d_backward_input_phases_cpu(const Conv2dGradProblem& p) {
  conv2d_dgrad_by_phases(p, at::Device(at::kCPU), &conv2d_default_cpu, &pack_subfilters_cpu);
}

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
      "patches gathered into a dense matrix, times the weight in the CPU GEMM"},
     {"gemm", kAllFloat, conv2d_gemm_cpu,
      "1x1 unpadded: a plain GEMM (the CPU GEMM) over pixels x channels, the CUDA gemm step's "
      "planning; others -> the ladder's default"}},
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
      "grad_output times the weight in the CPU GEMM, summed back into patches (col2im)"},
     {"phases", kAllFloat, conv2d_backward_input_phases_cpu,
      "any stride: one stride-1 forward (the forward ladder's default) per output phase of dx"},
     {"gemm", kAllFloat, conv2d_backward_input_gemm_cpu,
      "1x1 unpadded: dy . w as a plain GEMM (the CPU GEMM); others -> the default"}},
    // A pointwise dgrad is one GEMM written straight into dx; im2col_gemm
    // adds a col2im pass over a dense buffer (measured 1.1-2.6x slower on
    // 1x1 layers, NCHW and channels_last, fp32 and bf16; docs/conv2d-worklog.md).
    {{kPointwiseWhen, is_pointwise, "gemm"},
     {kGemmPaysWhen, gemm_pays, "im2col_gemm"},
     "cpu"});

const Ladder<GradFn> kWgradCpu(
    "conv2d_backward_weight", "cpu",
    {{"cpu", kAllFloat,
      [](const Conv2dGradProblem& p) {
        CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(cpu)",
                                      [&] { wgrad_cpu<scalar_t>(p); });
      },
      "reduction loops parallel over (k, c), any layout"},
     {"im2col_gemm", kAllFloat, conv2d_backward_weight_im2col_cpu,
      "grad_output^T times the gathered patches in the CPU GEMM, chunks summed in order"},
     {"gemm", kAllFloat, conv2d_backward_weight_gemm_cpu,
      "1x1 unpadded: dy^T . x as a plain GEMM (the CPU GEMM); others -> the default"}},
    {{kGemmPaysWhen, gemm_pays, "im2col_gemm"}, "cpu"});

void conv2d_default_cpu(const Conv2dProblem& p) { kConvCpu.run_default(p); }
void conv2d_backward_input_default_cpu(const Conv2dGradProblem& p) { kDgradCpu.run_default(p); }
void conv2d_backward_weight_default_cpu(const Conv2dGradProblem& p) { kWgradCpu.run_default(p); }

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
