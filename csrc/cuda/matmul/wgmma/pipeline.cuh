// The stages of the wgmma GEMM: the shared-memory ring and its barriers, the
// producer (TMA box copies into the ring), the consumers' main loop (wgmma on
// the ring's tiles through matrix descriptors) and the epilogue (accumulator
// fragments -> + bias -> T -> C, bounds-checked).
#pragma once

#include "cuda/matmul/wgmma/config.cuh"

namespace cuops::cuda::wgmma {

// Shared-memory layout of one stage (all offsets multiples of 1024 bytes):
//   A tile: K-major A: BM rows (m) of 64 k = 128 bytes each, TMA-swizzled;
//           M-major A: BM/64 boxes of 64 rows (k) x 64 m, 8 KB apart.
//   B tile: the same with BN rows (K-major B) or BN/64 boxes (N-major B).
// Both layouts are the canonical 128-byte-swizzle layouts of the PTX ISA
// ("Shared Memory Matrix Layout", K-major and MN-major with 128B swizzle):
// 8-row x 128-byte atoms of 1024 bytes, in which 16-byte chunk c of row r
// sits at chunk c ^ r -- what CU_TENSOR_MAP_SWIZZLE_128B writes into a
// 1024-byte-aligned destination.
//
// Barriers: full[s] completes when stage s has landed (one arrival, the
// producer's expect_tx, + the copies' bytes); empty[s] when every consumer
// warp has finished reading it (one arrival per consumer warp, after its
// wgmma batch on s has been waited for).
template <class C>
struct Ring {
  uint32_t base;  // stage 0: the dynamic smem rounded up to 1024 bytes
  uint32_t bars;  // full[0..S), then empty[0..S), 8 bytes each

  __device__ __forceinline__ uint32_t a(int s) const { return base + s * C::kStageBytes; }
  __device__ __forceinline__ uint32_t b(int s) const { return a(s) + C::kABytes; }
  __device__ __forceinline__ uint32_t full(int s) const { return bars + 8 * s; }
  __device__ __forceinline__ uint32_t empty(int s) const { return bars + 8 * (C::kStages + s); }
  // The epilogue staging of consumer warp w (0 .. kConsumerWarps - 1).
  __device__ __forceinline__ uint32_t out(int w) const {
    return base + C::kStages * C::kStageBytes + w * C::kOutWarpBytes;
  }

