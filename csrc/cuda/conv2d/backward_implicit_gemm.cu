// Implicit-GEMM gradient kernels of conv2d (step 2 of the dgrad and wgrad
// ladders), on the engine of igemm.cuh.
//
// dgrad: M = N*H*W input pixels x N = C/groups channels, reduced over
//   k = K/groups*R*S. A(m, (k,r,s)) = dy[n][k][p][q] where the tap maps back
//   to an output: p = (h + pad - r*dil) / stride when that divides exactly
//   and lies in [0, P), else 0 (so stride > 1 is exact, at the cost of
//   multiplying zeros: a stride-phase decomposition is the next step).
// wgrad: M = K/groups filters x N = C/groups*R*S taps, reduced over
//   k = N*P*Q, which is long: it is split across grid.z into acc_t partials
//   (deterministic; no atomics) and finished by conv::wgrad_finish_kernel.
#include "cuda/conv2d/igemm.cuh"

namespace cuops::cuda {
namespace {

template <typename T>
struct DgradGemm {
  using A = acc_t<T>;
  Conv2dGradProblem p;
  int64_t M, Ncols, Kdim, k_chunk, HW, Cg, Kg;
  igemm::TapOrder taps;  // (k, r, s) of the reduction index; "c" here is k

  struct Row {  // kept small: 4 live per thread across the whole k loop
    int64_t base, th, tw;
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
    const int64_t n = m / HW, hw = m - n * HW, h = hw / p.W, w = hw - h * p.W;
    r.base = n * p.y_sn + g * Kg * p.y_sk;
    r.th = h + p.pad_h, r.tw = w + p.pad_w;
    return r;
  }
  __device__ A a(const Row& row, int64_t kk) const {
    if (!row.valid) return 0;
    int64_t k, r, s;
    taps.split(kk, k, r, s);
    const int64_t hp = row.th - r * p.dil_h, wp = row.tw - s * p.dil_w;
    if (hp < 0 || wp < 0 || hp % p.stride_h != 0 || wp % p.stride_w != 0) return 0;
    const int64_t pp = hp / p.stride_h, q = wp / p.stride_w;
    if (pp >= p.P || q >= p.Q) return 0;
    return conv::ld(static_cast<const T*>(p.dy), row.base + k * p.y_sk + pp * p.y_sp + q * p.y_sq);
  }
  __device__ Col col(int64_t g, int64_t n) const {
    return {g * Kg * p.w_sk + (n < Cg ? n : 0) * p.w_sc, n < Cg};
  }
  __device__ A b(const Col& col, int64_t kk) const {
    if (!col.valid) return 0;
    int64_t k, r, s;
    taps.split(kk, k, r, s);
    return conv::ld(static_cast<const T*>(p.w), col.base + k * p.w_sk + r * p.w_sr + s * p.w_ss);
  }
  __device__ void store(int64_t g, int64_t, int64_t m, int64_t c, A v) const {
    const int64_t n = m / HW, hw = m - n * HW, h = hw / p.W, w = hw - h * p.W;
    static_cast<T*>(p.dx)[n * p.x_sn + (g * Cg + c) * p.x_sc + h * p.x_sh + w * p.x_sw] =
        static_cast<T>(v);
  }
};

template <typename T>
struct WgradGemm {
  using A = acc_t<T>;
  Conv2dGradProblem p;
  int64_t M, Ncols, Kdim, k_chunk, PQ, Cg, Kg, total;
  igemm::TapOrder taps;  // (c, r, s) of the column index
  A* partial;            // [splits][K*Cg*R*S] in canonical order

  struct Row {
    int64_t base;
    bool valid;
  };
  struct Col {
    int64_t base, roff, soff;
    bool valid;
  };

