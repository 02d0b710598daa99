// conv2d weight gradient on tensor cores (fp16/bf16, sm_80+), split-K.
//
//   dw[g*Kg+k][c][r][s] = sum_{n,p,q} dy[n][g*Kg+k][p][q]
//                                     * x[n][g*Cg+c][p*sh-ph+r*dh][q*sw-pw+s*dw]
// is one GEMM per group with the roles of the forward swapped:
//   GEMM-M = Kg (output channel k), GEMM-N = R*S*Cg (tap j = (r, s, c), c
//   fastest), GEMM-K = N*P*Q (output pixel m).
//   A[k][m] = dy[m][k],  B[m][j] = x at tap j of pixel m (0 outside the image).
// The reduction dim (pixels) is huge and M x N is small (64 x 576 for a
// 64-channel 3x3 layer), so the pixel range is split over gridDim.y blocks
// that write fp32 partial tiles to a workspace; a second kernel sums the
// splits in a fixed order (deterministic) and writes dw in the input dtype.
//
// Shared memory: both tiles are stored [BK pixels][64 channels or taps], the
// way channels_last tensors arrive (channels contiguous per pixel), and read
// with ldmatrix.trans, which hands each lane the transposed 8x8 slice that
// the m16n8k16 fragments want (lane L: stored rows 2*(L%4), +1 of column L/4).
// Rows are 128 B (8 chunks of 16 B); chunk c of row r lives at c ^ (r & 7):
// ldmatrix reads 8 consecutive rows at one chunk column, which the XOR
// spreads over 8 distinct 16-byte bank groups.
//
// Loaders: fast (channels_last dy and x, Kg % 8 == 0, Cg % 8 == 0, 16-byte
// aligned) = 16-byte cp.async with zero-fill; general (anything else) =
// predicated 2-byte loads staged in registers across the tile's MMAs.
// When only x keeps the fast path out (the C = 3 stem, an NCHW input), x is
// first copied to a channels_last tensor with each group's channels padded
// with zeros to a multiple of 8 (x_padded_nhwc): the fast loaders then run,
// the padded taps' sums are 0 and the finishing pass writes only the real
// channels of dw. The copy moves N*H*W*C8 elements, against a wgrad that
// reads every input pixel R*S times.
#include "cuda/conv2d/mma/shape32.cuh"
#include "cuda/mma_ptx.cuh"

#include <algorithm>
#include <climits>
#include <type_traits>

