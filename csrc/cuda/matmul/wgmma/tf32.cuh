// The stages of the fp32 wgmma GEMM (wgmma_3xtf32 / wgmma_tf32, sm_90a) that
// differ from the fp16/bf16 engine's (pipeline.cuh): the tile configuration,
// the ring with the split B tiles, the transform warpgroup that splits B, the
// consumers' two-level main loop with A split in registers, and the fp32
// epilogue. The producer (TMA box copies) is pipeline.cuh's.
//
// Why this shape (docs/matmul-worklog.md, step 10):
// * tf32 wgmma reads B from shared memory, K-major only (no transpose bit
//   for 32-bit types), and A from shared memory or registers. B's split
//   parts (big = tf32(x), small = tf32(x - big)) must therefore be written to
//   shared memory by someone: a transform warpgroup reads the copy engine's
//   raw fp32 tile (K- or N-major) and writes two K-major, 128-byte-swizzled
//   tiles. A is read by the consumers into wgmma's register fragment and
//   split there: no smem traffic for A's parts, and any A layout works.
// * The three products of a k tile go into `part` (small terms first), then
//   acc += part with fp32 adds (mma_3xtf32.cu explains the two levels).
#pragma once

#include "cuda/matmul/wgmma/pipeline.cuh"

namespace cuops::cuda::wgmma {

// ---------------------------------------------------------------------------
// PTX: D (64 x 128 fp32) (+)= A (64 x 8 tf32, registers) * B (8 x 128 tf32,
// K-major smem through a descriptor). A's fragment (CUTLASS's ALayout_64x8,
// PTX ISA "Register Fragments" for .tf32): warp w, lane (g = l/4, t = l%4)
// holds a[0] = (16w + g, t), a[1] = (16w + g + 8, t), a[2] = (16w + g, t + 4),
// a[3] = (16w + g + 8, t + 4). scale_d == 0: D = A*B.
// ---------------------------------------------------------------------------
#define CUOPS_ACC8(i)                                                                       \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
__device__ __forceinline__ void wgmma_m64n128k8_tf32(float (&d)[64], const uint32_t (&a)[4],
                                                     uint64_t desc_b, uint32_t scale_d) {
  CUOPS_SM90A_PTX(asm volatile(
      "{\n .reg .pred p;\n setp.ne.b32 p, %68, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %69, p, 1, 1;\n}\n"
      : CUOPS_ACC8(0), CUOPS_ACC8(8), CUOPS_ACC8(16), CUOPS_ACC8(24), CUOPS_ACC8(32),
        CUOPS_ACC8(40), CUOPS_ACC8(48), CUOPS_ACC8(56)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(scale_d), "l"(desc_b)));
}
#undef CUOPS_ACC8

// Keeps register fragments that an in-flight wgmma reads live and unchanged
// until this point (after its wait): the compiler cannot see the
// asynchronous read and could otherwise reuse the registers.
template <int N>
__device__ __forceinline__ void fence_fragment(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

__device__ __forceinline__ float ld_shared_f32(uint32_t addr) {
  float v;
  asm volatile("ld.shared.f32 %0, [%1];\n" : "=f"(v) : "r"(addr) : "memory");
  return v;
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------
struct Tf32Config {
  int stages = 3;  // k tiles in the ring (raw A + raw B + B big + B small = 64 KB each)
  // setmaxnreg after the role split (launch: 65536 / 512 = 128 per thread):
  // the producer (one thread issuing copies) and the transform warpgroup
  // need few, each consumer holds 2 x 64 fp32 accumulators (acc, part) and
  // 32 A fragment registers (big + small of a k tile).
  int producer_regs = 40;
  int transform_regs = 40;
  int consumer_regs = 216;
};

template <Tf32Config kCfg, bool kSplitOps>
struct Tf32Tile {
  static constexpr Tf32Config cfg = kCfg;
  static constexpr bool kSplit = kSplitOps;  // 3xTF32; false: one TF32 product (allow_tf32)
  static constexpr int kConsumers = 2;
  static constexpr int WM = 64, BM = kConsumers * WM, BN = 128;
  static constexpr int BK = 32;  // 32 fp32 = one 128-byte swizzle row
  static constexpr int kKSteps = BK / 8;  // wgmma k8 steps per k tile
  static constexpr int kStages = kCfg.stages;
  static constexpr int kThreads = 128 * (2 + kConsumers);  // producer, transform, consumers
  static constexpr int kConsumerWarps = 4 * kConsumers;
  static constexpr int kAccRegs = BN / 2;
  static constexpr int kABytes = BM * BK * 4, kBBytes = BN * BK * 4;
  static constexpr int kMnBoxCols = 32;           // fp32 columns of a 128-byte box row
  static constexpr int kMnBoxBytes = BK * 128;    // one M/N-major box: BK k rows
  static constexpr int kStageBytes = kABytes + 3 * kBBytes;
  static constexpr int kDynSmem = kStages * kStageBytes + 1024;  // + 1024-byte alignment slack

  static_assert(BK * 4 == 128, "a K-major tile row is exactly one 128-byte swizzle row");
  static_assert(kABytes % 1024 == 0 && kBBytes % 1024 == 0, "tiles start on 1024-byte atoms");
  static_assert(BM <= 256 && BN <= 256, "a TMA box has at most 256 rows");
  static_assert(BN == 128, "the tf32 wgmma wrapper is m64n128k8");
  static_assert(kStages >= 2, "a ring of at least two stages");
  static_assert(kDynSmem + 8 * 3 * kStages <= 232448, "the ring fits in shared memory");
  static_assert(BN * BK / 4 == 8 * 128, "transform: 8 16-byte chunks per transform thread");
  static constexpr int kLaunchRegs = (65536 / kThreads) / 8 * 8;
  static_assert(kCfg.producer_regs + kCfg.transform_regs + kConsumers * kCfg.consumer_regs <=
                    (2 + kConsumers) * kLaunchRegs,
                "the warpgroups' registers after setmaxnreg fit the block's launch allocation");
  static_assert(kCfg.consumer_regs >= 2 * kAccRegs + 8 * kKSteps + 24,
                "acc + part + A fragments + addressing fit");
};

inline constexpr Tf32Config kTf32Default{};

// Stage s: [raw A | raw B | B big | B small]; barriers full[S], empty[S]
// (pipeline.cuh's meaning), then ready[S]: B's split tiles of stage s are
// written (one arrival per transform thread).
template <class C>
struct Tf32Ring : Ring<C> {
  __device__ __forceinline__ uint32_t big(int s) const { return this->b(s) + C::kBBytes; }
  __device__ __forceinline__ uint32_t small(int s) const { return big(s) + C::kBBytes; }
  __device__ __forceinline__ uint32_t ready(int s) const {
    return this->bars + 8 * (2 * C::kStages + s);
  }
  // `full_arrivals` as Ring::init's (the convolutions' gathering threads).
  __device__ __forceinline__ void init(int full_arrivals = 1) const {
    for (int s = 0; s < C::kStages; ++s) {
      mbar_init(this->full(s), full_arrivals);
      mbar_init(this->empty(s), C::kConsumerWarps);
      mbar_init(ready(s), 128);
    }
    mbar_init_fence();
  }
};

// Byte offset of element (row r, k) in a K-major 128-byte-swizzled tile
// (rows of 32 fp32): 16-byte chunk k/4 of row r sits at chunk (k/4) ^ (r%8).
__device__ __forceinline__ uint32_t kmajor_off(int r, int k) {
  return r * 128 + ((((k >> 2) ^ r) & 7) << 4) + ((k & 3) << 2);
}
// ... and of element (column c, k) in an M/N-major tile of 32-column boxes
// (box c/32: BK rows of k, 128 bytes each).
template <class C>
__device__ __forceinline__ uint32_t mnmajor_off(int c, int k) {
  return (c >> 5) * C::kMnBoxBytes + k * 128 + (((((c & 31) >> 2) ^ k) & 7) << 4) + ((c & 3) << 2);
}

// Splits four fp32 values (the bits of v) into tf32 big and small parts
// (mma_ptx.cuh: split_tf32); without the split, big only.
template <bool kSplit>
__device__ __forceinline__ void split4(const float (&v)[4], uint32_t (&big)[4],
                                       uint32_t (&small)[4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (kSplit)
      split_tf32(v[i], big[i], small[i]);
    else
      big[i] = cvt_rna_tf32(v[i]);
  }
}

// ---------------------------------------------------------------------------
// Transform warpgroup: per k tile, B's raw tile -> K-major big/small tiles.
// K-major raw B has the destination's layout: a chunk-by-chunk map (thread t
// takes chunks t + 128 i: conflict-free). N-major raw B is transposed in 4 x 4
// blocks (4 k x 4 n): thread t takes blocks u = t and t + 128, k4 = u % 8,
// n4 = 8 (q / 8) + (q + k4) % 8 with q = u / 8; this diagonal order makes the
// eight lanes of each 16-byte access hit eight distinct chunks on both sides.
// ---------------------------------------------------------------------------
template <class C, bool B_MN>
__device__ __forceinline__ void transform_tile(uint32_t raw, uint32_t big, uint32_t small, int t) {
  uint32_t hi[4], lo[4] = {0, 0, 0, 0};
  if constexpr (!B_MN) {
#pragma unroll 2
    for (int i = 0; i < 8; ++i) {
      const uint32_t off = (t + 128 * i) * 16;
      const uint4 r = ld_shared_v4(raw + off);
      const float v[4] = {__uint_as_float(r.x), __uint_as_float(r.y), __uint_as_float(r.z),
                          __uint_as_float(r.w)};
      split4<C::kSplit>(v, hi, lo);
      st_shared_v4(big + off, hi[0], hi[1], hi[2], hi[3]);
      if constexpr (C::kSplit) st_shared_v4(small + off, lo[0], lo[1], lo[2], lo[3]);
    }
  } else {
#pragma unroll 1
    for (int rep = 0; rep < 2; ++rep) {
      const int u = t + 128 * rep, q = u >> 3, k4 = u & 7;
      const int n4 = 8 * (q >> 3) + ((q + k4) & 7);
      float v[4][4];  // [k][n] of the block
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint4 r = ld_shared_v4(raw + mnmajor_off<C>(4 * n4, 4 * k4 + i));
        v[i][0] = __uint_as_float(r.x);
        v[i][1] = __uint_as_float(r.y);
        v[i][2] = __uint_as_float(r.z);
        v[i][3] = __uint_as_float(r.w);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float col[4] = {v[0][j], v[1][j], v[2][j], v[3][j]};
        split4<C::kSplit>(col, hi, lo);
        const uint32_t off = kmajor_off(4 * n4 + j, 4 * k4);
        st_shared_v4(big + off, hi[0], hi[1], hi[2], hi[3]);
        if constexpr (C::kSplit) st_shared_v4(small + off, lo[0], lo[1], lo[2], lo[3]);
      }
    }
  }
}

// `ktiles_of(tile)`: the k tiles of output tile `tile` (of its GEMM-K split).
template <class C, bool B_MN, class KTiles>
__device__ __forceinline__ void transform(const Params& p, const Tf32Ring<C>& ring, int t,
                                          KTiles ktiles_of) {
  RingPos pos;
  const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int ktiles = ktiles_of(tile);
    for (int kt = 0; kt < ktiles; ++kt) {
      mbar_wait_bounded(ring.full(pos.s), pos.phase);
      transform_tile<C, B_MN>(ring.b(pos.s), ring.big(pos.s), ring.small(pos.s), t);
      // Generic-proxy writes, read next by wgmma (the async proxy).
      fence_proxy_async_smem();
      mbar_arrive(ring.ready(pos.s));
      pos.next<C::kStages>();
    }
  }
}

// ---------------------------------------------------------------------------
// Consumers: per k tile, A's fragments of the k8 steps read from the raw A
// tile and split; part = sum over the steps of A_small B_big + A_big B_small,
// then + A_big B_big (one wgmma batch, the first step with scale-d 0); after
// the wait, acc += part.
// ---------------------------------------------------------------------------
template <class C, bool A_MN>
__device__ __forceinline__ void load_a_fragments(uint32_t sa, int row0, int t,
                                                 uint32_t (&big)[C::kKSteps][4],
                                                 uint32_t (&small)[C::kKSteps][4]) {
#pragma unroll
  for (int j = 0; j < C::kKSteps; ++j) {
    float v[4];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int m = row0 + 8 * (r & 1), k = 8 * j + t + 4 * (r >> 1);
      v[r] = ld_shared_f32(sa + (A_MN ? mnmajor_off<C>(m, k) : kmajor_off(m, k)));
    }
    split4<C::kSplit>(v, big[j], small[j]);
  }
}

