// Global -> shared memory stage of the mma_sync GEMM: the swizzled smem
// layout, the ring of stages, and the three ways of filling a stage with the
// next k tile of A and B:
// * cp.async (fast path): the operand's contiguous dim has stride 1, its
//   leading stride and every batch offset are multiples of 8 elements and the
//   base is 16-byte aligned, so each 16-byte chunk is one aligned async copy;
// * the tensor copy engine (cfg.tma, sm_90): one thread issues box copies;
// * element-wise (general path): any strides or alignment, each element loaded
//   on its own (predicated) and stored into the same swizzled layout, so the
//   math is unchanged. Slower (no async copies), but correct for every input.
#pragma once

#include "cuda/matmul/mma_sync/config.cuh"

namespace cuops::cuda::mma_sync {

// A smem tile is R rows of L 16-byte chunks; a row runs along the operand's
// contiguous dim (8 elements per chunk). Returns the chunk's index in the tile.
//
// ldmatrix reads 8 consecutive rows at one chunk column (rows 8-aligned in
// every use). Banks repeat every 128 B = 8 chunks, so:
// * L >= 8 (rows of >= 128 B): every row starts at bank 0; XOR-ing the chunk's
//   low 3 bits with (row % 8) puts the 8 rows in 8 different 16-byte bank
//   groups. The XOR never leaves the row's aligned group of 8 chunks.
// * L == 4 (64-byte rows, the K-contiguous tiles with BK = 32): two rows share
//   a 128-byte line, so (row % 2) already selects the half; XOR-ing with
//   (row / 2) % 4 makes the 4 line-pairs in an 8-row group distinct as well.
// The writes into smem use the same function, so the layout is consistent.
template <int L>
__device__ __forceinline__ int swizzle(int row, int chunk) {
  static_assert(L == 4 || L % 8 == 0, "unsupported smem row length");
  if constexpr (L == 4) {
    return row * 4 + (chunk ^ ((row >> 1) & 3));
  } else {
    return row * L + (chunk ^ (row & 7));
  }
}

// Tile geometry of an operand in smem: rows R, chunks per row L.
// A kK: [BM][BK]   A kMN: [BK][BM]   B kK: [BN][BK]   B kMN: [BK][BN]
template <class C, Major MAJ, bool IS_A>
struct TileShape {
  static constexpr int kOuter = IS_A ? C::BM : C::BN;  // M or N extent
  static constexpr int R = MAJ == Major::kK ? kOuter : C::BK;
  static constexpr int L = (MAJ == Major::kK ? C::BK : kOuter) / 8;
};

// The ring of C::kStages stages in dynamic shared memory, each the A tile
// then the B tile of one k tile. tma: stages from the next 1024-byte boundary
// (swizzled boxes), one mbarrier per stage after them.
template <class C>
struct SmemRing {
  static constexpr bool kTma = tma_in_this_build<C>();
  uint32_t base;        // stage 0 (shared-space address)
  uint32_t bars;        // tma: stage s's mbarrier at bars + 8 * s
  uint32_t parity = 0;  // tma: bit s = the phase parity the next wait on stage s expects

  __device__ __forceinline__ explicit SmemRing(unsigned char* smem)
      : base(kTma ? (smem_u32(smem) + 1023u) & ~1023u : smem_u32(smem)),
        bars(base + C::kSmemBytes) {}

  // tma: one arrival per phase (the issuing thread's expect_tx).
  __device__ __forceinline__ void init_barriers(int tid) const {
    if constexpr (kTma) {
      if (tid == 0) {
        for (int st = 0; st < C::kStages; ++st) mbar_init(bars + 8 * st, 1);
        mbar_init_fence();
      }
      __syncthreads();
    }
  }

  __device__ __forceinline__ uint32_t stage(int slot) const { return base + slot * C::kStageBytes; }