namespace cuops::cuda {
namespace {

using namespace ptx;  // cp.async, ldmatrix, mma.sync wrappers (csrc/cuda/mma_ptx.cuh)

__device__ __forceinline__ void st_shared_v4(uint32_t addr, const uint32_t (&v)[4]) {
  ptx::st_shared_v4(addr, v[0], v[1], v[2], v[3]);
}

constexpr int kBM = 64, kBN = 64, kBK = 32;  // k x j x pixels per block tile
constexpr int kStages = 4;
constexpr int kThreads = 128;                 // 2x2 warps, 32x32 warp tiles
constexpr int kRowBytes = 128;                // 64 channels per smem row
constexpr int kTileBytes = kBK * kRowBytes;   // 4 KB per operand per stage
constexpr int kStageBytes = 2 * kTileBytes;

__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

struct WgradParams {  // the problem's fields are filled by conv::set_shape32
  const uint16_t* x;
  const uint16_t* dy;
  float* ws;  // [splits][K][Ktot] fp32 partial sums
  int64_t x_sn, x_sc, x_sh, x_sw;
  int64_t y_sn, y_sk, y_sp, y_sq;
  int64_t M;  // N*P*Q
  int64_t K;  // all output channels
  int H, W, P, Q, R, S, Cg, Kg;
  int sh, sw, ph, pw, dh, dw;
  int Ktot;           // R*S*Cg
  int KT;             // pixel tiles in total
  int tiles_per_split;
  int tiles_j;        // ceil(Ktot / kBN)
  int g0;
};

// Thread <-> tile mapping shared by both operands: thread t loads chunk
// column t & 7 (8 channels or taps) of pixel rows (t >> 3) and (t >> 3) + 16,
// so one pixel state per row serves both loaders.
template <typename T, bool kFast>
__global__ void __launch_bounds__(kThreads, 4) conv2d_wgrad_mma_kernel(const WgradParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t smem_base = smem_u32(smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = warp & 1, warp_n = warp >> 1;

  const int k0 = static_cast<int>(blockIdx.x / p.tiles_j) * kBM;
  const int j0 = static_cast<int>(blockIdx.x % p.tiles_j) * kBN;
  const int g = p.g0 + static_cast<int>(blockIdx.z);
  const int kt_begin = blockIdx.y * p.tiles_per_split;
  const int kt_end = min(p.KT, kt_begin + p.tiles_per_split);
  const int ntiles = max(0, kt_end - kt_begin);

  // Column state (fixed for the whole block): this thread's output channel
  // chunk (A) and tap chunk (B). In the general path the 8 columns of a chunk
  // are walked one by one, so only the first one's (r, s, c) is kept.
  const int col = (tid & 7) * 8;
  const int ka = k0 + col;  // first channel of the A chunk
  const int jb = j0 + col;  // first tap of the B chunk
  int br = 0, bs = 0, bc = 0;
  if (jb < p.Ktot) {
    const int rs = jb / p.Cg;
    bc = jb - rs * p.Cg;
    br = rs / p.S;
    bs = rs - br * p.S;
  }
  const uint16_t* dy = p.dy + static_cast<int64_t>(g) * p.Kg * p.y_sk;
  const uint16_t* x = p.x + static_cast<int64_t>(g) * p.Cg * p.x_sc;

  // Row (pixel) state, advanced by kBK pixels per tile with carries.
  int64_t rn[2];
  int rp[2], rq[2];
#pragma unroll
  for (int it = 0; it < 2; ++it) {
    const int64_t m = static_cast<int64_t>(kt_begin) * kBK + (tid >> 3) + it * 16;
    rn[it] = m / (static_cast<int64_t>(p.P) * p.Q);
    const int rem = static_cast<int>(m - rn[it] * p.P * p.Q);
    rp[it] = rem / p.Q;
    rq[it] = rem - rp[it] * p.Q;
  }
  auto advance_rows = [&]() {
#pragma unroll
    for (int it = 0; it < 2; ++it) {
      rq[it] += kBK;
      while (rq[it] >= p.Q) {
        rq[it] -= p.Q;
        if (++rp[it] == p.P) {
          rp[it] = 0;
          ++rn[it];
        }
      }
    }
  };
  const uint32_t dst0 = swz(tid >> 3, tid & 7);  // + it * 16 rows (same swizzle)

  // Fast loaders: one 16-byte cp.async per operand per row.
  auto load_fast = [&](int stage) {
#pragma unroll
    for (int it = 0; it < 2; ++it) {
      const bool row_ok = rn[it] * p.P * p.Q < p.M;  // rn < N
      const uint32_t d = smem_base + stage * kStageBytes + dst0 + it * 16 * kRowBytes;
      const bool a_ok = row_ok && ka < p.Kg;
      cp_async_16(d, a_ok ? dy + rn[it] * p.y_sn + static_cast<int64_t>(rp[it]) * p.y_sp +
                                static_cast<int64_t>(rq[it]) * p.y_sq + ka
                          : p.dy,
                  a_ok);
      const int ih = rp[it] * p.sh - p.ph + br * p.dh, iw = rq[it] * p.sw - p.pw + bs * p.dw;
      const bool b_ok = row_ok && jb < p.Ktot && static_cast<unsigned>(ih) < static_cast<unsigned>(p.H) &&
                        static_cast<unsigned>(iw) < static_cast<unsigned>(p.W);
      cp_async_16(d + kTileBytes,
                  b_ok ? x + rn[it] * p.x_sn + static_cast<int64_t>(ih) * p.x_sh +
                             static_cast<int64_t>(iw) * p.x_sw + bc
                       : p.x,
                  b_ok);
    }
  };
  // General loaders: 8 predicated scalar loads per operand per row.
  auto load_regs = [&](uint32_t (&va)[2][4], uint32_t (&vb)[2][4]) {
#pragma unroll
    for (int it = 0; it < 2; ++it) {
      const bool row_ok = rn[it] * p.P * p.Q < p.M;
      const uint16_t* dyrow = dy + rn[it] * p.y_sn + static_cast<int64_t>(rp[it]) * p.y_sp +
                              static_cast<int64_t>(rq[it]) * p.y_sq;
      const uint16_t* xrow = x + rn[it] * p.x_sn;
      const int ih0 = rp[it] * p.sh - p.ph, iw0 = rq[it] * p.sw - p.pw;
      int r = br, s = bs, c = bc;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        uint32_t a = 0, b = 0;
        if (row_ok && ka + e < p.Kg) a = dyrow[static_cast<int64_t>(ka + e) * p.y_sk];
        const int ih = ih0 + r * p.dh, iw = iw0 + s * p.dw;
        if (row_ok && jb + e < p.Ktot && static_cast<unsigned>(ih) < static_cast<unsigned>(p.H) &&
            static_cast<unsigned>(iw) < static_cast<unsigned>(p.W)) {
          b = xrow[c * p.x_sc + static_cast<int64_t>(ih) * p.x_sh + static_cast<int64_t>(iw) * p.x_sw];
        }
        if (e % 2 == 0) {
          va[it][e / 2] = a;
          vb[it][e / 2] = b;
        } else {
          va[it][e / 2] |= a << 16;
          vb[it][e / 2] |= b << 16;
        }
        if (++c == p.Cg) {
          c = 0;
          if (++s == p.S) {
            s = 0;
            ++r;
          }
        }
      }
    }
  };
  auto store_regs = [&](int stage, const uint32_t (&va)[2][4], const uint32_t (&vb)[2][4]) {
#pragma unroll
    for (int it = 0; it < 2; ++it) {
      const uint32_t d = smem_base + stage * kStageBytes + dst0 + it * 16 * kRowBytes;
      st_shared_v4(d, va[it]);
      st_shared_v4(d + kTileBytes, vb[it]);
    }
  };

  // ldmatrix.trans addresses. A (stored [pixel][k]), m16 tile i of this warp:
  // matrices {pixels 0-7 x k 0-7, pixels 0-7 x k 8-15, pixels 8-15 x k 0-7,
  // pixels 8-15 x k 8-15} = {a0, a1, a2, a3}: lane L addresses pixel row
  // (L & 7) + 8 * (L >> 4), k chunk (L >> 3) & 1.
  // B (stored [pixel][j]), two n8 tiles: {pixels 0-7 x n 0-7, pixels 8-15 x
  // n 0-7, pixels 0-7 x n 8-15, pixels 8-15 x n 8-15} = {b0, b1} of n-tile 0,
  // then of n-tile 1: lane L addresses pixel row (L & 7) + 8 * ((L >> 3) & 1),
  // n chunk L >> 4. The k16 step ks adds 16 rows (2 KB; the swizzle only
  // depends on row & 7).
  uint32_t a_ld[2], b_ld[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    a_ld[i] = swz((lane & 7) + ((lane >> 4) << 3), (warp_m * 32 + i * 16) / 8 + ((lane >> 3) & 1));
    b_ld[i] = kTileBytes +
              swz((lane & 7) + (((lane >> 3) & 1) << 3), (warp_n * 32 + i * 16) / 8 + (lane >> 4));
  }

  float acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < ntiles) {
      if constexpr (kFast) {
        load_fast(st);
      } else {
        uint32_t va[2][4], vb[2][4];
        load_regs(va, vb);
        store_regs(st, va, vb);
      }
      advance_rows();
    }
    cp_async_commit();
  }