template <class C, bool A_MN>
__device__ __forceinline__ void mainloop_tf32(const Tf32Ring<C>& ring, RingPos& pos, int row0,
                                              float (&acc)[C::kAccRegs], int lane, int ktiles) {
  float part[C::kAccRegs];
  const int t = lane & 3;
  for (int kt = 0; kt < ktiles; ++kt) {
    // A came from the copy engine (full): its fragments are loaded and split
    // while the transform may still be writing B's parts (ready).
    mbar_wait_bounded(ring.full(pos.s), pos.phase);
    uint32_t big[C::kKSteps][4], small[C::kKSteps][4];
    load_a_fragments<C, A_MN>(ring.a(pos.s), row0, t, big, small);
    mbar_wait_bounded(ring.ready(pos.s), pos.phase);
    const uint32_t sb = ring.big(pos.s), ss = ring.small(pos.s);
    fence_operands(part);
    wgmma_fence();
    // Descriptor of k8 step j: 32 bytes (8 fp32) into the K-major rows.
    if constexpr (C::kSplit) {
      CUOPS_UNROLL
      for (int j = 0; j < C::kKSteps; ++j)
        wgmma_m64n128k8_tf32(part, small[j], smem_desc_sw128(sb + 32 * j, 16, 1024), j > 0);
      CUOPS_UNROLL
      for (int j = 0; j < C::kKSteps; ++j)
        wgmma_m64n128k8_tf32(part, big[j], smem_desc_sw128(ss + 32 * j, 16, 1024), 1);
    }
    CUOPS_UNROLL
    for (int j = 0; j < C::kKSteps; ++j)
      wgmma_m64n128k8_tf32(part, big[j], smem_desc_sw128(sb + 32 * j, 16, 1024),
                           C::kSplit || j > 0);
    wgmma_commit();
    wgmma_wait<0>();
    fence_operands(part);
    CUOPS_UNROLL
    for (int j = 0; j < C::kKSteps; ++j) {
      fence_fragment(big[j]);
      if constexpr (C::kSplit) fence_fragment(small[j]);
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(ring.empty(pos.s));
    CUOPS_UNROLL
    for (int i = 0; i < C::kAccRegs; ++i) acc[i] += part[i];
    pos.next<C::kStages>();
  }
}

// The ring in the kernel's shared memory (`smem`: the dynamic buffer, `bars`:
// 3 * kStages barriers), its barriers initialized by one thread for
// `full_arrivals` arrivals per stage (Tf32Ring::init) and visible to the block.
template <class C>
__device__ __forceinline__ Tf32Ring<C> make_ring(unsigned char* smem, uint64_t* bars,
                                                 int full_arrivals) {
  const Tf32Ring<C> ring{{(smem_u32(smem) + 1023u) & ~1023u, smem_u32(bars)}};
  if (threadIdx.x == 0) ring.init(full_arrivals);
  __syncthreads();
  return ring;
}

// The block's roles after the ring is set up (no block-wide barrier after
// this point: they run on their own). Warpgroup 0 runs `produce(tid)` (the
// copy engine's thread, or gathering threads), 1 the transform, 2 and 3 the
// consumers, each tile ending in `store(acc, z, m0, n0, warp, lane)` for its
// 64-row half. `tile_ktiles(t)`: the k tiles of output tile t.
template <class C, bool A_MN, bool B_MN, class Produce, class TileKtiles, class Store>
__device__ __forceinline__ void run_roles(const Params& p, const Tf32Ring<C>& ring,
                                          Produce&& produce, TileKtiles&& tile_ktiles,
                                          Store&& store) {
  const int tid = threadIdx.x, wg = tid / 128;
  if (wg == 0) {
    setmaxnreg_dec<C::cfg.producer_regs>();
    produce(tid);
  } else if (wg == 1) {
    setmaxnreg_dec<C::cfg.transform_regs>();
    transform<C, B_MN>(p, ring, tid - 128, tile_ktiles);
  } else {
    setmaxnreg_inc<C::cfg.consumer_regs>();
    const int cw = wg - 2, warp = (tid / 32) % 4, lane = tid % 32;
    const int row0 = cw * C::WM + 16 * warp + (lane >> 2);  // this thread's A rows: row0, +8
    float acc[C::kAccRegs];
    RingPos pos;
    const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
      int64_t z, m0, n0;
      tile_origin<C>(p, t, z, m0, n0);
      CUOPS_UNROLL
      for (int i = 0; i < C::kAccRegs; ++i) acc[i] = 0.f;
      mainloop_tf32<C, A_MN>(ring, pos, row0, acc, lane, tile_ktiles(t));
      store(acc, z, m0 + cw * C::WM, n0, warp, lane);
    }
  }
}