  // One thread; the caller then synchronizes the block. `full_arrivals`:
  // the producer's expect_tx (1), + one per gathering thread where producer
  // threads fill part of a stage with cp.async (the convolutions).
  __device__ __forceinline__ void init(int full_arrivals = 1) const {
    for (int s = 0; s < C::kStages; ++s) {
      mbar_init(full(s), full_arrivals);
      mbar_init(empty(s), C::kConsumerWarps);
    }
    mbar_init_fence();  // visible to the copy engine (async proxy)
  }
};

// The ring over a kernel's dynamic buffer `smem` (rounded up to the 128-byte
// swizzle's 1024-byte period) and its static barriers `bars`, initialized by
// one thread for `full_arrivals` arrivals per stage, visible to the block.
template <class C>
__device__ __forceinline__ Ring<C> setup_ring(unsigned char* smem, uint64_t* bars,
                                              int full_arrivals = 1) {
  const Ring<C> ring{(smem_u32(smem) + 1023u) & ~1023u, smem_u32(bars)};
  if (threadIdx.x == 0) ring.init(full_arrivals);
  __syncthreads();
  return ring;
}

// Position in the ring: the stage and the parity of its barriers' current
// phase, advanced once per k tile by the producer and by each consumer alike.
struct RingPos {
  int s = 0;
  uint32_t phase = 0;
  template <int kStages>
  __device__ __forceinline__ void next() {
    if (++s == kStages) {
      s = 0;
      phase ^= 1u;
    }
  }
};

// Output tile `t`: product z = t / (tiles per product), then the grouped
// order within it (mm::tile_coords: 8 tile rows sweep the N tiles together,
// for L2 reuse of the A and B panels).
template <class C>
__device__ __forceinline__ void tile_origin(const Params& p, int64_t t, int64_t& z, int64_t& m0,
                                            int64_t& n0) {
  const int64_t per = p.tiles_m * p.tiles_n;
  z = t / per;
  int64_t tm, tn;
  mm::tile_coords(t - z * per, p.tiles_m, p.tiles_n, tm, tn);
  m0 = tm * C::BM;
  n0 = tn * C::BN;
}

// The kBoxCols-wide boxes (128 bytes of elements: 64 16-bit, 32 fp32) of an
// M/N-major operand tile that touch the tensor (`rows_left` = M - m0 or
// N - n0 > 0).
template <int kTileRows, int kBoxCols = 64>
__device__ __forceinline__ int mn_boxes(int64_t rows_left) {
  const int64_t boxes = (rows_left + kBoxCols - 1) / kBoxCols;
  return boxes < kTileRows / kBoxCols ? static_cast<int>(boxes) : kTileRows / kBoxCols;
}

// The producer: one thread walks the block's tiles and their k tiles, waits
// for a free stage, announces its bytes and issues the box copies. A K-major
// operand is one box [rows][BK k] at (k0, row0); an M/N-major one is
// rows/kMnBoxCols boxes [BK k][kMnBoxCols columns] at (col0 + kMnBoxCols h,
// k0). The copy engine zero-fills whatever lies outside the tensor (M, N, K
// tails) and counts those bytes.
// An M/N-major box wholly outside (box h >= 1 at an M/N tail of at most
// kMnBoxCols h rows, e.g. M = 64 with 128-wide tiles) is not issued and not
// announced: whether the copy engine counts a box that touches no element is
// not documented, and its smem only feeds rows/columns of C that are never
// stored (a product row m reads only A's row m, a column n only B's column n).
// One operand's boxes of k tile k0 into `dst`, tile rows from row0: one
// K-major box, or the first `boxes` of the kRows/kBoxCols M/N-major ones.
template <bool MN, int kRows, int kMnBoxBytes, int kBoxCols = 64>
__device__ __forceinline__ void load_operand(uint32_t dst, const void* map, uint32_t bar, int row0,
                                             int boxes, int k0) {
  if constexpr (MN) {
    CUOPS_UNROLL
    for (int h = 0; h < kRows / kBoxCols; ++h)
      if (h < boxes) tma_load_2d(dst + h * kMnBoxBytes, map, bar, row0 + kBoxCols * h, k0);
  } else {
    tma_load_2d(dst, map, bar, k0, row0);
  }
}

template <class C, bool A_MN, bool B_MN>
__device__ __forceinline__ void produce(const Params& p, const Ring<C>& ring) {
  RingPos pos;
  const int64_t tiles = p.tiles_m * p.tiles_n * p.batch;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    int64_t z, m0, n0;
    tile_origin<C>(p, t, z, m0, n0);
    const int a_boxes = A_MN ? mn_boxes<C::BM, C::kMnBoxCols>(p.M - m0) : 1;
    const int b_boxes = B_MN ? mn_boxes<C::BN, C::kMnBoxCols>(p.N - n0) : 1;
    // Product z's rows of each stacked map: the tile rows of a K-major
    // operand, the k rows of an M/N-major one.
    const int64_t a_z = z * p.a_zrows, b_z = z * p.b_zrows;
    const int a_row = static_cast<int>(A_MN ? m0 : a_z + m0), a_k = static_cast<int>(A_MN ? a_z : 0);
    const int b_row = static_cast<int>(B_MN ? n0 : b_z + n0), b_k = static_cast<int>(B_MN ? b_z : 0);
    const uint32_t tx_bytes = (A_MN ? a_boxes * C::kMnBoxBytes : C::kABytes) +
                              (B_MN ? b_boxes * C::kMnBoxBytes : C::kBBytes);
    for (int kt = 0; kt < p.ktiles; ++kt) {
      // First lap: parity 1 is "the phase before the first", complete at once.
      mbar_wait_bounded(ring.empty(pos.s), pos.phase ^ 1u);
      const uint32_t bar = ring.full(pos.s);
      mbar_arrive_expect_tx(bar, tx_bytes);
      const int k0 = kt * C::BK;
      load_operand<A_MN, C::BM, C::kMnBoxBytes, C::kMnBoxCols>(ring.a(pos.s), &p.tma_a, bar,
                                                               a_row, a_boxes, a_k + k0);
      load_operand<B_MN, C::BN, C::kMnBoxBytes, C::kMnBoxCols>(ring.b(pos.s), &p.tma_b, bar,
                                                               b_row, b_boxes, b_k + k0);
      pos.next<C::kStages>();
    }
  }
}

