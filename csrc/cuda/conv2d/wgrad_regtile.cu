// Step 2b of the conv2d wgrad ladder: implicit GEMM with the register tiling
// of the forward implicit_gemm_regtile (regtile.cuh; fp32, true fp32).
//
// GEMM per group: dw[k][tap] = sum over pixels j < N*P*Q of dy[j][k] *
// im2col(x)[j][tap], M = K/groups filters, N = C/groups*R*S taps, reduced
// over the pixels. The pixel range is split into fixed chunks (the count
// from the shape only) whose fp32 sums go to partial rows [split][K*Cg*R*S]
// (KCRS order); conv::wgrad_finish_kernel adds the rows in a fixed order and
// writes dw through its strides: deterministic, no atomics.
//
// Loaders: thread (kk = tid % BK, r_t = tid / BK) loads, each slice, pixel
// k0 + kk of 4 tile rows r_t + 32 i for both operands: dy rows = filters,
// x rows = taps. So one pixel decomposition (n, p, q) per thread per slice
// serves 8 loads, and the thread's 4 tap-table entries stay in registers for
// the whole kernel (the tap table of the forward, regtile::tap_entry). A
// warp reads 8 consecutive pixels x 4 rows: contiguous along q for NCHW;
// channels_last reads consecutive taps (c fastest) of a pixel.
#include "cuda/conv2d/regtile.cuh"

namespace cuops::cuda {
namespace {

using regtile::C;

using regtile::WgradArgs;

constexpr int kRowStep = C::THREADS / C::BK;  // 32: rows apart of one thread's loads
constexpr int kRows = C::BM / kRowStep;       // 4 loads per operand per slice
static_assert(C::BM == C::BN && C::THREADS % C::BK == 0 && C::BM % kRowStep == 0,
              "one pixel x 4 rows per thread for both operands");


__global__ void __launch_bounds__(C::THREADS, C::MIN_BLOCKS)
    wgrad_regtile_kernel(const __grid_constant__ WgradArgs a) {
  __shared__ __align__(16) float As[2][C::BK * C::LD];
  __shared__ __align__(16) float Bs[2][C::BK * C::LD];
  const int tid = threadIdx.x, kk = tid % C::BK, r_t = tid / C::BK;
  const int64_t g = a.g0 + static_cast<int64_t>(blockIdx.z);
  const int split = static_cast<int>(blockIdx.y);
  const int m0 = static_cast<int>(blockIdx.x / a.n_tiles) * C::BM;
  const int n0 = static_cast<int>(blockIdx.x % a.n_tiles) * C::BN;
  const int j_begin = split * a.chunk, j_end = min(j_begin + a.chunk, a.npq);

  int4 taps[kRows];  // this thread's B rows (taps), fixed for the kernel
#pragma unroll
  for (int i = 0; i < kRows; ++i) taps[i] = __ldg(a.tab + n0 + r_t + i * kRowStep);
  const float* dyg = a.dy + (g * a.Kg + m0 + r_t) * a.y_sk;  // row r_t of the A tile
  const float* xg = a.x + g * a.x_sg;
  const int rows_a = a.Kg - m0 - r_t;  // A rows r_t + 32 i < Kg - m0

  float ra[kRows], rb[kRows];
  auto fetch = [&](int t) {
    const int j = j_begin + t * C::BK + kk;
    const bool jok = j < j_end;
    const regtile::WgradPixel w = regtile::wgrad_pixel(a, j, jok);
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      ra[i] = jok && i * kRowStep < rows_a ? __ldg(dyg + i * kRowStep * a.y_sk + w.py) : 0.f;
      const int4 e = taps[i];
      const bool in = static_cast<unsigned>(w.ih0 + e.y) < static_cast<unsigned>(a.H) &&
                      static_cast<unsigned>(w.iw0 + e.z) < static_cast<unsigned>(a.W);
      rb[i] = in ? __ldg(xg + w.px + e.x) : 0.f;
    }
  };
  // Lanes: 8 pixels (rows 132 floats apart: banks 4 apart) x 4 rows.
  auto stash = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      As[buf][kk * C::LD + r_t + i * kRowStep] = ra[i];
      Bs[buf][kk * C::LD + r_t + i * kRowStep] = rb[i];
    }
  };

  const regtile::ThreadTile tt(tid);
  float acc[C::ACC_M][C::ACC_N];
  regtile::main_loop(a.chunk / C::BK, As, Bs, 0, tt, acc, fetch, stash);

  // Partial row `split`, KCRS order: (g*Kg + m) * Kdim + (c*R*S + r*S + s).
  float* out = a.partial + split * a.total + g * a.Kg * static_cast<int64_t>(a.Kdim);
  int canon[C::ACC_N];
#pragma unroll
  for (int j = 0; j < C::ACC_N; ++j) canon[j] = __ldg(a.tab + n0 + tt.n(j)).w;  // -1 past Kdim
#pragma unroll
  for (int i = 0; i < C::ACC_M; ++i) {
    const int m = m0 + tt.m(i);
    if (m >= a.Kg) continue;
#pragma unroll
    for (int j = 0; j < C::ACC_N; ++j)
      if (canon[j] >= 0) out[static_cast<int64_t>(m) * a.Kdim + canon[j]] = acc[i][j];
  }
}

__global__ void tap_table_kernel(const Conv2dProblem p, int4* __restrict__ tab, int64_t Kdim,
                                 int64_t n, bool c_fast) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) tab[i] = regtile::tap_entry(p, i, Kdim, c_fast);
}

}  // namespace