  // Tile in `slot` has landed and is visible to every thread (tma: its
  // stage's mbarrier phase completed; cp.async: after the commit of tile
  // kt+kS-1, kS+kt groups exist, so wait<kS-2> leaves tiles 0..kt+1 done).
  __device__ __forceinline__ void wait(int slot) {
    if constexpr (kTma) {
      mbar_wait(bars + 8 * slot, (parity >> slot) & 1u);
      parity ^= 1u << slot;
    } else {
      cp_async_wait<C::kStages - 2>();
    }
    __syncthreads();
  }
};

// Fast path: one thread's share of an operand tile, copied with 16-byte
// cp.async. The tile is R rows x L chunks (rows along M/N for a K-major
// operand, along K otherwise). Thread `tid` owns chunk column tid % L of rows
// row0 + i * kRowStep: consecutive threads take consecutive chunks of a row
// (coalesced), the column -- hence the byte count at a tail -- is the same for
// all of a thread's chunks, and the addresses are one pointer plus multiples
// of one stride. That keeps the loader to a handful of registers next to the
// 128 accumulators; chunks past M/N/K are zero-filled (src_bytes = 0).
template <int R, int L, int THREADS, int BK, bool K_MAJOR>
struct AsyncTileLoader {
  static constexpr int kRowStep = THREADS / L, kPer = R / kRowStep;
  static_assert(THREADS % L == 0 && R % kRowStep == 0, "chunks must divide among threads");
  // Then swizzle(row0 + i*kRowStep, ch) == swizzle(row0, ch) + i*kRowStep*L.
  static_assert(kRowStep % 8 == 0, "the swizzle pattern must repeat every kRowStep rows");

  const uint16_t* g;    // operand origin: a valid address for the zero-size copies
  const uint16_t* ptr;  // chunk 0 of the next k tile (only dereferenced when in range)
  int64_t row_step;     // kRowStep rows, in elements
  int64_t k_step;       // one k tile, in elements
  int64_t rows_left;    // K_MAJOR: M/N rows from row0 on; else K - row0 - k0
  int64_t cols_left;    // K_MAJOR: K - col - k0; else M/N columns from col on
  int64_t k_left;       // K - k0 of the next tile (the same for the whole block)
  bool outer_full;      // the block's M/N extent is entirely inside the operand
  uint32_t s_off;       // byte offset of chunk 0 in the smem tile

  // outer_*: the M (for A) or N (for B) block origin and extent; ld: the
  // operand's stride between tile rows.
  __device__ __forceinline__ AsyncTileLoader(const uint16_t* g_, int64_t ld, int64_t outer_block,
                                             int64_t outer_size, int64_t K, int tid) {
    const int row0 = tid / L, ch = tid % L, col = ch * 8;
    g = g_;
    row_step = kRowStep * ld;
    s_off = swizzle<L>(row0, ch) * 16;
    k_left = K;
    if constexpr (K_MAJOR) {
      ptr = g + (outer_block + row0) * ld + col;
      k_step = BK;
      rows_left = outer_size - outer_block - row0;
      cols_left = K - col;
      outer_full = outer_size - outer_block >= R;
    } else {
      ptr = g + row0 * ld + outer_block + col;
      k_step = BK * ld;
      rows_left = K - row0;
      cols_left = outer_size - outer_block - col;
      outer_full = outer_size - outer_block >= 8 * L;
    }
  }

  // Copies the next k tile (tiles are loaded in order 0, 1, 2, ...): the
  // loader steps its pointer and remaining extents along K after each call,
  // so the main loop does no 64-bit multiplies. Interior tiles (all but the
  // M/N/K edges; a block-uniform branch) skip every bounds test. kChecked =
  // false drops the edge path from the code altogether (the caller knows the
  // whole block is interior): left in, the compiler may if-convert the two
  // paths, and the predicated-off edge path then costs issue slots every tile.
  template <bool kChecked = true>
  __device__ __forceinline__ void load_next(uint32_t s_tile) {
    if (!kChecked || (outer_full && k_left >= BK)) {
      load_chunks(s_tile, 0, kPer);
    } else {
      const int64_t cl = cols_left;
      const int bytes = cl <= 0 ? 0 : (cl >= 8 ? 16 : static_cast<int>(cl) * 2);
      CUOPS_UNROLL
      for (int i = 0; i < kPer; ++i) {
        const bool ok = bytes > 0 && i * kRowStep < rows_left;
        cp_async_16(s_tile + s_off + i * (kRowStep * L * 16), ok ? ptr + i * row_step : g,
                    ok ? bytes : 0);
      }
    }
    advance();
  }

