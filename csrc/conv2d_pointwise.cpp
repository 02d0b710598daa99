// The "gemm" steps of the conv2d, conv2d_backward_input and
// conv2d_backward_weight ladders, CPU and CUDA: a pointwise convolution (1x1,
// unpadded; is_pointwise in csrc/conv2d.h) is a plain GEMM, run by what the
// device's cuops.matmul runs by default (PointwiseKernels::gemm; CUDA:
// gemm_default, the fastest GEMM step and its planning, csrc/cuda/conv2d/
// gemm_1x1.cu; CPU: the CPU GEMM). This planning is device-independent, so
// the CPU tests prove what the CUDA steps run. Per group:
//
//   forward  y[pix][k]   = sum_c x[pix'][c] * w[k][c]  (+ bias[k])
//   dgrad    dx[pix'][c] = sum_k dy[pix][k] * w[k][c]  (dx = 0 at pixels no
//                                                       output reads)
//   wgrad    dw[k][c]    = sum_pix dy[pix][k] * x[pix'][c]
//
// with pix = (n, p, q) an output pixel and pix' = (n, p*sh, q*sw) the input
// pixel it reads. Forward and dgrad are one "channel mix" of a pixel-indexed
// tensor by a weight matrix (channel_mix); wgrad reduces over the pixels
// (GEMM-K = N*P*Q: the CUDA gemm_default's planning splits it).
//
// The GEMM wants each operand's pixels at one stride. The (n, p, q) dims are
// merged where every operand runs on evenly: channels_last tensors merge all
// three (one GEMM of N*P*Q pixel rows), NCHW ones (p, q) (a GEMM per image,
// the weight broadcast with batch stride 0). The outer dims left over and the
// groups are the GEMM's batch dims. Where that would index badly, data
// movement (ATen copies, no arithmetic) makes it uniform:
//  - stride > 1: forward and wgrad read a dense gathered copy of
//    x[:, :, ::sh, ::sw]; dgrad writes a dense temporary, then dx = 0 and a
//    scatter copy into dx[:, :, ::sh, ::sw].
//  - wgrad of NCHW tensors (images do not merge): channel-major copies
//    [ch][N*P*Q] (rows of P*Q copied whole), then one GEMM; fp32/fp64 with
//    large images instead sum per-image GEMMs' partials (wgrad_per_image,
//    PointwiseKernels::sum_images).
//  - NCHW images of fewer than kMinImagePixels pixels (ResNet's 7x7): the
//    per-image GEMM's 128-wide pixel tiles would be mostly empty, so the mix
//    runs on channels_last copies as one tall GEMM.
// Orientation: the output's unit-stride dim is the GEMM's N, so C is row-major
// (the GEMMs' vectorized epilogue). channels_last: pixels are rows and the
// bias (per column in GemmProblem) is fused; NCHW: channels are rows, and a
// bias is added by a second pass over y (PointwiseKernels::add_bias).
#include <c10/util/accumulate.h>

#include <array>
#include <vector>

#include "conv2d_steps.h"
#include "indexing.h"

