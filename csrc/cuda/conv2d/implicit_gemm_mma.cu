// conv2d ladder step 3: implicit GEMM on tensor cores (fp16/bf16, sm_80+).
//
// The convolution is a GEMM whose operands are never materialized:
//   C[m][k]  = sum_kk A[m][kk] * B[kk][k]           (one GEMM per group g)
//   m  = (n, p, q)  output pixel,         GEMM-M = N*P*Q
//   k  = output channel within the group, GEMM-N = Kg = K/groups
//   kk = (r, s, c)  with c fastest,       GEMM-K = R*S*Cg
//   A[m][kk] = x[n][g*Cg + c][p*sh - ph + r*dh][q*sw - pw + s*dw]   (0 outside the image)
//   B[kk][k] = w[g*Kg + k][c][r][s]
// With c fastest, 8 consecutive kk of one row of A are 8 consecutive channels
// of one input pixel: for channels_last (NHWC) input that is one 16-byte load,
// so the "im2col" gather costs nothing beyond an address computation.
//
// Block tile BM x BN x BK, multi-stage cp.async pipeline, XOR-swizzled
// shared memory read by ldmatrix, mma.sync m16n8k16 with fp32 accumulators.
// One kernel template (mma/kernel.cuh: block tile -> loaders -> main loop ->
// epilogue), parameterized by a ConvTile (mma/config.cuh: tile, warp layout,
// BK 32 or 64, fragment double-buffering, launch bounds). The heuristic
// (choose_tile) uses four configurations: 128x128 (8 warps, 64x32 warp
// tiles, BK 32), 128x64 (8 warps, 32x32, BK 64, double-buffered) for
// Kg <= 128, 128x16 (4 warps, 32x16) for Kg <= 16, and 64x64 (4 warps,
// 32x32, BK 64, double-buffered) when bigger tiles would leave SMs idle.
// See docs/conv2d-mma.md and docs/conv2d-worklog.md (3e, 3f). Development builds add a table of forced
// configurations (implicit_gemm_mma_explore.cu).
//
// Operand paths (all write the same shared-memory layout, so the MMA loop is
// shared):
//   A fast:    channels-contiguous input (x_sc == 1), Cg % 8 == 0, 16-byte
//              aligned pixels: 16-byte cp.async per (pixel, 8 channels), with
//              src-size 0 to zero-fill padding pixels and the GEMM-K tail.
//   A general: any strides / Cg / alignment: predicated 2-byte loads into
//              registers, issued before the tile's MMAs and stored to shared
//              memory after them, so their latency hides behind the math.
//   B:         always 16-byte cp.async from a [K][Kb] matrix with kk
//              contiguous: the weight itself when it already is that
//              (channels_last weight, R*S*Cg % 8 == 0, aligned), else a packed
//              copy made by a tiny pre-pass (weights are small and each one is
//              re-read by every M-tile, so a fast B path pays for the copy).
#include "cuda/conv2d/mma/kernel.cuh"
#include "cuda/conv2d/mma/launch.cuh"

#include <cstdlib>