  // Interior tiles only: chunks [i0, i1) of the next tile (the bounds are
  // compile-time constants after unrolling, so the test folds away); the
  // caller issues every part and then calls advance().
  __device__ __forceinline__ void load_chunks(uint32_t s_tile, int i0, int i1) const {
    CUOPS_UNROLL
    for (int i = 0; i < kPer; ++i)
      if (i >= i0 && i < i1)
        cp_async_16(s_tile + s_off + i * (kRowStep * L * 16), ptr + i * row_step, 16);
  }
  // Start at k tile n instead of 0 (stream-K blocks begin mid-tile).
  __device__ __forceinline__ void skip(int64_t n) {
    ptr += n * k_step;
    k_left -= n * BK;
    if constexpr (K_MAJOR) cols_left -= n * BK; else rows_left -= n * BK;
  }
  __device__ __forceinline__ void advance() {
    ptr += k_step;
    k_left -= BK;
    if constexpr (K_MAJOR) cols_left -= BK; else rows_left -= BK;
  }
};

// General path: the same tile, element by element, for any strides. Element
// (r, c) of the tile (tile coordinates as above: r outer, c contiguous-in-smem)
// is read at g[(r0 + r) * s_r + (c0 + c) * s_c]. `c_inner` picks which tile dim
// consecutive threads walk, so the global reads coalesce along whichever
// operand dim has the smaller stride.
template <int R, int L, int THREADS>
__device__ __forceinline__ void load_tile_general(uint16_t* s_tile, const uint16_t* g, int64_t s_r,
                                                  int64_t s_c, int64_t r0, int64_t r_lim,
                                                  int64_t c0, int64_t c_lim, bool c_inner,
                                                  int tid) {
  constexpr int C = L * 8, kElems = R * C;
  static_assert(kElems % THREADS == 0, "tile elements must divide evenly among threads");
  // Partial unroll: loads of a group are in flight together without holding
  // a whole tile in registers (the accumulators already use 128).
#pragma unroll 8
  for (int i = 0; i < kElems / THREADS; ++i) {
    const int e = tid + i * THREADS;
    const int r = c_inner ? e / C : e % R;
    const int c = c_inner ? e % C : e / R;
    const int64_t gr = r0 + r, gc = c0 + c;
    uint16_t v = 0;
    if (gr < r_lim && gc < c_lim) v = g[gr * s_r + gc * s_c];
    s_tile[swizzle<L>(r, c >> 3) * 8 + (c & 7)] = v;
  }
}

// Fills ring stages with the k tiles of one work unit (k tiles kt0, kt0+1,
// ... of the block tile at m_block, n_block of batch item with operands A, B),
// by whichever of the three paths the kernel instance uses.
template <class C, Major AM, Major BMJ, bool GENERAL>
struct StageLoader {
  static constexpr bool kTma = tma_in_this_build<C>();
  using TA = TileShape<C, AM, true>;
  using TB = TileShape<C, BMJ, false>;
  // Fast-path loaders (unused by the other paths): A's outer dim is M, B's is
  // N; the stride between tile rows is the non-contiguous one.
  using LoaderA = AsyncTileLoader<TA::R, TA::L, C::kThreads, C::BK, AM == Major::kK>;
  using LoaderB = AsyncTileLoader<TB::R, TB::L, C::kThreads, C::BK, BMJ == Major::kK>;

  const Params& p;
  const SmemRing<C>& ring;
  unsigned char* smem;  // general path: the ring through generic addresses
  const uint16_t* A;    // operands of the unit's batch item
  const uint16_t* B;
  int64_t m_block, n_block, kt0;
  int tid;
  LoaderA a_async;
  LoaderB b_async;

  __device__ __forceinline__ StageLoader(const Params& p_, const SmemRing<C>& ring_,
                                         unsigned char* smem_, const uint16_t* A_,
                                         const uint16_t* B_, int64_t m_block_, int64_t n_block_,
                                         int64_t kt0_, int tid_)
      : p(p_), ring(ring_), smem(smem_), A(A_), B(B_), m_block(m_block_), n_block(n_block_),
        kt0(kt0_), tid(tid_),
        a_async(A_, AM == Major::kK ? p_.a_sm : p_.a_sk, m_block_, p_.M, p_.K, tid_),
        b_async(B_, BMJ == Major::kK ? p_.b_sn : p_.b_sk, n_block_, p_.N, p_.K, tid_) {
    if (kt0 != 0) {
      a_async.skip(kt0);
      b_async.skip(kt0);
    }
  }

