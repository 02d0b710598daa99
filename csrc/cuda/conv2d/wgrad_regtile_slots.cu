// Step 2c of the conv2d wgrad ladder (fp32): implicit_gemm_regtile's wgrad
// for layers with few filters per group, the tile's columns shared by slots.
//
// implicit_gemm_regtile puts a group's K/groups filters on the 128 tile rows:
// with 32 filters (a grouped layer) 3/4 of its FMAs multiply zeros, with 64
// (ResNet's first stage, the RGB stems) half. Here the tile is transposed,
// dw^T[tap][k] = sum over pixels of im2col(x)[j][tap] * dy[j][k]: taps on
// the 128 rows, and the 128 columns split into SLOTS slots of 128 / SLOTS
// filters. A slot is
//  - one group (group slots: groups >= 2), with its own A tile (its input
//    channels, + slot * x_sg), as the forward's group slots; or
//  - one pixel chunk of the block's only group (chunk slots), with its own A
//    tile (the same taps at the chunk's pixels) and its own partial row.
// A warp's 32 columns lie in one slot, so a warp multiplies its slot's A
// tile (regtile::main_loop's a_off). Per slice a thread gathers SLOTS x 4 x
// values and 4 dy values; the split, the partial rows and the fixed-order
// finish are implicit_gemm_regtile's (regtile::plan_wgrad_split with
// TileSlots; a chunk slot past the last pixel writes a zero row).
// Deterministic. K/groups > 64 runs implicit_gemm_regtile.
#include "cuda/conv2d/regtile.cuh"

namespace cuops::cuda {
namespace {

using regtile::C;
using regtile::WgradArgs;

constexpr int kRowStep = C::THREADS / C::BK;  // 32: rows apart of one thread's loads
constexpr int kRows = C::BM / kRowStep;       // 4 loads per operand (per slot for A)
constexpr int kSlotFloats = C::BK * C::LD;    // one A tile of a shared buffer
static_assert(C::BM == C::BN && C::THREADS % C::BK == 0 && C::BM % kRowStep == 0,
              "one pixel x 4 rows per thread for both operands");

template <int SLOTS, bool kChunkSlots>
struct Slots {
  static constexpr int kWidth = C::BN / SLOTS;              // filters per slot
  static constexpr int kLoadsPerSlot = kWidth / kRowStep;   // B loads i of one slot
  static constexpr int kPixels = kChunkSlots ? SLOTS : 1;   // distinct pixels per slice
  // Two blocks per SM (regtile's occupancy) where ptxas fits the kernel in
  // 128 registers without spills: 2 chunk slots (2 group slots spill 64
  // bytes); 4 slots hold 16 gathered values per thread.
  static constexpr int kMinBlocks = SLOTS == 2 && kChunkSlots ? C::MIN_BLOCKS : 1;
  static_assert(kWidth % C::WN == 0, "a warp's columns lie in one slot");
  static_assert(kWidth % kRowStep == 0, "B load i lies in slot i / kLoadsPerSlot");
  // Slot s of the block (blockIdx.y, group block gb): its group, its split.
  __device__ static int64_t group(int64_t gb, int s) { return kChunkSlots ? gb : gb * SLOTS + s; }
  __device__ static int split(int s) {
    return kChunkSlots ? static_cast<int>(blockIdx.y) * SLOTS + s : static_cast<int>(blockIdx.y);
  }
};

template <int SLOTS, bool kChunkSlots>
__global__ void __launch_bounds__(C::THREADS, Slots<SLOTS, kChunkSlots>::kMinBlocks)
    wgrad_slots_kernel(const __grid_constant__ WgradArgs a) {
  using S = Slots<SLOTS, kChunkSlots>;
  __shared__ __align__(16) float As[2][SLOTS * kSlotFloats];
  __shared__ __align__(16) float Bs[2][kSlotFloats];
  const int tid = threadIdx.x, kk = tid % C::BK, r_t = tid / C::BK;
  const int64_t gb = a.g0 + static_cast<int64_t>(blockIdx.z);
  const int m0 = static_cast<int>(blockIdx.x) * C::BM;  // tap tile

  int4 taps[kRows];  // this thread's A rows (taps), fixed for the kernel
#pragma unroll
  for (int i = 0; i < kRows; ++i) taps[i] = __ldg(a.tab + m0 + r_t + i * kRowStep);

  float ra[SLOTS][kRows], rb[kRows];
  auto fetch = [&](int t) {
    regtile::WgradPixel px[S::kPixels];
    bool jok[S::kPixels];
#pragma unroll
    for (int q = 0; q < S::kPixels; ++q) {
      const int j_begin = S::split(q) * a.chunk, j = j_begin + t * C::BK + kk;
      jok[q] = j < min(j_begin + a.chunk, a.npq);
      px[q] = regtile::wgrad_pixel(a, j, jok[q]);  // not ok: kFar, every tap outside
    }
#pragma unroll
    for (int s = 0; s < SLOTS; ++s) {
      const regtile::WgradPixel& w = px[kChunkSlots ? s : 0];
      const int64_t g = S::group(gb, s);
      const bool gok = g < a.groups;
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        const int4 e = taps[i];
        const bool in = gok &&
                        static_cast<unsigned>(w.ih0 + e.y) < static_cast<unsigned>(a.H) &&
                        static_cast<unsigned>(w.iw0 + e.z) < static_cast<unsigned>(a.W);
        ra[s][i] = in ? __ldg(a.x + g * a.x_sg + w.px + e.x) : 0.f;
      }
    }
#pragma unroll
    for (int i = 0; i < kRows; ++i) {  // column r_t + 32 i: slot s, its filter nn
      const int s = i / S::kLoadsPerSlot, nn = r_t + i % S::kLoadsPerSlot * kRowStep;
      const int q = kChunkSlots ? s : 0;
      const int64_t g = S::group(gb, s);
      rb[i] = jok[q] && nn < a.Kg && g < a.groups
                  ? __ldg(a.dy + (g * a.Kg + nn) * a.y_sk + px[q].py)
                  : 0.f;
    }
  };
  // Lanes: 8 pixels (rows 132 floats apart: banks 4 apart) x 4 rows.
  auto stash = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
#pragma unroll
      for (int s = 0; s < SLOTS; ++s)
        As[buf][s * kSlotFloats + kk * C::LD + r_t + i * kRowStep] = ra[s][i];
      Bs[buf][kk * C::LD + r_t + i * kRowStep] = rb[i];
    }
  };

  const regtile::ThreadTile tt(tid);
  const int a_off = tt.warp_n / S::kWidth * kSlotFloats;
  float acc[C::ACC_M][C::ACC_N];
  regtile::main_loop(a.chunk / C::BK, As, Bs, a_off, tt, acc, fetch, stash);

  // Partial row split(s), KCRS order: (g*Kg + nn) * Kdim + (c*R*S + r*S + s).
  int canon[C::ACC_M];