  for (int kt = 0; kt < ntiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // tile kt visible; stage of tile kt-1 free
    const int kn = kt + kStages - 1;
    const int sn = kn % kStages;
    uint32_t va[2][4], vb[2][4];
    if (kn < ntiles) {
      if constexpr (kFast) {
        load_fast(sn);
      } else {
        load_regs(va, vb);
      }
      advance_rows();
    }
    cp_async_commit();

    const uint32_t stage = smem_base + (kt % kStages) * kStageBytes;
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      uint32_t af[2][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i) ldmatrix_x4_trans(af[i], stage + a_ld[i] + ks * 16 * kRowBytes);
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        uint32_t t[4];
        ldmatrix_x4_trans(t, stage + b_ld[j] + ks * 16 * kRowBytes);
        bf[2 * j][0] = t[0];
        bf[2 * j][1] = t[1];
        bf[2 * j + 1][0] = t[2];
        bf[2 * j + 1][1] = t[3];
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) mma_16816<T>(acc[i][j], af[i], bf[j]);
    }
    if constexpr (!kFast) {
      if (kn < ntiles) store_regs(sn, va, vb);
    }
  }
  cp_async_wait<0>();

  // Partial tile -> workspace [split][K][Ktot] (fp32, float2 stores).
  float* ws = p.ws + static_cast<int64_t>(blockIdx.y) * p.K * p.Ktot;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int k = k0 + warp_m * 32 + i * 16 + h * 8 + (lane >> 2);
      if (k >= p.Kg) continue;
      float* row = ws + (static_cast<int64_t>(g) * p.Kg + k) * p.Ktot;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int jj = j0 + warp_n * 32 + j * 8 + 2 * (lane & 3);
        if (jj < p.Ktot) row[jj] = acc[i][j][2 * h];
        if (jj + 1 < p.Ktot) row[jj + 1] = acc[i][j][2 * h + 1];
      }
    }
  }