// Epilogue: one consumer's 64 x 128 block of C = acc (+ bias), fp32, guarded
// at the M and N edges (the fragment layout of store_tile_direct). Row m of
// C starts at c + row_offset(m) (the convolutions: output pixel m's place).
template <class C, class RowOffset>
__device__ __forceinline__ void store_tile_f32_rows(const Params& p, float* c,
                                                    const float (&acc)[C::kAccRegs], int64_t m0,
                                                    int64_t n0, int warp, int lane,
                                                    RowOffset row_offset) {
  const int g = lane >> 2, q = lane & 3;
  const float* bias = static_cast<const float*>(p.bias);
  const int64_t r0 = m0 + 16 * warp + g;
  // The thread's two rows, r0 and r0 + 8: their starts once, not per column
  // (rows past M are not stored, and their places not formed).
  float* const rows[2] = {r0 < p.M ? c + row_offset(r0) : c,
                          r0 + 8 < p.M ? c + row_offset(r0 + 8) : c};
  CUOPS_UNROLL
  for (int j = 0; j < C::BN / 8; ++j) {
    const int64_t n = n0 + 8 * j + 2 * q;
    if (n >= p.N) continue;
    const bool has2 = n + 1 < p.N;
    const float b0 = bias != nullptr ? bias[n] : 0.f;
    const float b1 = bias != nullptr && has2 ? bias[n + 1] : 0.f;
    CUOPS_UNROLL
    for (int h = 0; h < 2; ++h) {
      if (r0 + 8 * h >= p.M) continue;
      const float v0 = acc[4 * j + 2 * h] + b0, v1 = acc[4 * j + 2 * h + 1] + b1;
      float* dst = rows[h] + n * p.c_sn;
      if (p.c_pairs && has2) {
        *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);
      } else {
        dst[0] = v0;
        if (has2) dst[p.c_sn] = v1;
      }
    }
  }
}
template <class C>
__device__ __forceinline__ void store_tile_f32(const Params& p, const float (&acc)[C::kAccRegs],
                                               int64_t z, int64_t m0, int64_t n0, int warp,
                                               int lane) {
  store_tile_f32_rows<C>(p, static_cast<float*>(p.c) + z * p.c_sz, acc, m0, n0, warp, lane,
                         [&](int64_t m) { return m * p.c_sm; });
}

}  // namespace cuops::cuda::wgmma