// Two blocks of one fixed size per SM on a 132-SM H100/H200: the split count
// aims at this many blocks. A constant, not the device's SM count, so the
// split (and so the bits of dw) depend on the shape only.
constexpr int64_t kTargetBlocks = 264;
constexpr int64_t kMinChunk = 256;  // pixels per split at least

bool regtile::wgrad_split_fits(const Conv2dGradProblem& p) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, Kdim = Cg * p.R * p.S;
  const int64_t npq = p.N * p.P * p.Q;
  // 32-bit pixel indices (with a chunk of headroom) and tap table.
  return regtile::geometry_fits(p) && npq < (int64_t{1} << 30) && Kdim < (int64_t{1} << 30) &&
         Kg < (int64_t{1} << 30);
}

regtile::WgradSplit regtile::plan_wgrad_split(const Conv2dGradProblem& p, int64_t bk,
                                              const char* step, TileSlots slots) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, Kdim = Cg * p.R * p.S;
  const int64_t total = p.K * Kdim, npq = p.N * p.P * p.Q;
  const int64_t m_tiles = ceil_div<int64_t>(Kg, C::BM), n_tiles = ceil_div<int64_t>(Kdim, C::BN);
  // Chunk slots multiply the chunks per block, group slots divide the blocks.
  const int64_t zs = slots.pixels ? slots.n : 1, gs = slots.pixels ? 1 : slots.n;
  WgradSplit w;
  w.tiles = slots.n > 1 ? n_tiles : m_tiles * n_tiles;  // slots: one column tile of filters
  w.group_blocks = ceil_div<int64_t>(p.groups, gs);
  TORCH_CHECK(w.tiles <= INT_MAX, "cuops.conv2d_backward_weight: problem too large for ", step);
  const int64_t grid_y =
      std::clamp<int64_t>(ceil_div<int64_t>(kTargetBlocks, w.tiles * w.group_blocks), 1,
                          std::clamp<int64_t>(npq / (kMinChunk * zs), 1, 4096));
  const int64_t chunk =
      std::max<int64_t>(bk, round_up<int64_t>(ceil_div<int64_t>(npq, grid_y * zs), bk));
  // N == 0: one split of zeros. Chunk slots past the pixels write zero rows.
  w.grid_y = ceil_div<int64_t>(std::max<int64_t>(1, ceil_div<int64_t>(npq, chunk)), zs);
  w.splits = w.grid_y * zs;

  // Workspace: the tap table (n_tiles * BN int4 = 4 floats each), then the partials.
  const int64_t ntab = n_tiles * C::BN;
  w.ws = conv::acc_workspace<float>(4 * ntab + w.splits * total);
  auto* tab = reinterpret_cast<int4*>(w.ws.data_ptr<float>());
  w.partial = w.ws.narrow(0, 4 * ntab, w.splits * total);
  const bool c_fast = p.x_sc == 1 && Cg > 1;
  tap_table_kernel<<<ceil_div<int64_t>(ntab, conv::kThreads), conv::kThreads, 0,
                     at::cuda::getCurrentCUDAStream()>>>(p, tab, Kdim, ntab, c_fast);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  WgradArgs& a = w.args;
  a.x = static_cast<const float*>(p.x), a.dy = static_cast<const float*>(p.dy), a.tab = tab;
  a.partial = w.partial.data_ptr<float>();
  a.npq = static_cast<int>(npq), a.PQ = static_cast<int>(p.P * p.Q), a.Q = static_cast<int>(p.Q);
  a.H = static_cast<int>(p.H), a.W = static_cast<int>(p.W);
  a.stride_h = static_cast<int>(p.stride_h), a.stride_w = static_cast<int>(p.stride_w);
  a.pad_h = static_cast<int>(p.pad_h), a.pad_w = static_cast<int>(p.pad_w);
  a.x_sn = p.x_sn, a.x_sh = p.x_sh, a.x_sw = p.x_sw, a.x_sg = Cg * p.x_sc;
  a.y_sn = p.y_sn, a.y_sk = p.y_sk, a.y_sp = p.y_sp, a.y_sq = p.y_sq;
  a.Kg = static_cast<int>(Kg), a.Kdim = static_cast<int>(Kdim);
  a.groups = static_cast<int>(p.groups);
  a.n_tiles = static_cast<int>(n_tiles), a.chunk = static_cast<int>(chunk), a.total = total;
  return w;
}

void conv2d_backward_weight_implicit_gemm_regtile(const Conv2dGradProblem& p) {
  const int64_t total = p.K * (p.C / p.groups) * p.R * p.S;
  if (total == 0) return;
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_weight(implicit_gemm_regtile): unsupported dtype ",
                   p.dtype);
  if (!regtile::wgrad_split_fits(p)) return conv2d_backward_weight_implicit_gemm(p);
  regtile::WgradSplit w = regtile::plan_wgrad_split(p, C::BK, "implicit_gemm_regtile");
  for (int64_t g0 = 0; g0 < p.groups; g0 += 65535) {  // gridDim.z <= 65535
    w.args.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(w.tiles), static_cast<unsigned>(w.grid_y),
                    static_cast<unsigned>(std::min<int64_t>(p.groups - g0, 65535)));
    wgrad_regtile_kernel<<<grid, C::THREADS, 0, at::cuda::getCurrentCUDAStream()>>>(w.args);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  conv::launch_wgrad_finish<float>(p, w.partial, w.splits);
}

}  // namespace cuops::cuda