#else
  __trap();
#endif
}

// Sum the splits (fixed order: deterministic) and write dw[K][Cw][R][S]
// through its strides in the input dtype. ws column j = (r*S + s)*Cg + c, so
// neighbouring threads hold neighbouring channels: the stores are coalesced
// where dw's channels are (channels_last). Columns of padded channels (c >=
// Cw, x_padded_nhwc) are not written.
template <typename T>
__global__ void wgrad_reduce_kernel(const float* __restrict__ ws, T* __restrict__ dw,
                                    DwStrides dws, int64_t K, int Ktot, int Cg, int Cw, int S,
                                    int splits) {
  const int64_t total = K * Ktot;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t k = i / Ktot;
    const int j = static_cast<int>(i - k * Ktot);
    const int rs = j / Cg, c = j - rs * Cg;
    if (c >= Cw) continue;
    const int r = rs / S, s = rs - r * S;
    float sum = 0.f;
    for (int z = 0; z < splits; ++z) sum += ws[static_cast<int64_t>(z) * total + i];
    dw[k * dws.k + c * dws.c + r * dws.r + s * dws.s] = static_cast<T>(sum);
  }
}

// The loaders' fast-path conditions, per operand: channels contiguous,
// channel count per group a multiple of 8, 16-byte aligned pixels.
bool x_fast(const Conv2dProblem& p) {
  using conv::keeps16;
  return p.x_sc == 1 && (p.C / p.groups) % 8 == 0 && aligned16(p.x) && keeps16(p.N, p.x_sn) &&
         keeps16(p.H, p.x_sh) && keeps16(p.W, p.x_sw);
}
bool dy_fast(const Conv2dProblem& p) {
  using conv::keeps16;
  return p.y_sk == 1 && (p.K / p.groups) % 8 == 0 && aligned16(p.y) && keeps16(p.N, p.y_sn) &&
         keeps16(p.P, p.y_sp) && keeps16(p.Q, p.y_sq);
}

// x as [N][H][W][groups][Cg8] (Cg8 = Cg rounded up to 8), zeros in the
// padded channels; `q` is redirected to it (q.C = groups*Cg8). Data
// movement only (ATen zero_ and copy_).
at::Tensor x_padded_nhwc(Conv2dProblem& q) {
  const int64_t Cg = q.C / q.groups, Cg8 = round_up<int64_t>(Cg, 8);
  const auto opts = at::TensorOptions().dtype(q.dtype).device(at::kCUDA,
                                                              at::cuda::current_device());
  const at::Tensor x = at::from_blob(const_cast<void*>(q.x), {q.N, q.groups, Cg, q.H, q.W},
                                     {q.x_sn, Cg * q.x_sc, q.x_sc, q.x_sh, q.x_sw}, opts);
  at::Tensor out = at::empty({q.N, q.H, q.W, q.groups, Cg8}, opts);
  if (Cg8 > Cg) out.narrow(4, Cg, Cg8 - Cg).zero_();
  out.narrow(4, 0, Cg).copy_(x.permute({0, 3, 4, 1, 2}));
  q.C = q.groups * Cg8;
  q.x = out.const_data_ptr();
  q.x_sc = 1, q.x_sw = q.C, q.x_sh = q.W * q.C, q.x_sn = q.H * q.W * q.C;
  return out;
}