// The convolutions' gather producers (128 threads) copy 128-byte tile rows
// with 16-byte cp.async, eight consecutive threads per row, one chunk each:
// a warp's copy instruction then reads four whole rows (four cache lines),
// where one row per thread would touch 32 lines per instruction and make
// the L1 lookups, not the tensor cores, the limit. Thread t copies chunk
// t % 8 of rows t / 8 + 16 i. Per-row state (a pixel's place in x) is
// computed by one thread of each group of eight and passed around with
// shuffles (GatherLane::from), so no thread holds eight rows' state.
struct GatherLane {
  int chunk;  // 16-byte chunk of every row this thread copies
  int slot;   // its first row; then slot + 16, slot + 32, ...
  int lane;

  static constexpr int kSlots = 128 / 8;  // rows copied by one instruction of the warpgroup

  __device__ __forceinline__ explicit GatherLane(int tid)
      : chunk(tid & 7), slot(tid >> 3), lane(tid & 31) {}

  // `v` of the thread of this group of eight whose chunk is i.
  template <typename V>
  __device__ __forceinline__ V from(V v, int i) const {
    return __shfl_sync(0xffffffffu, v, (lane & 24) | i);
  }

  // Chunk `chunk` of tile row `row` (of a 1024-byte-aligned operand box at
  // `box`) from src (16-byte aligned), where the copy engine's SWIZZLE_128B
  // would put it: chunk c of row r at chunk c ^ (r % 8). `in` false:
  // zero-fill (`any` is a valid address that is not read).
  template <typename T>
  __device__ __forceinline__ void copy(uint32_t box, int row, const T* src, bool in,
                                       const T* any) const {
    cp_async_16(box + row * 128 + ((chunk ^ (row & 7)) << 4), in ? src : any, in ? 16 : 0);
  }
};

// Descriptor of k16 step j of an operand tile (PTX ISA, "Shared Memory Matrix
// Layout", 128-byte swizzle, canonical layouts written there in units of
// 16-byte chunks T):
// * K-major, ((8,m),(T,2)):((8T,SBO),(1,T)): 8 rows 128 bytes apart, row
//   groups SBO = 1024 bytes apart; the 16 k of one step are 2 chunks of a
//   row, so step j starts 32 j bytes into the row (LBO unused for swizzled
//   K-major layouts: 16 by convention).
// * MN-major, ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)): 64 contiguous M/N
//   elements per 128-byte row, 64-column boxes LBO = kMnBoxBytes apart;
//   k rows 128 bytes apart, groups of 8 k rows SBO = 1024 bytes apart; step j
//   starts 16 j rows = 2048 j bytes into the box.
template <class C, bool MN_MAJOR>
__device__ __forceinline__ uint64_t operand_desc(uint32_t tile, int j) {
  if constexpr (MN_MAJOR)
    return smem_desc_sw128(tile + j * 16 * 128, C::kMnBoxBytes, 1024);
  else
    return smem_desc_sw128(tile + j * 32, 16, 1024);
}

// One consumer warpgroup's k loop over one output tile: per k tile, wait for
// the stage, issue kKSteps wgmma (64 x BN x 16 each) as one batch, then free
// a stage whose batch is done. `a_off`: this warpgroup's 64 rows inside the
// A tile. The first step of the tile overwrites the accumulators (scale-d =
// 0).
// C::kInFlight = 0: wait for each batch before the next; the other consumer
// warpgroup's batch fills the tensor cores meanwhile. 1: wait only for the
// previous batch (wgmma.wait_group 1) and free its stage, so this
// warpgroup's next batch is queued while one runs; the last one is waited
// for after the loop, before the epilogue reads the accumulators. Batches
// on the same accumulators run in issue order.
// kGathered: part of a stage was written by cp.async (the convolutions'
// gather producers), not by the copy engine: a proxy fence after the wait.
// `ktiles`: k tiles of this output tile (p.ktiles, or a split's share).
template <typename T, class C, bool A_MN, bool B_MN, bool kGathered = false>
__device__ __forceinline__ void mainloop(const Ring<C>& ring, RingPos& pos, uint32_t a_off,
                                         float (&acc)[C::kAccRegs], int lane, int ktiles) {
  const auto release = [&](int s) {
    __syncwarp();
    if (lane == 0) mbar_arrive(ring.empty(s));
  };
  int running = -1;  // the stage of the batch still in flight (kInFlight 1)
  for (int kt = 0; kt < ktiles; ++kt) {
    mbar_wait_bounded(ring.full(pos.s), pos.phase);
    if constexpr (kGathered) fence_proxy_async_smem();
    const uint32_t sA = ring.a(pos.s) + a_off, sB = ring.b(pos.s);
    fence_operands(acc);
    wgmma_fence();
    CUOPS_UNROLL
    for (int j = 0; j < C::kKSteps; ++j)
      wgmma_m64k16<T, C::BN, A_MN, B_MN>(acc, operand_desc<C, A_MN>(sA, j),
                                         operand_desc<C, B_MN>(sB, j), kt > 0 || j > 0);
    wgmma_commit();
    if constexpr (C::kInFlight == 0) {
      wgmma_wait<0>();
      fence_operands(acc);
      release(pos.s);
    } else {
      wgmma_wait<1>();  // the previous batch is done reading its stage
      if (running >= 0) release(running);
      running = pos.s;
    }
    pos.next<C::kStages>();
  }
  if constexpr (C::kInFlight == 1) {
    wgmma_wait<0>();
    fence_operands(acc);
    if (running >= 0) release(running);
  }
}