  __device__ Row row(int64_t g, int64_t m) const {
    return {(g * Kg + (m < Kg ? m : 0)) * p.y_sk, m < Kg};
  }
  __device__ A a(const Row& row, int64_t kk) const {
    if (!row.valid) return 0;
    const int64_t n = kk / PQ, pq = kk - n * PQ, pp = pq / p.Q, q = pq - pp * p.Q;
    return conv::ld(static_cast<const T*>(p.dy), row.base + n * p.y_sn + pp * p.y_sp + q * p.y_sq);
  }
  __device__ Col col(int64_t g, int64_t n) const {
    Col col;
    col.valid = n < Ncols;
    int64_t c, r, s;
    taps.split(col.valid ? n : 0, c, r, s);
    col.base = (g * Cg + c) * p.x_sc;
    col.roff = r * p.dil_h - p.pad_h;
    col.soff = s * p.dil_w - p.pad_w;
    return col;
  }
  __device__ A b(const Col& col, int64_t kk) const {
    if (!col.valid) return 0;
    const int64_t n = kk / PQ, pq = kk - n * PQ, pp = pq / p.Q, q = pq - pp * p.Q;
    const int64_t ih = pp * p.stride_h + col.roff, iw = q * p.stride_w + col.soff;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0;
    return conv::ld(static_cast<const T*>(p.x), col.base + n * p.x_sn + ih * p.x_sh + iw * p.x_sw);
  }
  __device__ void store(int64_t g, int64_t split, int64_t m, int64_t n, A v) const {
    int64_t c, r, s;
    taps.split(n, c, r, s);
    const int64_t k = g * Kg + m;
    partial[split * total + ((k * Cg + c) * p.R + r) * p.S + s] = v;
  }
};

}  // namespace

void conv2d_backward_input_implicit_gemm(const Conv2dGradProblem& p) {
  if (p.N * p.C * p.H * p.W == 0) return;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input(implicit_gemm)", [&] {
    DgradGemm<scalar_t> pr;
    pr.p = p;
    pr.Cg = p.C / p.groups, pr.Kg = p.K / p.groups, pr.HW = p.H * p.W;
    pr.M = p.N * pr.HW, pr.Ncols = pr.Cg, pr.Kdim = pr.Kg * p.R * p.S, pr.k_chunk = pr.Kdim;
    // channels_last dy: reduction order (r, s, k), k fastest, walked by threads.
    const bool dy_cl = p.y_sk == 1 && pr.Kg > 1;
    pr.taps = {pr.Kg, p.R, p.S, dy_cl};
    if (dy_cl) {
      igemm::launch<scalar_t, true, true>(pr, p.groups, 1);
    } else {
      igemm::launch<scalar_t, false, true>(pr, p.groups, 1);
    }
  });
}

void conv2d_backward_weight_implicit_gemm(const Conv2dGradProblem& p) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  const int64_t total = p.K * Cg * p.R * p.S;
  if (total == 0) return;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_weight(implicit_gemm)", [&] {
    WgradGemm<scalar_t> pr;
    pr.p = p;
    pr.Cg = Cg, pr.Kg = Kg, pr.PQ = p.P * p.Q, pr.total = total;
    pr.M = Kg, pr.Ncols = Cg * p.R * p.S, pr.Kdim = p.N * pr.PQ;
    // Split k = N*P*Q so that ~2 waves of blocks run, each slice >= 256 long.
    const int64_t tiles = ceil_div<int64_t>(pr.M, igemm::BM) *
                          ceil_div<int64_t>(pr.Ncols, igemm::BN) * p.groups;
    int64_t splits = std::max<int64_t>(
        1, std::min<int64_t>({ceil_div<int64_t>(2 * num_sms(), tiles),
                              ceil_div<int64_t>(pr.Kdim, 256), 4096}));
    pr.k_chunk = std::max<int64_t>(
        igemm::BK, round_up<int64_t>(ceil_div<int64_t>(pr.Kdim, splits), igemm::BK));
    splits = std::max<int64_t>(1, ceil_div<int64_t>(pr.Kdim, pr.k_chunk));
    at::Tensor partial = conv::acc_workspace<scalar_t>(splits * total);
    pr.partial = partial.data_ptr<acc_t<scalar_t>>();
    // channels_last x and dy: walk c (columns, r,s,c order) and k (rows)
    // across threads; NCHW: walk q, i.e. the reduction index, for both.
    const bool x_cl = p.x_sc == 1 && Cg > 1;
    pr.taps = {Cg, p.R, p.S, x_cl};
    if (x_cl) {
      igemm::launch<scalar_t, false, false>(pr, p.groups, splits);
    } else {
      igemm::launch<scalar_t, true, true>(pr, p.groups, splits);
    }
    conv::launch_wgrad_finish<scalar_t>(p, partial, splits);
  });
}

}  // namespace cuops::cuda
