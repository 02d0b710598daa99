// dgrad of any stride (and dilation) as stride_h*stride_w stride-1 forward
// convolutions, one per output phase of dx (conv2d_dgrad_by_phases): the
// planning of the CUDA steps implicit_gemm_mma / implicit_gemm_mma_phases
// and of the CPU step `phases`, each with its device's forward step.
//
// dx[n][g*Cg+c][h][w] = sum_{k,r,s} dy[n][g*Kg+k][p][q] * w[g*Kg+k][c][r][s]
// over the (r, p) with h = p*sh - ph + r*dh (and the same along w). Split h
// by its phase h = h0 + sh*i, 0 <= h0 < sh: a tap r contributes to phase h0
// iff (h0 + ph - r*dh) % sh == 0, which holds for r = r0 + st*t (st = sh/gcd(sh,
// dh), r0 the smallest such r) or for no r at all. Then
//   p = i + a - dd*t,   a = (h0 + ph - r0*dh) / sh (exact),   dd = dh / gcd(sh, dh)
// so with t' = T-1-t (T = taps r0 + st*t < R) the phase is a stride-1
// forward convolution of dy:
//   dx_h0[i] = sum_t' dy[i - pad' + dd*t'] * w'[t'],   pad' = dd*(T-1) - a,
//   w'[t'] = w[r0 + st*(T-1-t')]   (and K <-> C swapped per group),
// whose output is the strided view dx[h0 :: sh] (row stride sh*x_sh). pad'
// may be negative (the forward's taps are bounds-checked reads at
// i - pad' + dd*t', any sign), and the phase's output size needs no relation
// to dy's. A phase without taps (kernel < stride, 1x1 stride 2) is zero. For
// stride 1 this is one phase with the whole flipped filter.
//
// Work: the taps of all phases are the R*S taps of the filter once, so the
// GEMM-K summed over the phases is that of one stride-1 convolution and no
// multiply hits an inserted zero.
//
// Stages: phase geometry (PhaseAxis, per axis) -> sub-filters packed flipped
// and K <-> C swapped into one buffer (the tap table, moved by the device's
// `pack` in one pass) -> per phase the forward problem (phase_forward)
// through `forward` (or all of them through `forward_all`), or zeros.
#include <numeric>
#include <vector>

#include "conv2d_steps.h"

namespace cuops {
namespace {

// One axis of one phase: output offset h0, its output count, and its taps
// r = r0 + step*t (t < taps) at sub-filter dilation `dil` and padding `pad`.
struct PhaseAxis {
  int64_t h0, out, r0, step, taps, dil, pad;
};

// Phase h0 of an axis: input extent H (dx), filter R, stride, padding
// (top/left), dilation.
PhaseAxis phase_axis(int64_t h0, int64_t H, int64_t R, int64_t stride, int64_t pad,
                     int64_t dil) {
  const int64_t g = std::gcd(stride, dil);
  PhaseAxis a{h0, h0 < H ? ceil_div<int64_t>(H - h0, stride) : 0, 0, stride / g, 0, dil / g, 0};
  for (int64_t r0 = 0; r0 < a.step && r0 < R; ++r0) {
    const int64_t v = h0 + pad - r0 * dil;
    if (((v % stride) + stride) % stride != 0) continue;
    a.r0 = r0;
    a.taps = ceil_div<int64_t>(R - r0, a.step);
    a.pad = a.dil * (a.taps - 1) - v / stride;  // v / stride is exact
    break;
  }
  return a;
}

// The forward problem of phase (ah, aw): input dy, weight the packed
// sub-filter `wf`, output the strided view of dx at (h0, w0).
Conv2dProblem phase_forward(const Conv2dGradProblem& p, const PhaseAxis& ah,
                            const PhaseAxis& aw, const void* wf) {
  const int64_t Kg = p.K / p.groups;
  const int64_t elem = static_cast<int64_t>(c10::elementSize(p.dtype));
  Conv2dProblem q;
  q.N = p.N, q.C = p.K, q.H = p.P, q.W = p.Q;  // "input" = dy
  q.K = p.C, q.R = ah.taps, q.S = aw.taps;     // "output" = the phase of dx
  q.P = ah.out, q.Q = aw.out;
  q.groups = p.groups;
  q.stride_h = 1, q.stride_w = 1;
  q.pad_h = ah.pad, q.pad_w = aw.pad;
  q.dil_h = ah.dil, q.dil_w = aw.dil;
  q.x = p.dy;
  q.x_sn = p.y_sn, q.x_sc = p.y_sk, q.x_sh = p.y_sp, q.x_sw = p.y_sq;
  q.w = wf;
  q.w_sk = ah.taps * aw.taps * Kg, q.w_sc = 1, q.w_sr = aw.taps * Kg, q.w_ss = Kg;
  q.y = static_cast<char*>(p.dx) + (ah.h0 * p.x_sh + aw.h0 * p.x_sw) * elem;
  q.y_sn = p.x_sn, q.y_sk = p.x_sc;
  q.y_sp = p.x_sh * p.stride_h, q.y_sq = p.x_sw * p.stride_w;
  q.bias = nullptr;
  q.dtype = p.dtype;
  return q;
}

}  // namespace

void pack_subfilters_cpu(const Conv2dGradProblem& p, const std::vector<SubfilterTap>& taps,
                         void* packed) {
  const int64_t G = p.groups, Cg = p.C / G, Kg = p.K / G;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input(cpu)", [&] {
    const scalar_t* w = static_cast<const scalar_t*>(p.w);
    scalar_t* out = static_cast<scalar_t*>(packed);
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) {
        const SubfilterTap& t = taps[r * p.S + s];
        if (t.dst < 0) continue;
        for (int64_t g = 0; g < G; ++g)
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t k = 0; k < Kg; ++k)
              out[t.dst + (g * Cg + c) * t.c_step + k] =
                  w[(g * Kg + k) * p.w_sk + c * p.w_sc + r * p.w_sr + s * p.w_ss];
      }
  });
}