// Epilogue of one consumer warpgroup: its 64 x BN block of C at (m0, n0) =
// acc (+ bias[n], in fp32), rounded to T once (mm::epilogue's semantics),
// stored through C's strides with guards at the M and N edges. Fragment
// layout (wgmma/ptx.cuh): warp w, lane (g = l/4, q = l%4) holds, for each
// 8-column group j, acc[4j], acc[4j+1] at row 16w+g, columns 8j+2q, +1, and
// acc[4j+2], acc[4j+3] at row 16w+g+8.
// `row_offset(m)`: where row m of C starts (elements from C of product z):
// m * c_sm for a matrix; the convolution's output pixel m anywhere in y.
// Evaluated twice per thread, once per row it holds.
template <typename T, class C, class RowOffset>
__device__ __forceinline__ void store_tile_direct(const Params& p, const float (&acc)[C::kAccRegs],
                                                  int64_t z, int64_t m0, int64_t n0, int warp,
                                                  int lane, RowOffset row_offset) {
  using Ops = HalfOps<T>;
  const int g = lane >> 2, q = lane & 3;
  const T* bias = static_cast<const T*>(p.bias);
  T* c = static_cast<T*>(p.c) + z * p.c_sz;
  const int64_t r0 = m0 + 16 * warp + g;
  const int64_t row[2] = {r0 < p.M ? row_offset(r0) : 0, r0 + 8 < p.M ? row_offset(r0 + 8) : 0};
  CUOPS_UNROLL
  for (int j = 0; j < C::BN / 8; ++j) {
    const int64_t n = n0 + 8 * j + 2 * q;
    if (n >= p.N) continue;
    const bool has2 = n + 1 < p.N;
    float b0 = 0.f, b1 = 0.f;
    if (bias != nullptr) {
      b0 = Ops::to_float(bias[n]);
      if (has2) b1 = Ops::to_float(bias[n + 1]);
    }
    CUOPS_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int64_t m = r0 + 8 * h;
      if (m >= p.M) continue;
      const float v0 = acc[4 * j + 2 * h] + b0, v1 = acc[4 * j + 2 * h + 1] + b1;
      T* dst = c + row[h] + n * p.c_sn;
      if (p.c_pairs && has2) {
        *reinterpret_cast<typename Ops::T2*>(dst) = Ops::pack(v0, v1);
      } else {
        dst[0] = Ops::from_float(v0);
        if (has2) dst[p.c_sn] = Ops::from_float(v1);
      }
    }
  }
}