namespace cuops {
namespace {

// An NCHW image with fewer pixels than one GEMM tile is wide runs through
// channels_last copies (one GEMM over all images' pixels).
constexpr int64_t kMinImagePixels = 128;

at::TensorOptions options(at::ScalarType dtype, at::Device device) {
  return at::TensorOptions().dtype(dtype).device(device);
}

// An (N, channels, P, Q) view of problem memory through its element strides.
at::Tensor view4(const void* ptr, std::array<int64_t, 4> sizes, std::array<int64_t, 4> strides,
                 at::ScalarType dtype, at::Device device) {
  return at::from_blob(const_cast<void*>(ptr), sizes, strides, options(dtype, device));
}

// channels_last (the channels at unit stride) rather than NCHW; a tensor
// dense in both (one channel, or 1x1 images) counts as NCHW.
bool channels_inner(const at::Tensor& t) {
  return t.size(1) > 1 && t.stride(1) == 1 && !t.is_contiguous();
}

// `t` dense in the memory format `like` has (a copy unless it already is).
at::Tensor dense_like(const at::Tensor& t, const at::Tensor& like) {
  return t.contiguous(channels_inner(like) ? at::MemoryFormat::ChannelsLast
                                           : at::MemoryFormat::Contiguous);
}

// The pixel dims (n, p, q) of pixel-indexed (N, ch, P, Q) tensors, size-1
// dims dropped and neighbours merged where every tensor runs on evenly. The
// innermost merged dim is the GEMM's pixel dim (`extent`, `stride` per
// tensor); the outer ones are batch dims.
template <int NT>
struct PixelDims {
  int64_t extent = 1;
  std::array<int64_t, NT> stride{};
  std::vector<int64_t> batch_sizes;
  std::array<std::vector<int64_t>, NT> batch_strides;
};

template <int NT>
PixelDims<NT> pixel_dims(const std::array<const at::Tensor*, NT>& ts) {
  const at::Tensor& t0 = *ts[0];
  const std::array<int64_t, 3> sizes{t0.size(0), t0.size(2), t0.size(3)};
  std::array<std::vector<int64_t>, NT> st;
  for (int i = 0; i < NT; ++i) st[i] = {ts[i]->stride(0), ts[i]->stride(2), ts[i]->stride(3)};
  const OffsetCalculator<NT> oc = make_offset_calculator<NT>(sizes, st);
  PixelDims<NT> d;
  if (oc.ndim == 0) {  // one pixel: its stride is never used
    for (int i = 0; i < NT; ++i) d.stride[i] = ts[i]->stride(3);
    return d;
  }
  const int in = oc.ndim - 1;
  d.extent = oc.sizes[in];
  for (int i = 0; i < NT; ++i) d.stride[i] = oc.strides[i][in];
  for (int k = 0; k < in; ++k) {
    d.batch_sizes.push_back(oc.sizes[k]);
    for (int i = 0; i < NT; ++i) d.batch_strides[i].push_back(oc.strides[i][k]);
  }
  return d;
}

// The pixels of `t` at one stride, with a unit stride in pixels or channels
// (what wgrad's GEMM-K needs): `t` itself, or a dense copy that keeps its
// contiguous dim: [pixels][ch] (channels_last) when the channels are
// unit-stride, else [ch][pixels] (channel-major, rows of P*Q copied whole).
at::Tensor with_one_pixel_stride(const at::Tensor& t) {
  const PixelDims<1> d = pixel_dims<1>({&t});
  if (d.batch_sizes.empty() && (t.stride(1) == 1 || d.stride[0] == 1 || d.extent == 1))
    return t;
  if (t.stride(1) == 1 && t.size(1) > 1) return t.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor out = at::empty({t.size(1), t.size(0), t.size(2), t.size(3)}, t.options())
                       .permute({1, 0, 2, 3});
  out.copy_(t);
  return out;
}

const void* offset(const void* p, int64_t elems, at::ScalarType dtype) {
  return static_cast<const char*>(p) + elems * static_cast<int64_t>(c10::elementSize(dtype));
}

// The weight of a channel mix: element (i, o) of group g's matrix at
// w + g*sg + i*si + o*so.
struct MixWeight {
  const void* w;
  int64_t si, so, sg;
  int64_t groups;
  const void* bias;  // [groups * Og] or null
};

// out[n][g*Og + o][p][q] = sum_i in[n][g*Ig + i][p][q] * W_g[i][o] (+ bias):
// `in` and `out` are pixel-indexed (N, channels, P, Q) views of equal N, P, Q.
void channel_mix(at::Tensor in, const at::Tensor& out, const MixWeight& w,
                 const PointwiseKernels& kernels) {
  const at::ScalarType dtype = out.scalar_type();
  const int64_t G = w.groups, Ig = in.size(1) / G, Og = out.size(1) / G;
  if (Ig == 0) {  // an empty sum: the GEMMs take K >= 1 only
    if (w.bias != nullptr)
      out.copy_(view4(w.bias, {1, out.size(1), 1, 1}, {out.size(1), 1, 1, 1}, dtype,
                          kernels.device)
                    .expand_as(out));
    else
      out.zero_();
    return;
  }
  // `in` must merge its pixels as `out` does, with a unit stride in pixels or
  // channels; else (strided gather, odd views) a dense copy in out's layout.
  {
    const PixelDims<1> o = pixel_dims<1>({&out});
    const PixelDims<2> io = pixel_dims<2>({&in, &out});
    if (io.batch_sizes.size() != o.batch_sizes.size() ||
        (in.stride(1) != 1 && io.stride[0] != 1 && io.extent > 1))
      in = dense_like(in, out);
  }
  const PixelDims<2> px = pixel_dims<2>({&in, &out});  // [0] = in, [1] = out
  const bool rows = channels_inner(out) || px.stride[1] != 1;  // pixels are the GEMM's M
  if (!rows && !px.batch_sizes.empty() && px.extent < kMinImagePixels) {
    const at::Tensor in_cl = in.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor out_cl = at::empty(out.sizes(), out.options(), at::MemoryFormat::ChannelsLast);
    // The pixels merge across images now: no further round trip.
    channel_mix(in_cl, out_cl, w, kernels);
    out.copy_(out_cl);
    return;
  }
  const int64_t in_sc = in.stride(1), out_sc = out.stride(1);

  // Groups [g0, g0 + ng) as one batched GEMM; batch dims: group, outer pixel dims.
  const auto run = [&](int64_t g0, int64_t ng, const void* bias) {
    GemmProblem g;
    g.dtype = dtype;
    g.K = Ig;
    const void* in_p = offset(in.const_data_ptr(), g0 * Ig * in_sc, dtype);
    const void* w_p = offset(w.w, g0 * w.sg, dtype);
    void* out_p = const_cast<void*>(offset(out.data_ptr(), g0 * Og * out_sc, dtype));
    if (rows) {  // C[pix][o] = in[pix][i] . W[i][o]
      g.M = px.extent, g.N = Og;
      g.a = in_p, g.a_sm = px.stride[0], g.a_sk = in_sc;
      g.b = w_p, g.b_sk = w.si, g.b_sn = w.so;
    } else {  // C[o][pix] = W^T[o][i] . in^T[i][pix]
      g.M = Og, g.N = px.extent;
      g.a = w_p, g.a_sm = w.so, g.a_sk = w.si;
      g.b = in_p, g.b_sk = in_sc, g.b_sn = px.stride[0];
    }
    g.c = out_p;
    g.c_sm = rows ? px.stride[1] : out_sc;
    g.c_sn = rows ? out_sc : px.stride[1];
    g.bias = bias;
    std::vector<int64_t> shape{ng}, s_out{Og * out_sc}, s_in{Ig * in_sc}, s_w{w.sg};
    for (size_t k = 0; k < px.batch_sizes.size(); ++k) {
      shape.push_back(px.batch_sizes[k]);
      s_out.push_back(px.batch_strides[1][k]);
      s_in.push_back(px.batch_strides[0][k]);
      s_w.push_back(0);  // the weight is shared by every image
    }
    g.batch = c10::multiply_integers(shape);
    g.batch_oc = make_offset_calculator<3>(shape, {s_out, rows ? s_in : s_w, rows ? s_w : s_in});
    kernels.gemm(g);
  };
  if (!rows) {
    run(0, G, nullptr);
    if (w.bias != nullptr) kernels.add_bias(out, w.bias);
  } else if (w.bias != nullptr && G > 1) {  // GemmProblem's bias has no batch offset
    for (int64_t g = 0; g < G; ++g) run(g, 1, offset(w.bias, g * Og, dtype));
  } else {
    run(0, G, w.bias);
  }
}

// fp32/fp64 wgrad of tensors whose pixels merge inside each image but not
// across images (NCHW, stride 1): a GEMM per image (GEMM-K = P*Q) into
// partials [N][K][Cg] of the dtype itself (fp32 / fp64 accumulation, as one
// GEMM), then kernels.sum_images. Saves the channel-major copies of dy and x
// when the partials are small next to them (K*Cg <= (K + C)*P*Q / 8). fp16/bf16
// would round each partial: they take the copies. Returns whether it ran.
bool wgrad_per_image(const Conv2dGradProblem& p, const at::Tensor& dy, const at::Tensor& x,
                     const PointwiseKernels& kernels) {
  const int64_t G = p.groups, Kg = p.K / G, Cg = p.C / G;
  if (!(p.dtype == at::kFloat || p.dtype == at::kDouble) || p.N < 2) return false;
  const PixelDims<2> d = pixel_dims<2>({&dy, &x});  // [0] = dy, [1] = x
  if (d.batch_sizes.size() != 1 || d.batch_sizes[0] != p.N || d.extent != p.P * p.Q) return false;
  if ((dy.stride(1) != 1 && d.stride[0] != 1) || (x.stride(1) != 1 && d.stride[1] != 1))
    return false;
  if (p.K * Cg * 8 > (p.K + p.C) * p.P * p.Q) return false;
  at::Tensor partial = at::empty({p.N, p.K, Cg}, options(p.dtype, kernels.device));
  GemmProblem g;  // partial[n][g*Kg + k][c] = dy[n]^T[k][pix] . x[n][pix][c]
  g.dtype = p.dtype;
  g.M = Kg, g.N = Cg, g.K = d.extent;
  g.a = dy.const_data_ptr(), g.a_sm = dy.stride(1), g.a_sk = d.stride[0];
  g.b = x.const_data_ptr(), g.b_sk = d.stride[1], g.b_sn = x.stride(1);
  g.c = partial.data_ptr(), g.c_sm = Cg, g.c_sn = 1;
  g.batch = G * p.N;
  g.batch_oc = make_offset_calculator<3>(
      std::vector<int64_t>{G, p.N},
      {std::vector<int64_t>{Kg * Cg, p.K * Cg},
       std::vector<int64_t>{Kg * dy.stride(1), d.batch_strides[0][0]},
       std::vector<int64_t>{Cg * x.stride(1), d.batch_strides[1][0]}});
  kernels.gemm(g);
  kernels.sum_images(partial, p);
  return true;
}

}  // namespace

void conv2d_pointwise(const Conv2dProblem& p, const PointwiseKernels& kernels) {
  const at::Device dev = kernels.device;
  const at::Tensor y = view4(p.y, {p.N, p.K, p.P, p.Q}, {p.y_sn, p.y_sk, p.y_sp, p.y_sq},
                             p.dtype, dev);
  const int64_t Kg = p.K / p.groups;
  const MixWeight w{p.w, p.w_sc, p.w_sk, Kg * p.w_sk, p.groups, p.bias};
  if (p.C == 0) {  // no input to view: y = bias or 0
    channel_mix(at::empty({p.N, 0, p.P, p.Q}, options(p.dtype, dev)), y, w, kernels);
    return;
  }
  // x at the pixels the outputs read: (n, p*sh, q*sw).
  const at::Tensor x = view4(p.x, {p.N, p.C, p.P, p.Q},
                             {p.x_sn, p.x_sc, p.x_sh * p.stride_h, p.x_sw * p.stride_w}, p.dtype,
                             dev);
  channel_mix(x, y, w, kernels);
}

void conv2d_backward_input_pointwise(const Conv2dGradProblem& p, const PointwiseKernels& kernels) {
  const at::Device dev = kernels.device;
  const at::Tensor dy =
      view4(p.dy, {p.N, p.K, p.P, p.Q}, {p.y_sn, p.y_sk, p.y_sp, p.y_sq}, p.dtype, dev);
  const at::Tensor dx =
      view4(p.dx, {p.N, p.C, p.H, p.W}, {p.x_sn, p.x_sc, p.x_sh, p.x_sw}, p.dtype, dev);
  const int64_t Kg = p.K / p.groups;
  const MixWeight w{p.w, p.w_sk, p.w_sc, Kg * p.w_sk, p.groups, nullptr};
  if (p.P == p.H && p.Q == p.W) {  // stride 1: every input pixel is read once
    channel_mix(dy, dx, w, kernels);
    return;
  }
  // Strided: the read pixels get dy . w (through a dense temporary: their
  // rows do not merge in dx), the others 0.
  at::Tensor tmp = at::empty({p.N, p.C, p.P, p.Q}, dx.options(),
                             channels_inner(dx) ? at::MemoryFormat::ChannelsLast
                                                : at::MemoryFormat::Contiguous);
  channel_mix(dy, tmp, w, kernels);
  dx.zero_();
  dx.slice(2, 0, (p.P - 1) * p.stride_h + 1, p.stride_h)
      .slice(3, 0, (p.Q - 1) * p.stride_w + 1, p.stride_w)
      .copy_(tmp);
}

void conv2d_backward_weight_pointwise(const Conv2dGradProblem& p,
                                      const PointwiseKernels& kernels) {
  const at::Device dev = kernels.device;
  const int64_t G = p.groups, Kg = p.K / G, Cg = p.C / G;
  if (p.K == 0 || Cg == 0) return;  // nothing to write
  const at::Tensor dw = view4(p.dw, {p.K, Cg, 1, 1}, {p.w_sk, p.w_sc, p.w_sr, p.w_ss},
                              p.dtype, dev);
  if (p.N == 0) {  // an empty sum: the GEMMs take K >= 1 only
    dw.zero_();
    return;
  }
  const at::Tensor dy0 =
      view4(p.dy, {p.N, p.K, p.P, p.Q}, {p.y_sn, p.y_sk, p.y_sp, p.y_sq}, p.dtype, dev);
  const at::Tensor x0 = view4(p.x, {p.N, p.C, p.P, p.Q},
                              {p.x_sn, p.x_sc, p.x_sh * p.stride_h, p.x_sw * p.stride_w}, p.dtype,
                              dev);
  if (wgrad_per_image(p, dy0, x0, kernels)) return;
  // GEMM-K runs over all N*P*Q pixels: each operand's pixels at one stride.
  const at::Tensor dy = with_one_pixel_stride(dy0), x = with_one_pixel_stride(x0);
  const PixelDims<1> dyp = pixel_dims<1>({&dy}), xp = pixel_dims<1>({&x});
  GemmProblem g;  // dw[k][c] = dy^T[k][pix] . x[pix][c], batched over groups
  g.dtype = p.dtype;
  g.M = Kg, g.N = Cg, g.K = p.N * p.P * p.Q;
  g.a = dy.const_data_ptr(), g.a_sm = dy.stride(1), g.a_sk = dyp.stride[0];
  g.b = x.const_data_ptr(), g.b_sk = xp.stride[0], g.b_sn = x.stride(1);
  g.c = p.dw, g.c_sm = p.w_sk, g.c_sn = p.w_sc;
  g.batch = G;
  g.batch_oc = make_offset_calculator<3>(
      std::vector<int64_t>{G}, {std::vector<int64_t>{Kg * p.w_sk},
                                std::vector<int64_t>{Kg * dy.stride(1)},
                                std::vector<int64_t>{Cg * x.stride(1)}});
  kernels.gemm(g);
}

}  // namespace cuops
