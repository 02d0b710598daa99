// conv2d_backward_input ladder step "im2col_gemm" (CUDA; the CPU ladder's
// step of that name is the same idea): dgrad as one GEMM and a gather, for
// layers with few input channels.
//
//   cols[pix][(r, s, c)] = sum_k dy[pix][k] * w[k][c][r][s]        (the GEMM)
//   dx[n][c][h][w]       = sum over the taps (r, s) that reach (h, w) from an
//                          output pixel (p, q) of cols[(n, p, q)][(r, s, c)]
//
// Why: the phase steps make each stride phase a forward convolution whose
// filters are dx's channels. With C = 3 (an RGB stem's dgrad) a tensor-core
// tile computes 3 of its 64 columns (7x7/2 stem, batch 32, bf16, H100,
// 2026-12-07: 0.72 ms in the mma.sync phases), and the narrow SIMT forward
// gathers a channels_last dy element by element (9.2 ms). Here the GEMM's N is
// R*S*C (147 for a 7x7 stem), wide enough for the tiles, its K dy's channels.
// The gather then adds at most R*S fp32 values per dx element in a fixed tap
// order (deterministic) and rounds once.
//
// Stages: dy as [N*P*Q][K] rows (a dense channels_last copy where it is not
// one: data movement) and w packed [K][R][S][C] (tiny) -> per chunk of images
// cols = dy . w in fp32 (fp64 for fp64; matmul's tile kernel with an
// accumulator-typed C, gemm_tile_acc) -> gather_kernel writes dx through its
// strides. cols is bounded by kMaxColsElems: the images run in chunks.
// Groups other than 1 go to the ladder's default.
#include <ATen/cuda/CUDAContext.h>

#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"
#include "cuda/matmul/kernels.h"