// The same epilogue through the warp's 2 KB staging (`stage`), where every
// row of C is contiguous and 16-byte aligned (Params::c_rows16): a direct
// store of the fragments writes 16 bytes of each of 8 rows per instruction
// (half sectors), which makes the store, not the tensor cores, the limit of
// short-K products (1x1 convolutions, K = 64..256). Per 64-column block:
// the fragments (+ bias, rounded) into the staging, 16-byte chunk c of row
// r at chunk c ^ (r % 8) (the 32 lanes of one store hit 32 banks), then
// each lane copies chunk lane % 8 of rows lane / 8 + 4 i: a warp store
// instruction writes four whole 128-byte row segments.
template <typename T, class C, class RowOffset>
__device__ __forceinline__ void store_tile_staged(const Params& p, const float (&acc)[C::kAccRegs],
                                                  int64_t z, int64_t m0, int64_t n0, int warp,
                                                  int lane, uint32_t stage, RowOffset row_offset) {
  using Ops = HalfOps<T>;
  const int g = lane >> 2, q = lane & 3, chunk = lane & 7, rsub = lane >> 3;
  const T* bias = static_cast<const T*>(p.bias);
  T* c = static_cast<T*>(p.c) + z * p.c_sz;
  const int64_t w0 = m0 + 16 * warp;  // the warp's first row
  int64_t row[4];                     // rows w0 + rsub + 4 i: their offsets, -1 past M
  CUOPS_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int64_t m = w0 + rsub + 4 * i;
    row[i] = m < p.M ? row_offset(m) : -1;
  }
  CUOPS_UNROLL
  for (int cb = 0; cb < C::BN / 64; ++cb) {
    CUOPS_UNROLL
    for (int jj = 0; jj < 8; ++jj) {
      const int j = 8 * cb + jj;
      const int64_t n = n0 + 8 * j + 2 * q;
      float b0 = 0.f, b1 = 0.f;
      if (bias != nullptr && n < p.N) {  // N % 8 == 0: n + 1 < N too
        b0 = Ops::to_float(bias[n]);
        b1 = Ops::to_float(bias[n + 1]);
      }
      CUOPS_UNROLL
      for (int h = 0; h < 2; ++h) {
        const typename Ops::T2 v = Ops::pack(acc[4 * j + 2 * h] + b0, acc[4 * j + 2 * h + 1] + b1);
        st_shared_b32(stage + (g + 8 * h) * 128 + ((jj ^ g) << 4) + 4 * q,
                      *reinterpret_cast<const uint32_t*>(&v));
      }
    }
    __syncwarp();
    const int64_t n = n0 + 64 * cb + 8 * chunk;
    CUOPS_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int r = rsub + 4 * i;
      const uint4 v = ld_shared_v4(stage + r * 128 + ((chunk ^ (r & 7)) << 4));
      if (row[i] >= 0 && n < p.N) *reinterpret_cast<uint4*>(c + row[i] + n) = v;
    }
    __syncwarp();  // the staging is rewritten by the next block
  }
}

// The epilogue: staged where the launch set Params::c_rows16 (C's rows allow
// it, unless the tuning tables ask for the direct one: "wgmma=2"), else direct.
template <typename T, class C, class RowOffset>
__device__ __forceinline__ void store_tile(const Params& p, const float (&acc)[C::kAccRegs],
                                           int64_t z, int64_t m0, int64_t n0, int warp, int lane,
                                           uint32_t stage, RowOffset row_offset) {
  if (p.c_rows16)
    store_tile_staged<T, C>(p, acc, z, m0, n0, warp, lane, stage, row_offset);
  else
    store_tile_direct<T, C>(p, acc, z, m0, n0, warp, lane, row_offset);
}

// k tiles of split z of a GEMM-K of `total` k tiles cut into splits of `per`
// (Params::ktiles): >= 1 for every split the host launches.
__device__ __forceinline__ int split_ktiles(int total, int64_t z, int per) {
  const int64_t left = total - z * per;
  return static_cast<int>(left < per ? left : per);
}
// ... of output tile t (of split z = t / tiles per split, tile_origin's z).
__device__ __forceinline__ int tile_split_ktiles(const Params& p, int total, int64_t t) {
  return split_ktiles(total, t / (p.tiles_m * p.tiles_n), p.ktiles);
}

// The epilogue of a split GEMM-K (the convolutions): one consumer
// warpgroup's 64 x BN fp32 partial tile of split z into ws[z][m][n] (rows
// m < M, columns n < N; N is even: pairs as float2), in store_tile's
// fragment layout; a finishing pass sums the splits in order.
template <class C>
__device__ __forceinline__ void store_partials(const Params& p, float* ws,
                                               const float (&acc)[C::kAccRegs], int64_t z,
                                               int64_t m0, int64_t n0, int warp, int lane) {
  const int g = lane >> 2, q = lane & 3;
  float* out = ws + z * p.M * p.N;
  const int64_t r0 = m0 + 16 * warp + g;
  CUOPS_UNROLL
  for (int j = 0; j < C::BN / 8; ++j) {
    const int64_t n = n0 + 8 * j + 2 * q;
    if (n >= p.N) continue;
    CUOPS_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int64_t m = r0 + 8 * h;
      if (m < p.M)
        *reinterpret_cast<float2*>(out + m * p.N + n) =
            make_float2(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
    }
  }
}

}  // namespace cuops::cuda::wgmma