namespace cuops::cuda {
namespace conv_mma {
namespace {

// Weight pre-pass: w[g*Kg+k][c][r][s] (any strides) -> out[k][kk], kk =
// (r*S + s)*Cg + c, rows padded with zeros to Kb (a multiple of 8) so every B
// chunk is one aligned 16-byte cp.async.
__global__ void pack_weight_kernel(const uint16_t* __restrict__ w, uint16_t* __restrict__ out,
                                   int64_t K, int Kb, int Ktot, int Cg, int S, int64_t w_sk,
                                   int64_t w_sc, int64_t w_sr, int64_t w_ss) {
  const int64_t total = K * Kb;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t k = i / Kb;
    const int kk = static_cast<int>(i - k * Kb);
    uint16_t v = 0;
    if (kk < Ktot) {
      const int rs = kk / Cg, c = kk - rs * Cg;
      const int r = rs / S, s = rs - r * S;
      v = w[k * w_sk + c * w_sc + r * w_sr + s * w_ss];
    }
    out[i] = v;
  }
}

template <typename T>
void launch_tile_typed(const MmaSetup& s, Tile tile) {
  const bool fa = s.fast_a;
  switch (tile) {
    case Tile::kBig:
      return fa ? launch_plain<T, TileBig, true>(s.prm, s.groups)
                : launch_plain<T, GeneralOf<TileBig>, false>(s.prm, s.groups);
    case Tile::kMid:
      return fa ? launch_plain<T, TileMid, true>(s.prm, s.groups)
                : launch_plain<T, GeneralOf<TileMid>, false>(s.prm, s.groups);
    case Tile::kSmall:
      return fa ? launch_plain<T, TileSmall, true>(s.prm, s.groups)
                : launch_plain<T, GeneralOf<TileSmall>, false>(s.prm, s.groups);
    case Tile::kNarrow:
      return fa ? launch_plain<T, TileNarrow, true>(s.prm, s.groups)
                : launch_plain<T, GeneralOf<TileMid>, false>(s.prm, s.groups);
  }
}

}  // namespace

bool prepare(const Conv2dProblem& p, MmaSetup& s) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.conv2d: variant 'implicit_gemm_mma' supports float16 and bfloat16, got ",
              p.dtype);
  if (p.N * p.P * p.Q == 0 || p.K == 0) return false;
  const auto* prop = at::cuda::getCurrentDeviceProperties();
  TORCH_CHECK(prop->major >= 8,
              "cuops.conv2d: variant 'implicit_gemm_mma' needs a GPU of compute capability 8.0 "
              "or newer (mma.sync bf16, cp.async); this one is ",
              prop->major, ".", prop->minor);

  MmaParams& prm = s.prm;
  prm = MmaParams{};
  conv::set_shape32(prm, p, kMaxBK, "cuops.conv2d (implicit_gemm_mma)");
  const int64_t Cg = prm.Cg, Ktot = prm.Ktot;
  const int64_t Kb = round_up<int64_t>(Ktot, 8);
  prm.x = static_cast<const uint16_t*>(p.x);
  prm.y = static_cast<uint16_t*>(p.y);
  prm.bias = static_cast<const uint16_t*>(p.bias);
  prm.Kb = static_cast<int>(Kb);

  // A fast path: 8 channels of a pixel are 16 contiguous, aligned bytes, and
  // one receptive field spans < 2^31 elements (32-bit tap offsets).
  const int64_t field_span = Cg + kMaxBK + (p.R + 1) * p.dil_h * std::abs(p.x_sh) +
                             (p.S + 1) * p.dil_w * std::abs(p.x_sw);
  using conv::keeps16;
  s.fast_a = Cg > 0 && Cg % 8 == 0 && p.x_sc == 1 && aligned16(p.x) && keeps16(p.N, p.x_sn) &&
             keeps16(p.H, p.x_sh) && keeps16(p.W, p.x_sw) && field_span < INT_MAX;
  if (s.fast_a) {
    prm.d_s = static_cast<int>(p.dil_w * p.x_sw);
    prm.d_r0 = static_cast<int>(p.dil_h * p.x_sh);
    prm.d_r = static_cast<int>(p.dil_h * p.x_sh - p.S * p.dil_w * p.x_sw);
  }

  // B: use the weight in place when each output channel's (r, s, c) run is
  // already contiguous with c fastest and 16-byte aligned; else pack it.
  const bool w_direct = Ktot % 8 == 0 && (Cg == 1 || p.w_sc == 1) &&
                        (p.S == 1 || p.w_ss == Cg) && (p.R == 1 || p.w_sr == p.S * Cg) &&
                        aligned16(p.w) && keeps16(p.K, p.w_sk);
  if (w_direct || Ktot == 0) {
    prm.wb = static_cast<const uint16_t*>(p.w);
    prm.ldb = p.w_sk;
  } else {
    s.packed = at::empty({p.K, Kb}, at::TensorOptions()
                                        .dtype(p.dtype)
                                        .device(at::kCUDA, at::cuda::current_device()));
    constexpr int kPackThreads = 256;
    pack_weight_kernel<<<grid_for(p.K * Kb, kPackThreads), kPackThreads, 0,
                         at::cuda::getCurrentCUDAStream()>>>(
        static_cast<const uint16_t*>(p.w), static_cast<uint16_t*>(s.packed.data_ptr()), p.K,
        static_cast<int>(Kb), static_cast<int>(Ktot), static_cast<int>(Cg),
        static_cast<int>(p.S), p.w_sk, p.w_sc, p.w_sr, p.w_ss);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    prm.wb = static_cast<const uint16_t*>(s.packed.data_ptr());
    prm.ldb = Kb;
  }

  // 32-bit paired stores need the pair (k, k+1) adjacent and 4-byte aligned:
  // k is always even, so g*Kg must be too.
  prm.y_vec2 = (p.K == 1 || p.y_sk == 1) && prm.Kg % 2 == 0 &&
               reinterpret_cast<uintptr_t>(p.y) % 4 == 0 && (p.N == 1 || p.y_sn % 2 == 0) &&
               (p.P == 1 || p.y_sp % 2 == 0) && (p.Q == 1 || p.y_sq % 2 == 0);
  s.groups = p.groups;
  s.dtype = p.dtype;
  return true;
}

