// Step 2 of the conv2d ladder: implicit GEMM with shared-memory tiles (SIMT,
// every dtype). The engine and the tiling idea: igemm.cuh. Here: the forward
// problem functor, M = N*P*Q output pixels x N = K/groups filters, reduced
// over k = C/groups*R*S taps; x is gathered with implicit zero padding.
#include "cuda/conv2d/igemm.cuh"

namespace cuops::cuda {
namespace {

template <typename T>
struct FwdGemm {
  using A = acc_t<T>;
  Conv2dProblem p;
  int64_t M, Ncols, Kdim, k_chunk, PQ, Cg, Kg;
  igemm::TapOrder taps;

  struct Row {
    int64_t base, ih0, iw0;
    bool valid;
  };
  struct Col {
    int64_t base;
    bool valid;
  };

  __device__ Row row(int64_t g, int64_t m) const {
    Row r;
    r.valid = m < M;
    if (!r.valid) m = 0;
    const int64_t n = m / PQ, pq = m - n * PQ, pp = pq / p.Q, q = pq - pp * p.Q;
    r.base = n * p.x_sn + g * Cg * p.x_sc;
    r.ih0 = pp * p.stride_h - p.pad_h;
    r.iw0 = q * p.stride_w - p.pad_w;
    return r;
  }
  __device__ A a(const Row& row, int64_t kk) const {
    if (!row.valid) return 0;
    int64_t c, r, s;
    taps.split(kk, c, r, s);
    const int64_t ih = row.ih0 + r * p.dil_h, iw = row.iw0 + s * p.dil_w;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0;
    return conv::ld(static_cast<const T*>(p.x), row.base + c * p.x_sc + ih * p.x_sh + iw * p.x_sw);
  }
  __device__ Col col(int64_t g, int64_t n) const {
    return {(g * Kg + (n < Kg ? n : 0)) * p.w_sk, n < Kg};
  }
  __device__ A b(const Col& col, int64_t kk) const {
    if (!col.valid) return 0;
    int64_t c, r, s;
    taps.split(kk, c, r, s);
    return conv::ld(static_cast<const T*>(p.w), col.base + c * p.w_sc + r * p.w_sr + s * p.w_ss);
  }
  __device__ void store(int64_t g, int64_t, int64_t m, int64_t n, A v) const {
    const int64_t k = g * Kg + n;
    const int64_t nb = m / PQ, pq = m - nb * PQ, pp = pq / p.Q, q = pq - pp * p.Q;
    if (p.bias) v += conv::ld(static_cast<const T*>(p.bias), k);
    static_cast<T*>(p.y)[nb * p.y_sn + k * p.y_sk + pp * p.y_sp + q * p.y_sq] = static_cast<T>(v);
  }
};

}  // namespace

void conv2d_implicit_gemm(const Conv2dProblem& p) {
  if (p.N * p.K * p.P * p.Q == 0) return;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(implicit_gemm)", [&] {
    FwdGemm<scalar_t> pr;
    pr.p = p;
    pr.Cg = p.C / p.groups, pr.Kg = p.K / p.groups, pr.PQ = p.P * p.Q;
    pr.M = p.N * pr.PQ, pr.Ncols = pr.Kg, pr.Kdim = pr.Cg * p.R * p.S, pr.k_chunk = pr.Kdim;
    // channels_last x: walk k (= r, s, c with c fastest) across threads.
    const bool x_cl = p.x_sc == 1 && pr.Cg > 1;
    pr.taps = {pr.Cg, p.R, p.S, x_cl};
    if (x_cl) {
      igemm::launch<scalar_t, true, true>(pr, p.groups, 1);
    } else {
      igemm::launch<scalar_t, false, true>(pr, p.groups, 1);
    }
  });
}

}  // namespace cuops::cuda
