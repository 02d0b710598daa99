// conv2d_backward_input ladder step "implicit_gemm_mma_phases": dgrad of any
// stride (and dilation) as stride_h*stride_w forward tensor-core
// convolutions, one per output phase of dx; and that decomposition itself
// (conv2d_dgrad_by_phases), which takes the forward step to run.
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
// may be negative (the kernel's taps are bounds-checked reads at
// i - pad' + dd*t', any sign), and the phase's output size needs no relation
// to dy's. A phase without taps (kernel < stride, 1x1 stride 2) is zero. For
// stride 1 this is one phase with the whole flipped filter: the
// flipped-weight forward of the implicit_gemm_mma step.
//
// Work: the taps of all phases are the R*S taps of the filter once, so the
// GEMM-K summed over the phases is that of one stride-1 convolution and no
// multiply hits an inserted zero (the SIMT step multiplies sh*sw times more).
//
// Stages: phase geometry (PhaseAxis, per axis) -> sub-filters packed flipped
// and K <-> C swapped (pack_subfilter_kernel, one buffer) -> per phase the
// forward problem (phase_forward) through `forward`, or zeros.
#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

#include <numeric>

namespace cuops::cuda {
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

// The sub-filter of phase (ah, aw), flipped and K <-> C swapped, as
// out[g*Cg+c][r'][s'][k] = w[g*Kg+k][c][r0 + st*(Th-1-r')][s0 + ss*(Tw-1-s')]:
// taps then k fastest, exactly the B layout the forward mma kernel reads in
// place (kk = (r'*Tw + s')*Kg + k). Data movement only; T = the dtype's bits.
template <typename T>
__global__ void pack_subfilter_kernel(const T* __restrict__ w, T* __restrict__ out, int64_t C,
                                      int Kg, int Cg, int Th, int Tw, int r0, int st, int s0,
                                      int ss, int64_t w_sk, int64_t w_sc, int64_t w_sr,
                                      int64_t w_ss) {
  const int64_t total = C * Th * Tw * Kg;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int k = static_cast<int>(i % Kg);
    int64_t t = i / Kg;
    const int s = static_cast<int>(t % Tw);
    t /= Tw;
    const int r = static_cast<int>(t % Th);
    const int64_t cc = t / Th;  // g*Cg + c
    const int64_t g = cc / Cg, c = cc - g * Cg;
    out[i] = w[(g * Kg + k) * w_sk + c * w_sc + (r0 + st * (Th - 1 - r)) * w_sr +
               (s0 + ss * (Tw - 1 - s)) * w_ss];
  }
}

template <typename T>
void pack_subfilter(const Conv2dGradProblem& p, const PhaseAxis& ah, const PhaseAxis& aw,
                    void* out) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  constexpr int kThreads = 256;
  pack_subfilter_kernel<T><<<grid_for(p.C * ah.taps * aw.taps * Kg, kThreads), kThreads, 0,
                             at::cuda::getCurrentCUDAStream()>>>(
      static_cast<const T*>(p.w), static_cast<T*>(out), p.C, static_cast<int>(Kg),
      static_cast<int>(Cg), static_cast<int>(ah.taps), static_cast<int>(aw.taps),
      static_cast<int>(ah.r0), static_cast<int>(ah.step), static_cast<int>(aw.r0),
      static_cast<int>(aw.step), p.w_sk, p.w_sc, p.w_sr, p.w_ss);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
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

void conv2d_dgrad_by_phases(const Conv2dGradProblem& p, void (*forward)(const Conv2dProblem&)) {
  std::vector<PhaseAxis> rows, cols;
  for (int64_t h0 = 0; h0 < p.stride_h; ++h0) {
    rows.push_back(phase_axis(h0, p.H, p.R, p.stride_h, p.pad_h, p.dil_h));
  }
  for (int64_t w0 = 0; w0 < p.stride_w; ++w0) {
    cols.push_back(phase_axis(w0, p.W, p.S, p.stride_w, p.pad_w, p.dil_w));
  }
  const int64_t Kg = p.K / p.groups;
  const int64_t elem = static_cast<int64_t>(c10::elementSize(p.dtype));
  // Sub-filters in one buffer, each starting 16-byte aligned (the forward
  // reads B in place with 16-byte loads when it is).
  const int64_t align = std::max<int64_t>(1, 16 / elem);
  std::vector<int64_t> offset;
  int64_t total = 0;
  for (const PhaseAxis& ah : rows) {
    for (const PhaseAxis& aw : cols) {
      offset.push_back(total);
      total += round_up<int64_t>(p.C * ah.taps * aw.taps * Kg, align);
    }
  }
  const auto opts = at::TensorOptions().dtype(p.dtype).device(at::kCUDA,
                                                              at::cuda::current_device());
  at::Tensor wf = at::empty({total}, opts);
  char* wf_base = static_cast<char*>(wf.data_ptr());
  size_t i = 0;
  for (const PhaseAxis& ah : rows) {
    for (const PhaseAxis& aw : cols) {
      void* sub = wf_base + offset[i++] * elem;
      if (ah.out == 0 || aw.out == 0) continue;  // the phase holds no dx element
      if (ah.taps == 0 || aw.taps == 0 || Kg == 0) {
        // No tap reaches this phase: its dx elements are zero.
        void* view = static_cast<char*>(p.dx) + (ah.h0 * p.x_sh + aw.h0 * p.x_sw) * elem;
        at::from_blob(view, {p.N, p.C, ah.out, aw.out},
                      {p.x_sn, p.x_sc, p.x_sh * p.stride_h, p.x_sw * p.stride_w}, opts)
            .zero_();
        continue;
      }
      switch (elem) {
        case 2: pack_subfilter<uint16_t>(p, ah, aw, sub); break;
        case 4: pack_subfilter<uint32_t>(p, ah, aw, sub); break;
        default: pack_subfilter<uint64_t>(p, ah, aw, sub); break;
      }
      forward(phase_forward(p, ah, aw, sub));
    }
  }
}

void conv2d_backward_input_implicit_gemm_mma_phases(const Conv2dGradProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.conv2d_backward_input: variant 'implicit_gemm_mma_phases' supports float16 "
              "and bfloat16, got ", p.dtype);
  // The split-K forward: a phase has 1/(sh*sw) of the pixels, so strided
  // layers are where the plain tiles stop filling the GPU.
  conv2d_dgrad_by_phases(p, &conv2d_implicit_gemm_mma_splitk);
}

}  // namespace cuops::cuda