namespace cuops::cuda {
namespace {

constexpr int64_t kMaxColsElems = int64_t{64} << 20;  // 256 MB of fp32 accumulators
constexpr int kThreads = 256;

// dx's geometry for the gather; `c_fast`: thread order (n, h, w, c), the
// channels_last dx's memory order (else (n, c, h, w)).
struct GatherArgs {
  int64_t N, C, H, W, P, Q;  // N: images of this chunk
  int64_t ld;                // cols' row stride (R*S*C rounded up to 8)
  int64_t sn, sc, sh, sw;    // dx element strides
  int R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  bool c_fast;
};

template <typename T, typename A>
__global__ void __launch_bounds__(kThreads)
    gather_kernel(const A* __restrict__ cols, T* __restrict__ dx, const GatherArgs g) {
  const int64_t total = g.N * g.C * g.H * g.W;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    int64_t n, c, h, w;
    if (g.c_fast) {
      c = i % g.C;
      w = i / g.C % g.W;
      h = i / (g.C * g.W) % g.H;
      n = i / (g.C * g.W * g.H);
    } else {
      w = i % g.W;
      h = i / g.W % g.H;
      c = i / (g.W * g.H) % g.C;
      n = i / (g.W * g.H * g.C);
    }
    A acc = 0;
    for (int r = 0; r < g.R; ++r) {
      const int64_t ph = h + g.pad_h - static_cast<int64_t>(r) * g.dil_h;
      if (ph < 0 || ph % g.stride_h != 0 || ph / g.stride_h >= g.P) continue;
      const int64_t row = (n * g.P + ph / g.stride_h) * g.Q;
      for (int s = 0; s < g.S; ++s) {
        const int64_t qw = w + g.pad_w - static_cast<int64_t>(s) * g.dil_w;
        if (qw < 0 || qw % g.stride_w != 0 || qw / g.stride_w >= g.Q) continue;
        acc += cols[(row + qw / g.stride_w) * g.ld + (static_cast<int64_t>(r) * g.S + s) * g.C + c];
      }
    }
    dx[n * g.sn + c * g.sc + h * g.sh + w * g.sw] = static_cast<T>(acc);
  }
}

void gather(const at::Tensor& cols, const Conv2dGradProblem& p, int64_t n0, int64_t count) {
  GatherArgs g{};
  g.N = count, g.C = p.C, g.H = p.H, g.W = p.W, g.P = p.P, g.Q = p.Q;
  g.ld = cols.stride(0);
  g.sn = p.x_sn, g.sc = p.x_sc, g.sh = p.x_sh, g.sw = p.x_sw;
  g.R = static_cast<int>(p.R), g.S = static_cast<int>(p.S);
  g.stride_h = static_cast<int>(p.stride_h), g.stride_w = static_cast<int>(p.stride_w);
  g.pad_h = static_cast<int>(p.pad_h), g.pad_w = static_cast<int>(p.pad_w);
  g.dil_h = static_cast<int>(p.dil_h), g.dil_w = static_cast<int>(p.dil_w);
  g.c_fast = p.x_sc == 1 && p.C > 1;
  const int64_t total = count * p.C * p.H * p.W;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d_backward_input(im2col_gemm)", [&] {
    using A = acc_t<scalar_t>;
    scalar_t* dx = static_cast<scalar_t*>(p.dx) + n0 * p.x_sn;
    gather_kernel<scalar_t, A><<<grid_for(total, kThreads), kThreads, 0,
                                 at::cuda::getCurrentCUDAStream()>>>(
        cols.const_data_ptr<A>(), dx, g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

// The geometry the gather's 32-bit fields hold (tap counts, strides,
// paddings, dilations); others go to the ladder's default.
bool fits(const Conv2dGradProblem& p) {
  const auto small = [](int64_t v) { return v >= 0 && v < (int64_t{1} << 30); };
  return small(p.R) && small(p.S) && small(p.stride_h) && small(p.stride_w) && small(p.pad_h) &&
         small(p.pad_w) && small(p.dil_h) && small(p.dil_w);
}

}  // namespace

void conv2d_backward_input_im2col_gemm(const Conv2dGradProblem& p) {
  if (p.groups != 1 || !fits(p)) return conv2d_backward_input_default(p);
  const auto opts = at::TensorOptions().device(at::kCUDA, at::cuda::current_device());
  const int64_t PQ = p.P * p.Q, RSC = p.R * p.S * p.C;
  if (p.N * p.C * p.H * p.W == 0) return;
  if (p.K == 0 || PQ == 0) {  // no output pixel reaches dx: its gradient is zero
    at::from_blob(p.dx, {p.N, p.C, p.H, p.W}, {p.x_sn, p.x_sc, p.x_sh, p.x_sw},
                  opts.dtype(p.dtype))
        .zero_();
    return;
  }
  // dy as [N*P*Q][K] rows.
  at::Tensor dy_copy;
  const void* dy = p.dy;
  if (!y_dense_channels_last(p)) {
    dy_copy = at::from_blob(const_cast<void*>(p.dy), {p.N, p.K, p.P, p.Q},
                            {p.y_sn, p.y_sk, p.y_sp, p.y_sq}, opts.dtype(p.dtype))
                  .permute({0, 2, 3, 1})
                  .contiguous();
    dy = dy_copy.const_data_ptr();
  }
  // w as [K][(r, s, c)]: consecutive channels are consecutive columns, so
  // the gather's lanes (consecutive c of a channels_last dx) read neighbours.
  const at::Tensor wk = at::from_blob(const_cast<void*>(p.w), {p.K, p.C, p.R, p.S},
                                      {p.w_sk, p.w_sc, p.w_sr, p.w_ss}, opts.dtype(p.dtype))
                            .permute({0, 2, 3, 1})
                            .contiguous();
  // cols rows padded to 8 columns: the GEMM stores C in pairs, 16-byte rows.
  const int64_t ld = round_up<int64_t>(RSC, 8);
  const int64_t images = std::max<int64_t>(1, std::min(p.N, kMaxColsElems / (PQ * ld)));
  const auto acc = p.dtype == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor cols = at::empty({images * PQ, ld}, opts.dtype(acc));
  const int64_t elem = static_cast<int64_t>(c10::elementSize(p.dtype));
  for (int64_t n0 = 0; n0 < p.N; n0 += images) {
    const int64_t count = std::min(images, p.N - n0);
    GemmProblem g;  // cols[pix][j] = dy[pix][k] . wk[k][j]
    g.M = count * PQ, g.N = RSC, g.K = p.K;
    g.a = static_cast<const char*>(dy) + n0 * PQ * p.K * elem;
    g.a_sm = p.K, g.a_sk = 1;
    g.b = wk.const_data_ptr();
    g.b_sk = RSC, g.b_sn = 1;
    g.c = cols.data_ptr();
    g.c_sm = ld, g.c_sn = 1;
    g.dtype = p.dtype;
    gemm_tile_acc(g);  // true fp32 for fp32 (g.allow_tf32 is false)
    gather(cols, p, n0, count);
  }
}

}  // namespace cuops::cuda
