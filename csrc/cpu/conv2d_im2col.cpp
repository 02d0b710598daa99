// CPU step `im2col_gemm` of conv2d and its gradients: the convolution as the
// matrix product it is, run by the CPU GEMM (csrc/cpu/gemm_cpu.h).
//
// For one group and a chunk of nb images, with M = nb*P*Q output pixels,
// Kd = R*S*Cg taps (ordered r, s, c: channels_last input copies runs of C)
// and Kg output channels:
//   cols [M][Kd]   the input patch of every output pixel (0 in the padding)
//   wmat [Kd][Kg]  the group's weight
//   forward  out[M][Kg]   = cols . wmat              (+ bias)
//   dgrad    dcols[M][Kd] = dy[M][Kg] . wmat^T,  then summed back into dx (col2im)
//   wgrad    dw[Kg][Kd]  += dy^T[Kg][M] . cols      over the chunks, in order
// Every buffer is dense and in acc_t (fp32 for fp16/bf16), so operands of any
// layout meet the GEMM in one shape, half-precision sums stay fp32 until the
// final store, and the chunk order fixes the summation order (deterministic).
// The direct loops (conv2d_cpu.cpp) do the same work without buffers; this
// step wins once the reduction Kd is more than a few taps long, because the
// GEMM's packed micro-kernel keeps its operands in registers.
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "cpu/conv2d_im2col.h"
#include "cpu/gemm_cpu.h"

namespace cuops {
namespace {

// Keeps one chunk's cols buffer near 64 MiB of fp32.
constexpr int64_t kMaxColsElems = int64_t{1} << 24;

int64_t images_per_chunk(const Conv2dProblem& p) {
  const int64_t per_image = std::max<int64_t>(1, p.P * p.Q * p.R * p.S * (p.C / p.groups));
  return std::clamp<int64_t>(kMaxColsElems / per_image, 1, std::max<int64_t>(1, p.N));
}

// A dense row-major GEMM C[M][N] = A . B on acc-type buffers, with strides
// given so that transposed operands need no copy.
void dense_gemm(at::ScalarType acc, int64_t M, int64_t N, int64_t K, const void* a, int64_t a_sm,
                int64_t a_sk, const void* b, int64_t b_sk, int64_t b_sn, void* c) {
  GemmProblem g;
  g.M = M, g.N = N, g.K = K, g.batch = 1;
  g.a = a, g.a_sm = a_sm, g.a_sk = a_sk;
  g.b = b, g.b_sk = b_sk, g.b_sn = b_sn;
  g.c = c, g.c_sm = N, g.c_sn = 1;
  g.dtype = acc;  // batch_oc stays empty: one product, offsets 0
  gemm_cpu_run(g);
}

template <typename T>
struct Im2col {
  using A = acc_t<T>;
  const Conv2dProblem& p;
  int64_t Cg, Kg, Kd, PQ;

  explicit Im2col(const Conv2dProblem& prob)
      : p(prob), Cg(prob.C / prob.groups), Kg(prob.K / prob.groups),
        Kd(prob.R * prob.S * (prob.C / prob.groups)), PQ(prob.P * prob.Q) {}

  static constexpr at::ScalarType acc_type() {
    return std::is_same_v<A, double> ? at::kDouble : at::kFloat;
  }

  // cols[(n - n0)*PQ + pq][(r*S + s)*Cg + c] = x[n][g*Cg + c][ih][iw], 0 outside.
  void gather(const T* x, int64_t g, int64_t n0, int64_t nb, A* cols) const {
    at::parallel_for(0, nb * p.P, 1, [&](int64_t beg, int64_t end) {
      for (int64_t np = beg; np < end; ++np) {
        const int64_t n = n0 + np / p.P, pp = np % p.P;
        const T* xn = x + n * p.x_sn + g * Cg * p.x_sc;
        A* row = cols + np * p.Q * Kd;
        for (int64_t q = 0; q < p.Q; ++q, row += Kd) {
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
            for (int64_t s = 0; s < p.S; ++s) {
              const int64_t iw = q * p.stride_w - p.pad_w + s * p.dil_w;
              A* dst = row + (r * p.S + s) * Cg;
              if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) {
                std::fill(dst, dst + Cg, A(0));
                continue;
              }
              const T* src = xn + ih * p.x_sh + iw * p.x_sw;
              for (int64_t c = 0; c < Cg; ++c) dst[c] = static_cast<A>(src[c * p.x_sc]);
            }
          }
        }
      }
    });
  }