#pragma unroll
  for (int i = 0; i < C::ACC_M; ++i) canon[i] = __ldg(a.tab + m0 + tt.m(i)).w;  // -1 past Kdim
#pragma unroll
  for (int j = 0; j < C::ACC_N; ++j) {
    const int n = tt.n(j), s = n / S::kWidth, nn = n % S::kWidth;
    const int64_t g = S::group(gb, s);
    if (nn >= a.Kg || g >= a.groups) continue;
    float* out = a.partial + S::split(s) * a.total + (g * a.Kg + nn) * a.Kdim;
#pragma unroll
    for (int i = 0; i < C::ACC_M; ++i)
      if (canon[i] >= 0) out[canon[i]] = acc[i][j];
  }
}

template <int SLOTS, bool kChunkSlots>
void launch(const Conv2dGradProblem& p) {
  const regtile::TileSlots slots{SLOTS, kChunkSlots};
  regtile::WgradSplit w =
      regtile::plan_wgrad_split(p, C::BK, "implicit_gemm_regtile_slots", slots);
  for (int64_t g0 = 0; g0 < w.group_blocks; g0 += 65535) {  // gridDim.z <= 65535
    w.args.g0 = static_cast<int>(g0);
    const dim3 grid(static_cast<unsigned>(w.tiles), static_cast<unsigned>(w.grid_y),
                    static_cast<unsigned>(std::min<int64_t>(w.group_blocks - g0, 65535)));
    wgrad_slots_kernel<SLOTS, kChunkSlots>
        <<<grid, C::THREADS, 0, at::cuda::getCurrentCUDAStream()>>>(w.args);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  conv::launch_wgrad_finish<float>(p, w.partial, w.splits);
}

}  // namespace

void conv2d_backward_weight_implicit_gemm_regtile_slots(const Conv2dGradProblem& p) {
  const int64_t Kg = p.K / p.groups;
  if (p.K * (p.C / p.groups) * p.R * p.S == 0) return;
  TORCH_CHECK_TYPE(p.dtype == at::kFloat,
                   "cuops.conv2d_backward_weight(implicit_gemm_regtile_slots): unsupported "
                   "dtype ",
                   p.dtype);
  const regtile::TileSlots slots = regtile::tile_slots(p.groups, Kg, /*by_pixels=*/true);
  if (slots.n == 1 || !regtile::wgrad_split_fits(p))
    return conv2d_backward_weight_implicit_gemm_regtile(p);
  if (slots.pixels) return slots.n == 4 ? launch<4, true>(p) : launch<2, true>(p);
  return slots.n == 4 ? launch<4, false>(p) : launch<2, false>(p);
}

}  // namespace cuops::cuda