template <typename T, bool kFast>
void launch_wgrad(WgradParams prm, int64_t groups, int splits) {
  constexpr int kSmem = kStages * kStageBytes;  // 32 KB
  auto kernel = conv2d_wgrad_mma_kernel<T, kFast>;
  C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  const int64_t tiles = ceil_div<int64_t>(prm.Kg, kBM) * prm.tiles_j;
  TORCH_CHECK(tiles <= INT_MAX, "cuops.conv2d wgrad (mma): weight too large");
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  for (int64_t g0 = 0; g0 < groups; g0 += 65535) {
    prm.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits),
                    static_cast<unsigned>(std::min<int64_t>(65535, groups - g0)));
    kernel<<<grid, kThreads, kSmem, stream>>>(prm);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

void conv2d_wgrad_mma(const Conv2dProblem& problem, void* dw) {
  TORCH_CHECK(problem.dtype == at::kHalf || problem.dtype == at::kBFloat16,
              "cuops.conv2d: the tensor-core weight gradient supports float16 and bfloat16, got ",
              problem.dtype);
  const int64_t Cw = problem.C / problem.groups;  // channels per group of dw
  if (problem.K == 0 || problem.R * problem.S * Cw == 0) return;
  const auto* prop = at::cuda::getCurrentDeviceProperties();
  TORCH_CHECK(prop->major >= 8, "cuops.conv2d: the tensor-core weight gradient needs compute "
              "capability 8.0 or newer; this GPU is ", prop->major, ".", prop->minor);
  const int64_t M = problem.N * problem.P * problem.Q;
  if (M == 0) {  // no pixels: the gradient is zero (and P*Q may be 0: no divisions)
    C10_CUDA_CHECK(cudaMemsetAsync(
        dw, 0, static_cast<size_t>(problem.K * problem.R * problem.S * Cw) * 2,
        at::cuda::getCurrentCUDAStream()));
    return;
  }
  // Planning: the padded channels_last copy of x when only x blocks the fast
  // loaders (from here on, p may be that copy's problem: Cg = Cg8 >= Cw).
  Conv2dProblem p = problem;
  at::Tensor x_copy;
  if (dy_fast(p) && !x_fast(p)) x_copy = x_padded_nhwc(p);
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  const int64_t Ktot = p.R * p.S * Cg;
  const auto opts = at::TensorOptions().device(at::kCUDA, at::cuda::current_device());
  WgradParams prm{};
  conv::set_shape32(prm, p, kBN, "cuops.conv2d wgrad (mma)");
  const int64_t KT = ceil_div<int64_t>(M, kBK);
  TORCH_CHECK(KT < INT_MAX, "cuops.conv2d wgrad (mma): too many output pixels (", M, ")");
  prm.x = static_cast<const uint16_t*>(p.x);
  prm.dy = static_cast<const uint16_t*>(p.y);
  prm.KT = static_cast<int>(KT);
  prm.tiles_j = static_cast<int>(ceil_div<int64_t>(Ktot, kBN));

  // Split the pixel range until the grid covers ~4 blocks per SM, but keep
  // >= 8 tiles per split (the pipeline needs a few to pay off) and the fp32
  // workspace (splits x K x Ktot floats) within ~256 MB.
  const int64_t out_tiles = ceil_div<int64_t>(Kg, kBM) * prm.tiles_j * p.groups;
  int64_t splits = ceil_div<int64_t>(int64_t{4} * num_sms(), out_tiles);
  splits = std::min<int64_t>(splits, std::max<int64_t>(1, KT / 8));
  splits = std::min<int64_t>(splits, std::max<int64_t>(1, (int64_t{64} << 20) / (p.K * Ktot)));
  splits = std::max<int64_t>(1, std::min<int64_t>(splits, 65535));
  prm.tiles_per_split = static_cast<int>(std::max<int64_t>(1, ceil_div<int64_t>(KT, splits)));
  // No empty splits (every split then writes its whole partial tile).
  splits = std::max<int64_t>(1, ceil_div<int64_t>(KT, prm.tiles_per_split));

  at::Tensor ws = at::empty({splits, p.K, Ktot}, opts.dtype(at::kFloat));
  prm.ws = ws.data_ptr<float>();

  const bool fast = x_fast(p) && dy_fast(p);
  if (p.dtype == at::kHalf) {
    fast ? launch_wgrad<__half, true>(prm, p.groups, static_cast<int>(splits))
         : launch_wgrad<__half, false>(prm, p.groups, static_cast<int>(splits));
  } else {
    fast ? launch_wgrad<__nv_bfloat16, true>(prm, p.groups, static_cast<int>(splits))
         : launch_wgrad<__nv_bfloat16, false>(prm, p.groups, static_cast<int>(splits));
  }

  const int64_t RS = p.R * p.S;
  wgrad_reduce_splits(ws, dw, DwStrides{Cw * RS, RS, p.S, 1}, p, Cw);  // KCRS
}