// Kg <= 16        128x16  (4 warps, BK 64): a few filters (the phases of an
//                 RGB stem's dgrad have Kg = 3): a 64-wide N tile would
//                 spend 21x the tensor-core work on zero columns; the A
//                 gather, the same for every N tile width, is then the cost.
// Kg <= 128       128x64  (8 warps, BK 64): a 128-wide N tile would be half
//                 zeros at Kg <= 64 (ResNet's 64-channel layers, the stem,
//                 1x1 256->64); at Kg = 128 it measured faster too (128@28).
// else            128x128 (8 warps): most math per byte loaded.
// too few blocks  64x64   (4 warps, BK 64): when the big tile cannot give
//                 every SM a block (ResNet's 14x14 and 7x7 layers at batch
//                 32), filling the machine beats per-block efficiency; the
//                 split-K step splits GEMM-K instead (split_choice).
Tile choose_tile(const MmaSetup& s) {
  const int64_t sms = num_sms();
  const int64_t m128 = ceil_div<int64_t>(s.prm.M, 128);
  if (s.prm.Kg <= TileNarrow::BN && m128 * s.groups >= sms) return Tile::kNarrow;
  if (s.prm.Kg <= 128 && m128 * ceil_div<int64_t>(s.prm.Kg, 64) * s.groups >= sms) {
    return Tile::kMid;
  }
  if (s.prm.Kg > 128 && m128 * ceil_div<int64_t>(s.prm.Kg, 128) * s.groups >= sms) {
    return Tile::kBig;
  }
  return Tile::kSmall;
}

void launch_tile(const MmaSetup& s, Tile tile) {
  if (s.dtype == at::kHalf) {
    launch_tile_typed<__half>(s, tile);
  } else {
    launch_tile_typed<__nv_bfloat16>(s, tile);
  }
}

}  // namespace conv_mma

void conv2d_implicit_gemm_mma(const Conv2dProblem& p) {
  conv_mma::MmaSetup s;
  if (!conv_mma::prepare(p, s)) return;
#ifdef CUOPS_EXPLORE
  if (conv_mma::launch_forced(s, /*allow_split=*/false)) return;
#endif
  conv_mma::launch_tile(s, conv_mma::choose_tile(s));
}

}  // namespace cuops::cuda