  // Every tile of the unit is interior (no M/N edge, K % BK == 0): the
  // cp.async loads may drop their edge path.
  __device__ __forceinline__ bool interior() const {
    return a_async.outer_full && b_async.outer_full && p.K % C::BK == 0;
  }

  // Copy k tile `kt` (of the unit) into ring slot `slot`, both operands.
  // kChecked = false: every tile of the unit is interior.
  template <bool kChecked>
  __device__ __forceinline__ void load(int64_t kt, int slot) {
    const uint32_t sA = ring.stage(slot);
    const uint32_t sB = sA + C::kABytes;
    if constexpr (kTma) {
      if (tid == 0) load_tma(kt, slot, sA, sB);
    } else if constexpr (!GENERAL) {
      a_async.template load_next<kChecked>(sA);  // tiles are requested in order: the
      b_async.template load_next<kChecked>(sB);  // loaders keep their own k position
    } else {
      const int64_t k0 = (kt0 + kt) * C::BK;
      uint16_t* gA = reinterpret_cast<uint16_t*>(smem + slot * C::kStageBytes);
      uint16_t* gB = gA + C::kABytes / 2;
      if constexpr (AM == Major::kK)
        load_tile_general<TA::R, TA::L, C::kThreads>(gA, A, p.a_sm, p.a_sk, m_block, p.M, k0,
                                                     p.K, p.a_k_inner, tid);
      else
        load_tile_general<TA::R, TA::L, C::kThreads>(gA, A, p.a_sk, p.a_sm, k0, p.K, m_block,
                                                     p.M, !p.a_k_inner, tid);
      if constexpr (BMJ == Major::kK)
        load_tile_general<TB::R, TB::L, C::kThreads>(gB, B, p.b_sn, p.b_sk, n_block, p.N, k0,
                                                     p.K, !p.b_n_inner, tid);
      else
        load_tile_general<TB::R, TB::L, C::kThreads>(gB, B, p.b_sk, p.b_sn, k0, p.K, n_block,
                                                     p.N, p.b_n_inner, tid);
    }
  }

  // tma: the box copies of one k tile (issued by one thread). A K-major
  // operand is one box [outer rows][64 k]; an M/N-contiguous one, boxes
  // [BK rows][64 columns] side by side (mma_sync.cu: encode_tma_maps).
  __device__ __forceinline__ void load_tma(int64_t kt, int slot, uint32_t sA, uint32_t sB) const {
    const uint32_t bar = ring.bars + 8 * slot;
    const int k0 = static_cast<int>((kt0 + kt) * C::BK);
    auto boxes = [&](uint32_t dst, const CUtensorMap* map, auto k_major, auto outer,
                     int64_t origin) {
      const int o0 = static_cast<int>(origin);
      if constexpr (decltype(k_major)::value) {
        tma_load_2d(dst, map, bar, k0, o0);
      } else {
        CUOPS_UNROLL
        for (int h = 0; h < decltype(outer)::value / 64; ++h)
          tma_load_2d(dst + h * (C::BK * 128), map, bar, o0 + 64 * h, k0);
      }
    };
    mbar_arrive_expect_tx(bar, C::kStageBytes);  // full boxes, edges zero-filled
    boxes(sA, &p.tma_a, std::bool_constant<AM == Major::kK>{},
          std::integral_constant<int, C::BM>{}, m_block);
    boxes(sB, &p.tma_b, std::bool_constant<BMJ == Major::kK>{},
          std::integral_constant<int, C::BN>{}, n_block);
  }

  // spread_cp_async (interior units): part `part` (of kKSteps-1) of the next
  // tile's copies into `slot`, chunks of A then B; the last part steps both
  // loaders to the following tile.
  __device__ __forceinline__ void load_part(int part, int slot) {
    constexpr int kParts = C::kKSteps - 1, kTot = LoaderA::kPer + LoaderB::kPer;
    const int c0 = part * kTot / kParts, c1 = (part + 1) * kTot / kParts;
    const uint32_t wA = ring.stage(slot);
    a_async.load_chunks(wA, c0, c1);
    b_async.load_chunks(wA + C::kABytes, c0 - LoaderA::kPer, c1 - LoaderA::kPer);
    if (part == kParts - 1) {
      a_async.advance();
      b_async.advance();
    }
  }
};

}  // namespace cuops::cuda::mma_sync