void wgrad_reduce_splits(const at::Tensor& ws, void* dw, const DwStrides& dws,
                         const Conv2dProblem& p, int64_t Cw) {
  const int64_t splits = ws.size(0), Cg = p.C / p.groups, Ktot = p.R * p.S * Cg;
  const int64_t total = p.K * Ktot;
  auto reduce = [&](auto* out) {
    using OutT = std::remove_pointer_t<decltype(out)>;
    wgrad_reduce_kernel<OutT><<<grid_for(total, 256), 256, 0, at::cuda::getCurrentCUDAStream()>>>(
        ws.const_data_ptr<float>(), out, dws, p.K, static_cast<int>(Ktot), static_cast<int>(Cg),
        static_cast<int>(Cw), static_cast<int>(p.S), static_cast<int>(splits));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  };
  if (p.dtype == at::kHalf) {
    reduce(static_cast<at::Half*>(dw));
  } else if (p.dtype == at::kBFloat16) {
    reduce(static_cast<at::BFloat16*>(dw));
  } else {
    TORCH_CHECK(p.dtype == at::kFloat, "wgrad_reduce_splits: unsupported dtype ", p.dtype);
    reduce(static_cast<float*>(dw));
  }
}

// Ladder step "implicit_gemm_mma" of conv2d_backward_weight: the wgrad
// problem in conv2d_wgrad_mma's terms (p.y = grad_output). That kernel writes
// a KCRS-contiguous dw; when the ladder's output is anything else (a
// channels_last grad_weight), it writes a contiguous temporary and a
// documented strided copy (data movement only, K*Cg*R*S elements: tiny next
// to the GEMM) puts it in place.
void conv2d_backward_weight_implicit_gemm_mma(const Conv2dGradProblem& p) {
  wgrad_into_kcrs(p, &conv2d_wgrad_mma);
}

void wgrad_into_kcrs(const Conv2dGradProblem& p, void (*wgrad)(const Conv2dProblem&, void*)) {
  const int64_t Cg = p.C / p.groups;
  Conv2dProblem q = p;  // slices off the gradient pointers; x = input
  q.y = const_cast<void*>(p.dy);
  const bool kcrs = (p.K == 1 || p.w_sk == Cg * p.R * p.S) && (Cg == 1 || p.w_sc == p.R * p.S) &&
                    (p.R == 1 || p.w_sr == p.S) && (p.S == 1 || p.w_ss == 1);
  if (kcrs) {
    wgrad(q, p.dw);
    return;
  }
  const auto opts =
      at::TensorOptions().dtype(p.dtype).device(at::kCUDA, at::cuda::current_device());
  at::Tensor tmp = at::empty({p.K, Cg, p.R, p.S}, opts);
  wgrad(q, tmp.data_ptr());
  at::from_blob(p.dw, {p.K, Cg, p.R, p.S}, {p.w_sk, p.w_sc, p.w_sr, p.w_ss}, opts).copy_(tmp);
}

}  // namespace cuops::cuda