  // wmat[(r*S + s)*Cg + c][k] = w[g*Kg + k][c][r][s].
  std::vector<A> pack_weight(const T* w, int64_t g) const {
    std::vector<A> out(Kd * Kg);
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t r = 0; r < p.R; ++r)
          for (int64_t s = 0; s < p.S; ++s)
            out[((r * p.S + s) * Cg + c) * Kg + k] = static_cast<A>(
                w[(g * Kg + k) * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss]);
    return out;
  }

  // dym[(n - n0)*PQ + pq][k] = dy[n][g*Kg + k][p][q].
  void pack_dy(const T* dy, int64_t g, int64_t n0, int64_t nb, A* dym) const {
    at::parallel_for(0, nb * PQ, 64, [&](int64_t beg, int64_t end) {
      for (int64_t m = beg; m < end; ++m) {
        const int64_t n = n0 + m / PQ, pp = m % PQ / p.Q, q = m % p.Q;
        const T* src = dy + n * p.y_sn + g * Kg * p.y_sk + pp * p.y_sp + q * p.y_sq;
        for (int64_t k = 0; k < Kg; ++k) dym[m * Kg + k] = static_cast<A>(src[k * p.y_sk]);
      }
    });
  }

  void forward() const {
    const T* x = static_cast<const T*>(p.x);
    const T* bias = static_cast<const T*>(p.bias);
    T* y = static_cast<T*>(p.y);
    const int64_t chunk = images_per_chunk(p);
    std::vector<A> cols(chunk * PQ * Kd), out(chunk * PQ * Kg);
    for (int64_t g = 0; g < p.groups; ++g) {
      const std::vector<A> wmat = pack_weight(static_cast<const T*>(p.w), g);
      for (int64_t n0 = 0; n0 < p.N; n0 += chunk) {
        const int64_t nb = std::min(chunk, p.N - n0), M = nb * PQ;
        gather(x, g, n0, nb, cols.data());
        dense_gemm(acc_type(), M, Kg, Kd, cols.data(), Kd, 1, wmat.data(), Kg, 1, out.data());
        at::parallel_for(0, M, 64, [&](int64_t beg, int64_t end) {
          for (int64_t m = beg; m < end; ++m) {
            const int64_t n = n0 + m / PQ, pp = m % PQ / p.Q, q = m % p.Q;
            T* dst = y + n * p.y_sn + g * Kg * p.y_sk + pp * p.y_sp + q * p.y_sq;
            for (int64_t k = 0; k < Kg; ++k) {
              const A b = bias ? static_cast<A>(bias[g * Kg + k]) : A(0);
              dst[k * p.y_sk] = static_cast<T>(out[m * Kg + k] + b);
            }
          }
        });
      }
    }
  }

  void dgrad(const Conv2dGradProblem& gp) const {
    const T* dy = static_cast<const T*>(gp.dy);
    T* dx = static_cast<T*>(gp.dx);
    const int64_t chunk = images_per_chunk(p), HWC = p.H * p.W * Cg;
    std::vector<A> dym(chunk * PQ * Kg), dcols(chunk * PQ * Kd), acc(chunk * HWC);
    for (int64_t g = 0; g < p.groups; ++g) {
      const std::vector<A> wmat = pack_weight(static_cast<const T*>(p.w), g);
      for (int64_t n0 = 0; n0 < p.N; n0 += chunk) {
        const int64_t nb = std::min(chunk, p.N - n0), M = nb * PQ;
        pack_dy(dy, g, n0, nb, dym.data());
        // wmat^T: element [k][kd] at wmat[kd*Kg + k].
        dense_gemm(acc_type(), M, Kd, Kg, dym.data(), Kg, 1, wmat.data(), 1, Kg, dcols.data());
        // col2im: one image per task, taps summed in a fixed order.
        at::parallel_for(0, nb, 1, [&](int64_t beg, int64_t end) {
          for (int64_t i = beg; i < end; ++i) {
            A* img = acc.data() + i * HWC;  // [H][W][Cg]
            std::fill(img, img + HWC, A(0));
            for (int64_t pq = 0; pq < PQ; ++pq) {
              const A* row = dcols.data() + (i * PQ + pq) * Kd;
              const int64_t pp = pq / p.Q, q = pq % p.Q;
              for (int64_t r = 0; r < p.R; ++r) {
                const int64_t ih = pp * p.stride_h - p.pad_h + r * p.dil_h;
                if (ih < 0 || ih >= p.H) continue;
                for (int64_t s = 0; s < p.S; ++s) {
                  const int64_t iw = q * p.stride_w - p.pad_w + s * p.dil_w;
                  if (iw < 0 || iw >= p.W) continue;
                  A* dst = img + (ih * p.W + iw) * Cg;
                  const A* src = row + (r * p.S + s) * Cg;
                  for (int64_t c = 0; c < Cg; ++c) dst[c] += src[c];
                }
              }
            }
            T* out = dx + (n0 + i) * p.x_sn + g * Cg * p.x_sc;
            for (int64_t h = 0; h < p.H; ++h)
              for (int64_t w = 0; w < p.W; ++w)
                for (int64_t c = 0; c < Cg; ++c)
                  out[h * p.x_sh + w * p.x_sw + c * p.x_sc] =
                      static_cast<T>(img[(h * p.W + w) * Cg + c]);
          }
        });
      }
    }
  }

  void wgrad(const Conv2dGradProblem& gp) const {
    const T* dy = static_cast<const T*>(gp.dy);
    const T* x = static_cast<const T*>(p.x);
    T* dw = static_cast<T*>(gp.dw);
    const int64_t chunk = images_per_chunk(p);
    std::vector<A> dym(chunk * PQ * Kg), cols(chunk * PQ * Kd), part(Kg * Kd), sum(Kg * Kd);
    for (int64_t g = 0; g < p.groups; ++g) {
      std::fill(sum.begin(), sum.end(), A(0));  // N == 0 leaves zeros
      for (int64_t n0 = 0; n0 < p.N; n0 += chunk) {
        const int64_t nb = std::min(chunk, p.N - n0), M = nb * PQ;
        pack_dy(dy, g, n0, nb, dym.data());
        gather(x, g, n0, nb, cols.data());
        dense_gemm(acc_type(), Kg, Kd, M, dym.data(), 1, Kg, cols.data(), Kd, 1, part.data());
        for (int64_t i = 0; i < Kg * Kd; ++i) sum[i] += part[i];
      }
      for (int64_t k = 0; k < Kg; ++k)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t r = 0; r < p.R; ++r)
            for (int64_t s = 0; s < p.S; ++s)
              dw[(g * Kg + k) * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss] =
                  static_cast<T>(sum[k * Kd + (r * p.S + s) * Cg + c]);
    }
  }
};

}  // namespace

void conv2d_im2col_cpu(const Conv2dProblem& p) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(cpu)", [&] { Im2col<scalar_t>(p).forward(); });
}

void conv2d_backward_input_im2col_cpu(const Conv2dGradProblem& p) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input(cpu)",
                                [&] { Im2col<scalar_t>(p).dgrad(p); });
}

void conv2d_backward_weight_im2col_cpu(const Conv2dGradProblem& p) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(cpu)",
                                [&] { Im2col<scalar_t>(p).wgrad(p); });
}

}  // namespace cuops