void conv2d_dgrad_by_phases(const Conv2dGradProblem& p, at::Device device,
                            Conv2dForwardFn forward, SubfilterPackFn pack,
                            Conv2dForwardAllFn forward_all) {
  std::vector<PhaseAxis> rows, cols;
  for (int64_t h0 = 0; h0 < p.stride_h; ++h0) {
    rows.push_back(phase_axis(h0, p.H, p.R, p.stride_h, p.pad_h, p.dil_h));
  }
  for (int64_t w0 = 0; w0 < p.stride_w; ++w0) {
    cols.push_back(phase_axis(w0, p.W, p.S, p.stride_w, p.pad_w, p.dil_w));
  }
  const int64_t Kg = p.K / p.groups;
  const int64_t elem = static_cast<int64_t>(c10::elementSize(p.dtype));
  // Sub-filters in one buffer, each starting 16-byte aligned (the CUDA
  // forward reads B in place with 16-byte loads when it is).
  const int64_t align = std::max<int64_t>(1, 16 / elem);
  std::vector<int64_t> offset;
  int64_t total = 0;
  for (const PhaseAxis& ah : rows) {
    for (const PhaseAxis& aw : cols) {
      offset.push_back(total);
      total += round_up<int64_t>(p.C * ah.taps * aw.taps * Kg, align);
    }
  }
  const auto opts = at::TensorOptions().dtype(p.dtype).device(device);
  const at::Tensor wf = at::empty({total}, opts);
  if (Kg > 0) {
    // Tap r of phase row ah is sub-filter row r' = T-1-t, t = (r - r0) / step;
    // in the packed [G*Cg][Th][Tw][Kg] block, taps then k fastest (the weight
    // layout the forward reads: w_sk = Th*Tw*Kg, w_sc = 1):
    // (r' * Tw + s') * Kg + c * Th*Tw*Kg.
    std::vector<SubfilterTap> taps(p.R * p.S);
    size_t j = 0;
    for (const PhaseAxis& ah : rows) {
      for (const PhaseAxis& aw : cols) {
        const int64_t off = offset[j++];
        if (ah.out == 0 || aw.out == 0) continue;
        for (int64_t t = 0; t < ah.taps; ++t) {
          for (int64_t u = 0; u < aw.taps; ++u) {
            const int64_t r = ah.r0 + ah.step * t, s = aw.r0 + aw.step * u;
            const int64_t rr = ah.taps - 1 - t, ss = aw.taps - 1 - u;
            taps[r * p.S + s] = {off + (rr * aw.taps + ss) * Kg, ah.taps * aw.taps * Kg};
          }
        }
      }
    }
    pack(p, taps, wf.data_ptr());
  }
  std::vector<Conv2dProblem> phases;
  size_t i = 0;
  for (const PhaseAxis& ah : rows) {
    for (const PhaseAxis& aw : cols) {
      const int64_t off = offset[i++];
      if (ah.out == 0 || aw.out == 0) continue;  // the phase holds no dx element
      if (ah.taps == 0 || aw.taps == 0 || Kg == 0) {
        // No tap reaches this phase: its dx elements are zero.
        void* view = static_cast<char*>(p.dx) + (ah.h0 * p.x_sh + aw.h0 * p.x_sw) * elem;
        at::from_blob(view, {p.N, p.C, ah.out, aw.out},
                      {p.x_sn, p.x_sc, p.x_sh * p.stride_h, p.x_sw * p.stride_w}, opts)
            .zero_();
        continue;
      }
      phases.push_back(phase_forward(p, ah, aw, static_cast<char*>(wf.data_ptr()) + off * elem));
    }
  }
  if (phases.size() > 1 && forward_all != nullptr && forward_all(phases)) return;
  for (const Conv2dProblem& q : phases) forward(q);
}

}  // namespace cuops
