// Step 5 of the CUDA matmul ladder: fp16/bf16 GEMM on tensor cores with
// `mma.sync` (portable to every GPU from sm_80 on), fed by a multi-stage
// `cp.async` pipeline through XOR-swizzled shared memory and `ldmatrix`.
//
// The shape of the computation (one thread block = one BM x BN tile of C):
//
//   global --cp.async (16 B, async, zero-fill at tails)--> smem ring of kStages
//   smem   --ldmatrix (4 8x8 matrices per instruction)--> registers (fragments)
//   regs   --mma.sync.m16n8k16 (fp32 accumulate)-------> 64x64 accumulator per warp
//   epilogue: + bias (fp32), convert, guarded store
//
// Why each piece exists:
// * Tensor cores: an m16n8k16 mma does 4096 FLOPs in one warp instruction;
//   the FMA pipes would need 64 warp instructions for the same work.
// * Warp tile 64x64: per k16 step a warp loads 4 A fragments (64x16) and 8 B
//   fragments (16x64) with 8 ldmatrix.x4 and issues 32 mma: 128 bytes of
//   shared memory read per mma. An SM reads 128 B/clock from shared memory, so
//   a smaller warp tile (64x32: 192 B/mma) would make smem bandwidth, not the
//   tensor cores, the limit.
// * Block tile 128x128 with 4 warps, 2 blocks per SM (CfgBig: BK = 64, 3
//   stages; CfgSmall: BK = 32, 4 stages, when big tiles would not give every
//   SM a block): each SM sub-partition then runs one warp of each block, so
//   while one waits at its block's barrier the other keeps the tensor pipe
//   busy (8-warp 128x256 blocks measured slower: both warps of a
//   sub-partition wait at the same barrier). Each A and B byte fetched from
//   L2 feeds 64 FLOPs.
// * cp.async pipeline: global->smem copies bypass registers and run in the
//   background; while the warps multiply tile kt, the next kStages-1 tiles
//   are in flight. On sm_90, for a single GEMM (batch 1), the default
//   (CfgBigTma) fills the same stages with the tensor copy engine instead
//   (TMA boxes + one mbarrier per stage): the 16 LDGSTS per thread and k tile
//   then stop competing with ldmatrix for the SM's load/store pipe (+11 %).
// * Cross-tile pipeline (kPipe, CfgBig): fragments are double-buffered and
//   the next tile's barrier and first ldmatrix come before the current
//   tile's last k16 step; blocks whose tiles are all interior run a copy of
//   the main loop without the loader's bounds tests (docs/matmul-worklog.md,
//   step 5b).
// * XOR swizzle: ldmatrix reads eight 16-byte rows at once; unswizzled, rows
//   whose stride is a multiple of 128 B hit the same 4 banks (8-way conflict).
//   XOR-ing the 16-byte chunk index with the row number spreads any 8
//   consecutive rows over all 32 banks, with no padding (see swizzle()).
// * ldmatrix(.trans): one instruction gives each lane exactly the register
//   pairs the mma fragment layout asks for; .trans handles operands whose
//   contiguous dimension is the "wrong" one for the fragment, so transposed
//   views (weight.mT, the backward's A^T/B^T) need no copy.
// * Threadblock rasterization: blocks are numbered so that ~8 consecutive
//   tile rows sweep the N tiles together, keeping the A and B panels in
//   flight small enough to be re-used from L2.
//
// Two load paths, same kernel template:
// * fast (cp.async): the operand's contiguous dim has stride 1, its leading
//   stride and every batch offset are multiples of 8 elements and the base
//   pointer is 16-byte aligned, so each 16-byte chunk is one aligned copy.
// * general: any strides/alignment. Each element is loaded on its own
//   (predicated) and stored into the same swizzled smem layout; the math part
//   is unchanged. Slower (no async copies), but correct for every input.
#include <cuda.h>  // CUtensorMap (the encode function comes from the runtime's driver entry point)

#include "cuda/matmul/common.cuh"
#include "cuda/mma_ptx.cuh"

namespace cuops::cuda {
namespace {

using namespace ptx;  // cp.async, ldmatrix, mma.sync wrappers (csrc/cuda/mma_ptx.cuh)

// Per-dtype pieces: the mma instruction and the conversions of the epilogue
// (fragment layouts: csrc/cuda/mma_ptx.cuh).
template <typename T>
struct HalfOps;

template <>
struct HalfOps<__half> {
  using T2 = __half2;
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    mma_16816<__half>(d, a, b);
  }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ T2 pack(float x, float y) { return __floats2half2_rn(x, y); }
};

template <>
struct HalfOps<__nv_bfloat16> {
  using T2 = __nv_bfloat162;
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    mma_16816<__nv_bfloat16>(d, a, b);
  }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) {
    return __float2bfloat16_rn(x);
  }
  static __device__ __forceinline__ T2 pack(float x, float y) {
    return __floats2bfloat162_rn(x, y);
  }
};

// ---------------------------------------------------------------------------
// Configuration and shared-memory layout
// ---------------------------------------------------------------------------

// Which dimension of an operand is contiguous in memory (and in its smem tile).
// A: kK = "row-major" (a_sk == 1), kMN = M-contiguous (a_sm == 1, e.g. x.mT).
// B: kK = K-contiguous (b_sk == 1, e.g. weight.mT), kMN = N-contiguous (b_sn == 1).
enum class Major { kK, kMN };

// kMinBlocks: __launch_bounds__ blocks per SM (caps registers at
// 64K / (threads * kMinBlocks)). kFragDB: double-buffer the ldmatrix
// fragments in registers, so the loads of k16 step s+1 are issued before the
// mma of step s (costs one more set of fragments: 32 registers for 64x64).
// kPipe (needs kFragDB): the fragment pipeline also crosses k tiles -- the
// barrier for tile kt+1 comes before the last k16 step of tile kt, and that
// step's mma hide the ldmatrix of tile kt+1's first fragments (CUTLASS's
// multistage main loop). Without it every tile starts with a barrier followed
// by ldmatrix -> mma stalls.
template <int kWarpsM_, int kWarpsN_, int kStages_, int BK_ = 32, int WM_ = 64, int WN_ = 64,
          int kMinBlocks_ = 1, bool kFragDB_ = false, bool kPipe_ = false, int kGroupM_ = 8,
          bool kInterleave_ = false, bool kSpread_ = false, bool kStreamK_ = false,
          bool kTma_ = false>
struct Cfg {
  static constexpr int kGroupM = kGroupM_;  // tile rows per rasterization group
  // kInterleave (kPipe only): the ldmatrix of the next k16 step are spread
  // one per 4 mma instead of issued as a burst of 8 (ncu: MIO throttle, the
  // ldmatrix queue, was the third stall of entry 8); mma and ldmatrix are
  // then volatile asm, so the order written is the order emitted.
  static constexpr bool kInterleave = kInterleave_;
  // kSpread (kPipe only): the next tile's cp.async are issued a part per k16
  // step (steps 0 .. kKS-2, committed before the last step's wait), not as a
  // burst of 16 per thread at the top of the tile (CUTLASS's multistage loop
  // does the same): LDGSTS share the MIO queue with ldmatrix.
  static constexpr bool kSpread = kSpread_;
  // kStreamK (fast path, one GEMM): a persistent grid of as many blocks as fit
  // at once; whole waves of tiles run data-parallel, the rest (last partial
  // wave + one full wave) is split into equal shares of k tiles per block
  // (stream-K): 1024 tiles of 4096^3 on 264 block slots are 3.88 waves, the
  // last one left 12 % of the slots idle. A tile split between blocks is
  // summed by the block that owns its k tile 0 (see the fixup in the kernel).
  static constexpr bool kStreamK = kStreamK_;
  // kTma (sm_90, one GEMM): the stages are filled by the bulk tensor copy
  // engine instead of cp.async -- one thread issues the box copies of a k
  // tile (a K-contiguous operand: one BM/BN x 64 box; an M/N-contiguous one:
  // 64 x 64 boxes side by side; the engine's 128-byte swizzle = this file's
  // swizzle<8>) completing on a per-stage mbarrier, so the 16 LDGSTS and their
  // address math per thread and k tile leave the mma warps' instruction
  // stream; edges are zero-filled by the engine. The mma side is unchanged.
  static constexpr bool kTma = kTma_;
  static constexpr int kWarpsM = kWarpsM_, kWarpsN = kWarpsN_, kStages = kStages_;
  static constexpr int WM = WM_, WN = WN_, BK = BK_;  // warp tile, k depth of a stage
  static constexpr int kMinBlocks = kMinBlocks_;
  static constexpr bool kFragDB = kFragDB_;
  static constexpr bool kPipe = kPipe_;
  static_assert(!kPipe || (kFragDB && (BK / 16) % 2 == 0),
                "kPipe: double-buffered fragments, an even number of k16 steps");
  static_assert(WM % 16 == 0 && WN % 16 == 0 && BK % 32 == 0, "unsupported tile");
  static constexpr int BM = kWarpsM * WM, BN = kWarpsN * WN;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kABytes = BM * BK * 2, kBBytes = BN * BK * 2;
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kSmemBytes = kStageBytes * kStages;
  // kTma: + alignment slack (swizzled boxes start 1024-byte aligned) + barriers.
  static constexpr int kDynSmem = kSmemBytes + (kTma ? 1024 + 8 * kStages : 0);
  static_assert(!kTma || (kPipe && !kSpread && !kStreamK && BK == 64 && WM == 64 && WN == 64),
                "kTma: 128-byte rows of K-major tiles (BK 64), a warp's M/N-contiguous "
                "fragments inside one 64-column half");
  static constexpr int MI = WM / 16, NI = WN / 8;  // mma tiles per warp: 4 x 8
};
// Fast path defaults. Fragment double-buffering is on (same math, ldmatrix of
// step ks+1 ordered before the mma of step ks; 238-240 registers, no spills).
// CfgBig = table entry 8 since session 3 (entry 4 + the cross-tile pipeline,
// lean interior loop, staged epilogue; H100 sweep, docs/matmul-worklog.md:
// bf16 4096^3 0.56x, 8192^3 0.55-0.62x cuBLAS, vs 0.49x / 0.50-0.54x).
// 128x128x64, 4 warps, 3 x 32 KB, 2 blocks/SM:
using CfgBig = Cfg<2, 2, 3, 64, 64, 64, 2, true, true>;
// CfgBigTma = table entry 23 (session 4): CfgBig with its stages filled by the
// tensor copy engine; the default on sm_90+ for a single GEMM (any of the
// four fast-path layouts): bf16 4096^3 0.62-0.63x, 8192^3 0.60-0.69x cuBLAS
// for a row-major a @ b (CfgBig 0.56-0.57x / 0.55-0.60x in the same sweep).
using CfgBigTma = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 8, false, false, false, true>;
using CfgSmall = Cfg<2, 2, 4, 32, 64, 64, 2, true>;  // 128x128, 4 warps, 64 KB smem, 2 blocks/SM
// General path: element-wise loads need registers of their own (254 without
// the second fragment set), so no fragment double-buffering there.
using CfgGeneral = Cfg<2, 2, 4>;

// Tuning table (CUOPS_MATMUL_CONFIG="mma_sync=<i>", see mm::tuning_config).
// Entry 0 is the default above (big/small picked by problem size); entries
// 1.. force one configuration. To keep the build short they are instantiated
// only for the fast path of the most common layout (A K-contiguous, B
// N-contiguous: a plain row-major a @ b); other layouts and the general path
// keep the default. Well-known-good mma.sync shapes on sm_80/sm_90 (every
// entry ~240 registers/thread without spills on sm_90; a 64x32 warp tile
// capped at 128 registers for 2 blocks of 8 warps spilled ~1 KB):
//                 warpsM warpsN stages BK  WM  WN minB fragDB   block     smem  blocks/SM
using Tune1 = Cfg<2, 2, 3, 64, 64, 32, 3, true>;   // 128x64x64   72 KB  3 (12 warps/SM)
using Tune2 = Cfg<2, 2, 4, 32, 64, 64, 2, true>;   // 128x128x32  64 KB  2
using Tune3 = Cfg<2, 4, 3, 64, 64, 32, 2, false>;  // 128x128x64  96 KB  2 (16 warps/SM)
using Tune4 = Cfg<2, 2, 3, 64, 64, 64, 2, true>;   // 128x128x64  96 KB  2 (= CfgBig)
using Tune5 = Cfg<4, 2, 3, 64, 32, 64, 2, false>;  // 128x128x64  96 KB  2 (16 warps/SM)
using Tune6 = Cfg<2, 2, 2, 64, 64, 32, 4, false>;  // 128x64x64   48 KB  4 (16 warps/SM)
using Tune7 = Cfg<2, 2, 4, 32, 64, 64, 2, false>;  // 128x128x32  64 KB  2 (run-3 small, forced)
// Session 3: the cross-tile fragment pipeline (kPipe), and 8-warp blocks,
// whose bigger tile cuts the cp.async bytes written to shared memory per
// FLOP to 0.75x (128x256) -- at the mma.sync peak a 128x128 block's ldmatrix
// reads plus cp.async writes would need ~126 of the SM's 128 B/clock. Measured
// (docs/matmul-worklog.md, step 5b): entry 8 is the best (now CfgBig); the
// 8-warp blocks lose to barrier stalls, shared memory ran at ~50 % of peak.
//                 warpsM warpsN stages BK  WM  WN minB fragDB pipe  block      smem  blocks/SM
using Tune8 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true>;    // 128x128x64  96 KB  2
using Tune9 = Cfg<2, 4, 3, 64, 64, 64, 1, true, true>;    // 128x256x64 144 KB  1 (8 warps)
using Tune10 = Cfg<2, 4, 4, 32, 64, 64, 1, true, true>;   // 128x256x32  96 KB  1 (8 warps)
using Tune11 = Cfg<4, 2, 3, 64, 64, 64, 1, true, true>;   // 256x128x64 144 KB  1 (8 warps)
using Tune12 = Cfg<2, 2, 4, 32, 64, 64, 2, true, true>;   // 128x128x32  64 KB  2
using Tune13 = Cfg<2, 4, 4, 64, 64, 64, 1, true, true>;   // 128x256x64 192 KB  1 (3 tiles ahead)
using Tune14 = Cfg<4, 2, 4, 64, 64, 64, 1, true, true>;   // 256x128x64 192 KB  1 (3 tiles ahead)
// Rasterization groups of 16 / 4 tile rows (8 elsewhere): at 4096^3 a wave of
// 264 blocks with groups of 8 reads all 32 B panels (32 MB) besides 8 A panels.
using Tune15 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 16>;  // = Tune8, groups of 16
using Tune16 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 4>;   // = Tune8, groups of 4
// BK 32 with 5/6 stages: more bytes in flight (4-5 x 16 KB vs 2 x 32 KB) in
// the same shared memory, at one barrier per 64 mma instead of 128.
using Tune17 = Cfg<2, 2, 6, 32, 64, 64, 2, true, true, 16>;  // 128x128x32  96 KB  2
using Tune18 = Cfg<2, 2, 5, 32, 64, 64, 2, true, true, 16>;  // 128x128x32  80 KB  2
// Session 4, against entry 8's MIO-throttle stall (the ldmatrix/LDGSTS queue):
// entry 8 with the ldmatrix spread among the mma (19), with the cp.async
// spread over the k16 steps (20), both (21). Measured (H100, bf16 4096^3 /
// 8192^3, two sweeps each, docs/matmul-worklog.md step 5c): 19 0.55x /
// 0.53-0.58x, 20 0.51x / 0.54x (each spread copy costs its own address
// math: 377 instructions per 128 mma instead of 251), 21 0.55x / 0.58-0.59x;
// entry 8 in the same sweeps 0.56x / 0.57-0.61x. None kept as default.
//                 warpsM warpsN stages BK  WM  WN minB fragDB pipe group interleave spread
using Tune19 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 8, true>;         // 128x128x64 96 KB 2
using Tune20 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 8, false, true>;  // 128x128x64 96 KB 2
using Tune21 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 8, true, true>;   // 128x128x64 96 KB 2
// Entry 8 on a stream-K grid (single GEMMs with more tiles than block slots
// and a partial last wave; others run the plain grid). A development entry:
// its fixup waits on other blocks of the grid, so it needs the whole grid
// resident at once (not guaranteed under MPS SM limits or next to another
// persistent kernel). Measured: 0.52x /
// 0.57-0.59x (entry 8: 0.57x / 0.56-0.60x): the wave tail was not where the
// time went (the fixup and the split tiles' extra prologues cost more).
using Tune22 = Cfg<2, 2, 3, 64, 64, 64, 2, true, true, 8, false, false, true>;
// Entry 8 with its stages filled by the bulk tensor copy engine (sm_90, one
// GEMM; elsewhere entry 8 itself runs).
using Tune23 = CfgBigTma;
constexpr int kNumTuneConfigs = 24;

// A smem tile is R rows of L 16-byte chunks; a row runs along the operand's
// contiguous dim (8 elements per chunk). Returns the chunk's index in the tile.
//
// ldmatrix reads 8 consecutive rows at one chunk column (rows 8-aligned in
// every use below). Banks repeat every 128 B = 8 chunks, so:
// * L >= 8 (rows of >= 128 B): every row starts at bank 0; XOR-ing the chunk's
//   low 3 bits with (row % 8) puts the 8 rows in 8 different 16-byte bank
//   groups. The XOR never leaves the row's aligned group of 8 chunks.
// * L == 4 (64-byte rows, the K-contiguous tiles with BK = 32): two rows share
//   a 128-byte line, so (row % 2) already selects the half; XOR-ing with
//   (row / 2) % 4 makes the 4 line-pairs in an 8-row group distinct as well.
// The cp.async writes use the same function, so the layout is consistent.
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

// ---------------------------------------------------------------------------
// Kernel parameters (by value; the batch offset calculator is ~0.5 KB)
// ---------------------------------------------------------------------------
struct Params {
  int64_t M, N, K, batch;
  const uint16_t* a;  // fp16/bf16 moved as raw 16-bit words until the mma
  const uint16_t* b;
  void* c;
  const void* bias;  // [N] or null
  int64_t a_sm, a_sk, b_sk, b_sn, c_sm, c_sn;
  OffsetCalculator<3> oc;  // z -> {C, A, B} element offsets
  int tiles_m, tiles_n;
  bool c_pairs;       // C rows contiguous and 4-byte aligned: store 2 elements at once
  bool c_vec16;       // C rows contiguous, rows and batch items 16-byte aligned
  bool a_k_inner;     // general path: consecutive threads walk k in A (else m)
  bool b_n_inner;     // general path: consecutive threads walk n in B (else k)
  // Stream-K grid (C::kStreamK; sk_iters == 0: plain grid): tiles from
  // sk_first_tile on are split, sk_iters = their k tiles; per block of the
  // grid a BM x BN fp32 partial-sum slot and a ready flag (zeroed before the launch).
  int64_t sk_first_tile, sk_iters;
  float* sk_partial;
  int* sk_flags;
  // C::kTma: tensor maps of A and B (see encode_tma_maps).
  CUtensorMap tma_a, tma_b;
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

// ---------------------------------------------------------------------------
// The kernel
// ---------------------------------------------------------------------------
template <typename T, class C, Major AM, Major BMJ, bool GENERAL>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks)
    gemm_mma_kernel(const __grid_constant__ Params p) {
  using Ops = HalfOps<T>;
  using TA = TileShape<C, AM, true>;
  using TB = TileShape<C, BMJ, false>;
  constexpr int kS = C::kStages;
  extern __shared__ __align__(128) unsigned char smem[];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / C::kWarpsN, wn = warp % C::kWarpsN;  // warp's place in the block tile

  // Rasterization: groups of kGroupM tile rows; inside a group the tile row
  // varies fastest, so the blocks resident at one time cover a compact
  // ~8 x (#SMs/8) patch of C and share its A and B panels through L2.
  constexpr int kGroupM = C::kGroupM;
  const int64_t per_group = int64_t{kGroupM} * p.tiles_n;

  // The copy-engine path exists only in code built for sm_90+. The same
  // kernel built for an older target (e.g. sm_80 PTX that the driver compiles
  // for an H100) keeps the cp.async path, so a kTma launch is right on any build.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  constexpr bool kTma = false;
#else
  constexpr bool kTma = C::kTma;
#endif
  // kTma: stages from the next 1024-byte boundary, one mbarrier per stage
  // after them; bar_parity bit s = the phase parity the next wait on stage s expects.
  // A kTma block runs one unit (tma_eligible: batch 1; no stream-K): a second
  // one would need fence.proxy.async.shared::cta after the staged epilogue's
  // ordinary shared-memory stores, before the copy engine refills the stages.
  const uint32_t s_base = kTma ? (smem_u32(smem) + 1023u) & ~1023u : smem_u32(smem);
  const uint32_t bar_base = s_base + C::kSmemBytes;
  uint32_t bar_parity = 0;
  if constexpr (kTma) {
    if (tid == 0) {
      for (int st = 0; st < kS; ++st) mbar_init(bar_base + 8 * st, 1);
      mbar_init_fence();
    }
    __syncthreads();
  }
  const int64_t ktiles_all = ceil_div<int64_t>(p.K, C::BK);  // per tile

  // ldmatrix row addresses of this lane (tile-local row/chunk, see the layout
  // derivation next to each). Lane l addresses row (l % 8) of matrix l / 8.
  // A kK  [m][k], no .trans: matrix j = (m + 8*(j&1), k + 8*(j>>1)) -> a0..a3.
  // A kMN [k][m], .trans:    matrix j = (k + 8*(j>>1), m + 8*(j&1)) -> a0..a3;
  //   .trans hands lane l the pair S[k=2t,2t+1][m=g] = A[g][2t..2t+1], as a0 needs.
  // B kMN [k][n], .trans:    matrix j = (k + 8*(j&1), n + 8*(j>>1)) -> b0,b1 of
  //   n8 tile 2nj, then b0,b1 of n8 tile 2nj+1; lane gets S[k=2t..][n=g] = b0.
  // B kK  [n][k], no .trans: matrix j = (n + 8*(j>>1), k + 8*(j&1)), same order.
  auto a_frag_offset = [&](int mi, int ks) -> uint32_t {
    if constexpr (AM == Major::kK) {
      const int row = wm * C::WM + mi * 16 + (lane & 15);
      const int ch = ks * 2 + (lane >> 4);
      return swizzle<TA::L>(row, ch) * 16;
    } else {
      const int row = ks * 16 + (lane & 7) + (lane >> 4) * 8;
      const int m = wm * C::WM + mi * 16;  // first row of the 16-row fragment
      if constexpr (kTma)  // 64-row halves of BK rows x 128 bytes
        return (m / 64) * (C::BK * 128) + swizzle<8>(row, (m % 64) / 8 + ((lane >> 3) & 1)) * 16;
      return swizzle<TA::L>(row, m / 8 + ((lane >> 3) & 1)) * 16;
    }
  };
  auto b_frag_offset = [&](int nj, int ks) -> uint32_t {
    if constexpr (BMJ == Major::kMN) {
      const int row = ks * 16 + (lane & 15);
      const int n = wn * C::WN + nj * 16;  // first column of the pair of n8 tiles
      if constexpr (kTma)  // 64-column halves of BK rows x 128 bytes
        return (n / 64) * (C::BK * 128) + swizzle<8>(row, (n % 64) / 8 + (lane >> 4)) * 16;
      return swizzle<TB::L>(row, n / 8 + (lane >> 4)) * 16;
    } else {
      const int row = wn * C::WN + nj * 16 + (lane & 7) + (lane >> 4) * 8;
      const int ch = ks * 2 + ((lane >> 3) & 1);
      return swizzle<TB::L>(row, ch) * 16;
    }
  };

  // The offsets are affine in one of their two indices: moving 16 tile rows
  // (mi for A kK / nj for B kK, ks for the M/N-contiguous tiles) keeps
  // (row % 8) and (row / 2 % 4), hence the swizzle, so it adds a constant.
  // Only the other index needs a register per value (4 + 4 for 64x64x64);
  // kPipe kernels precompute those once, so each ldmatrix in the main loop is
  // stage base + register + immediate (the plain kernels keep the per-call
  // formula: the compiler recomputes it inside the loop).
  constexpr int kKS = C::BK / 16;
  // Chunks per smem row (kTma: M/N-contiguous tiles are 64-column halves).
  constexpr int kAL = kTma ? 8 : TA::L, kBL = kTma ? 8 : TB::L;
  constexpr uint32_t kArow16 = 16 * kAL * 16, kBrow16 = 16 * kBL * 16;  // 16 rows, bytes
  uint32_t a_off[AM == Major::kK ? kKS : C::MI], b_off[BMJ == Major::kK ? kKS : C::NI / 2];
  if constexpr (C::kPipe) {
    CUOPS_UNROLL
    for (int i = 0; i < (AM == Major::kK ? kKS : C::MI); ++i)
      a_off[i] = AM == Major::kK ? a_frag_offset(0, i) : a_frag_offset(i, 0);
    CUOPS_UNROLL
    for (int i = 0; i < (BMJ == Major::kK ? kKS : C::NI / 2); ++i)
      b_off[i] = BMJ == Major::kK ? b_frag_offset(0, i) : b_frag_offset(i, 0);
  }
  auto a_offset = [&](int mi, int ks) -> uint32_t {
    if constexpr (!C::kPipe) return a_frag_offset(mi, ks);
    else if constexpr (AM == Major::kK) return a_off[ks] + mi * kArow16;
    else return a_off[mi] + ks * kArow16;
  };
  auto b_offset = [&](int nj, int ks) -> uint32_t {
    if constexpr (!C::kPipe) return b_frag_offset(nj, ks);
    else if constexpr (BMJ == Major::kK) return b_off[ks] + nj * kBrow16;
    else return b_off[nj] + ks * kBrow16;
  };

  // Fragment j of one k16 step of the warp tile: A fragment j < MI, else the
  // B fragments 2(j-MI), 2(j-MI)+1 (one ldmatrix.x4 each).
  constexpr int kFrags = C::MI + C::NI / 2;
  auto load_frag = [&](uint32_t sA, uint32_t sB, int ks, int j, uint32_t(&af)[C::MI][4],
                       uint32_t(&bf)[C::NI][2]) {
    if (j < C::MI) {
      if constexpr (AM == Major::kK)
        ldmatrix_x4(af[j], sA + a_offset(j, ks));
      else
        ldmatrix_x4_trans(af[j], sA + a_offset(j, ks));
    } else {
      const int nj = j - C::MI;
      uint32_t r[4];
      if constexpr (BMJ == Major::kMN)
        ldmatrix_x4_trans(r, sB + b_offset(nj, ks));
      else
        ldmatrix_x4(r, sB + b_offset(nj, ks));
      bf[2 * nj][0] = r[0];
      bf[2 * nj][1] = r[1];
      bf[2 * nj + 1][0] = r[2];
      bf[2 * nj + 1][1] = r[3];
    }
  };
  auto load_frags = [&](uint32_t sA, uint32_t sB, int ks, uint32_t(&af)[C::MI][4],
                        uint32_t(&bf)[C::NI][2]) {
    CUOPS_UNROLL
    for (int j = 0; j < kFrags; ++j) load_frag(sA, sB, ks, j, af, bf);
  };

  // Work units (tile pid, k tiles [kt0, kt1), batch item z). Plain grid:
  // tile blockIdx.x, all its k tiles, batch items blockIdx.y, + gridDim.y, ...
  // (65535 at most in the grid). Stream-K grid (p.sk_iters > 0, one GEMM):
  // first the data-parallel tiles blockIdx.x, + gridDim.x, ... below
  // p.sk_first_tile (whole waves, in raster order as the plain grid runs
  // them), then the block's equal share [it, it_end) of the remaining tiles'
  // k tiles, cut at tile boundaries.
  const bool stream_k = C::kStreamK && p.sk_iters > 0;
  int64_t next_z = blockIdx.y, dp_tile = blockIdx.x, it = 0, it_end = 0;
  if (stream_k) {
    it = blockIdx.x * p.sk_iters / gridDim.x;
    it_end = (blockIdx.x + 1) * p.sk_iters / gridDim.x;
  }
  for (;;) {
    int64_t z = 0, pid = blockIdx.x, kt0 = 0, kt1 = ktiles_all;
    if (!stream_k) {
      if (next_z >= p.batch) break;
      z = next_z;
      next_z += gridDim.y;
    } else if (dp_tile < p.sk_first_tile) {
      pid = dp_tile;
      dp_tile += gridDim.x;
    } else {
      if (it >= it_end) break;
      pid = p.sk_first_tile + it / ktiles_all;
      kt0 = it % ktiles_all;
      kt1 = min(ktiles_all, kt0 + (it_end - it));
      it += kt1 - kt0;
    }
    const int64_t ktiles = kt1 - kt0;  // the unit's k tiles; the loops count from 0
    const int64_t first_m = (pid / per_group) * kGroupM;
    const int64_t group_m = min(p.tiles_m - first_m, int64_t{kGroupM});
    const int64_t m_block = (first_m + (pid % per_group) % group_m) * C::BM;
    const int64_t n_block = ((pid % per_group) / group_m) * C::BN;

    int64_t off[3];
    p.oc.get(z, off);
    const uint16_t* A = p.a + off[1];
    const uint16_t* B = p.b + off[2];
    // Fast-path loaders (unused by the general path): A's outer dim is M,
    // B's is N; the stride between tile rows is the non-contiguous one.
    AsyncTileLoader<TA::R, TA::L, C::kThreads, C::BK, AM == Major::kK> a_async(
        A, AM == Major::kK ? p.a_sm : p.a_sk, m_block, p.M, p.K, tid);
    AsyncTileLoader<TB::R, TB::L, C::kThreads, C::BK, BMJ == Major::kK> b_async(
        B, BMJ == Major::kK ? p.b_sn : p.b_sk, n_block, p.N, p.K, tid);
    if (kt0 != 0) {
      a_async.skip(kt0);
      b_async.skip(kt0);
    }

    // Copy k tile `kt` into ring slot `slot` (both operands). `checked`:
    // std::true_type, or std::false_type when every tile of the block is
    // interior (no M/N edge, K % BK == 0).
    auto load_stage = [&](int64_t kt, int slot, auto checked) {
      constexpr bool kChecked = decltype(checked)::value;
      const uint32_t sA = s_base + slot * C::kStageBytes;
      const uint32_t sB = sA + C::kABytes;
      if constexpr (kTma) {
        if (tid == 0) {
          const uint32_t bar = bar_base + 8 * slot;
          const int k0 = static_cast<int>((kt0 + kt) * C::BK);
          // One operand's tile: K-major, one box [outer rows][64 k]; M/N-
          // contiguous, boxes [BK rows][64 columns] side by side (encode_tma_maps).
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
    };

    float acc[C::MI][C::NI][4];
    CUOPS_UNROLL
    for (int i = 0; i < C::MI; ++i)
      CUOPS_UNROLL
      for (int j = 0; j < C::NI; ++j)
        CUOPS_UNROLL
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;
    auto mma_all = [&](const uint32_t(&af)[C::MI][4], const uint32_t(&bf)[C::NI][2]) {
      CUOPS_UNROLL
      for (int mi = 0; mi < C::MI; ++mi)
        CUOPS_UNROLL
        for (int ni = 0; ni < C::NI; ++ni) Ops::mma(acc[mi][ni], af[mi], bf[ni]);
    };
    // kInterleave: one k16 step's mma with the next step's ldmatrix written
    // one after every kPer-th mma; both are volatile asm, so they stay in
    // this order.
    auto mma_interleaved = [&](const uint32_t(&af)[C::MI][4], const uint32_t(&bf)[C::NI][2],
                               uint32_t nA, uint32_t nB, int nks, uint32_t(&naf)[C::MI][4],
                               uint32_t(&nbf)[C::NI][2]) {
      constexpr int kMmas = C::MI * C::NI, kPer = kMmas / kFrags;
      static_assert(!C::kInterleave || kMmas % kFrags == 0, "loads spread evenly over the mma");
      CUOPS_UNROLL
      for (int i = 0; i < kMmas; ++i) {
        mma_16816_ordered<T>(acc[i / C::NI][i % C::NI], af[i / C::NI], bf[i % C::NI]);
        if (i % kPer == 0) load_frag(nA, nB, nks, i / kPer, naf, nbf);
      }
    };

    // Prologue: tiles 0..kS-2 in flight. One commit group per tile, even an
    // empty one past the end, so "group g == tile g" always holds and the
    // wait count below is a constant.
    CUOPS_UNROLL
    for (int s = 0; s < kS - 1; ++s) {
      if (s < ktiles) load_stage(s, s, std::true_type{});
      cp_async_commit();
    }

    int read_slot = 0, write_slot = kS - 1;
    if constexpr (C::kPipe && !GENERAL) {
      // Cross-tile pipeline. Same group accounting as below (prologue: kS-1
      // groups; one commit per tile), but the wait + barrier for tile kt+1
      // sit before the last k16 step of tile kt: after the commit of tile
      // kt+kS-1, kS+kt groups exist and wait<kS-2> leaves tiles 0..kt+1
      // complete. Slot reuse: iteration kt refills tile kt-1's slot, and every
      // warp issued its last ldmatrix of tile kt-1 (step kKS-2's prefetch)
      // before the barrier of iteration kt-1's last step, which it passed.
      // kKS is even, so tile kt+1's step-0 fragments land in buffer 0.
      // Interior blocks run a copy of the loop whose loads have no edge path.
      uint32_t af[2][C::MI][4], bf[2][C::NI][2];
      // Tile in `slot` has landed and is visible to every thread (kTma: its
      // stage's mbarrier phase completed; cp.async: the group count, see below).
      auto wait_tile = [&](int slot) {
        if constexpr (kTma) {
          mbar_wait(bar_base + 8 * slot, (bar_parity >> slot) & 1u);
          bar_parity ^= 1u << slot;
        } else {
          cp_async_wait<kS - 2>();
        }
        __syncthreads();
      };
      wait_tile(0);
      uint32_t sA = s_base, sB = s_base + C::kABytes;
      load_frags(sA, sB, 0, af[0], bf[0]);
      // kSpread: part `part` (of kKS-1) of the next tile's copies, chunks of
      // A then B; the last part steps both loaders to the following tile.
      using LA = decltype(a_async);
      using LB = decltype(b_async);
      auto load_part = [&](int part) {
        constexpr int kParts = kKS - 1, kTot = LA::kPer + LB::kPer;
        const int c0 = part * kTot / kParts, c1 = (part + 1) * kTot / kParts;
        const uint32_t wA = s_base + write_slot * C::kStageBytes;
        a_async.load_chunks(wA, c0, c1);
        b_async.load_chunks(wA + C::kABytes, c0 - LA::kPer, c1 - LA::kPer);
        if (part == kParts - 1) {
          a_async.advance();
          b_async.advance();
        }
      };
      // Waits for tile kt+1 and returns its slot: after the commit of tile
      // kt+kS-1, kS+kt groups exist, so wait<kS-2> leaves tiles 0..kt+1 done.
      auto wait_next = [&]() -> uint32_t {
        const int next = read_slot == kS - 1 ? 0 : read_slot + 1;
        wait_tile(next);
        return s_base + next * C::kStageBytes;
      };
      auto main_loop = [&](auto checked) {
        // Spreading needs the edge-free loader (interior blocks).
        constexpr bool kSpreadHere = C::kSpread && !decltype(checked)::value;
        static_assert(!C::kSpread || kKS >= 2, "kSpread: at least two k16 steps");
        for (int64_t kt = 0; kt < ktiles; ++kt) {
          const bool more = kt + kS - 1 < ktiles;  // a tile left to request
          if constexpr (!kSpreadHere) {
            if (more) load_stage(kt + kS - 1, write_slot, checked);
            cp_async_commit();
          }
          CUOPS_UNROLL
          for (int ks = 0; ks < kKS; ++ks) {
            if constexpr (kSpreadHere) {
              if (ks + 1 < kKS) {
                if (more) load_part(ks);
                if (ks + 2 == kKS) cp_async_commit();  // same group count before the wait
              }
            }
            // The next fragments: step ks+1 of this tile, or step 0 of tile
            // kt+1 behind its wait + barrier (block-uniform branch), or none
            // after the last tile.
            if constexpr (C::kInterleave) {
              if (ks + 1 < kKS) {
                mma_interleaved(af[ks & 1], bf[ks & 1], sA, sB, ks + 1, af[(ks + 1) & 1],
                                bf[(ks + 1) & 1]);
              } else if (kt + 1 < ktiles) {
                const uint32_t nA = wait_next();
                mma_interleaved(af[ks & 1], bf[ks & 1], nA, nA + C::kABytes, 0, af[0], bf[0]);
              } else {
                mma_all(af[ks & 1], bf[ks & 1]);
              }
            } else {
              if (ks + 1 < kKS) {
                load_frags(sA, sB, ks + 1, af[(ks + 1) & 1], bf[(ks + 1) & 1]);
              } else if (kt + 1 < ktiles) {
                const uint32_t nA = wait_next();
                load_frags(nA, nA + C::kABytes, 0, af[0], bf[0]);
              }
              mma_all(af[ks & 1], bf[ks & 1]);
            }
          }
          read_slot = read_slot == kS - 1 ? 0 : read_slot + 1;
          write_slot = write_slot == kS - 1 ? 0 : write_slot + 1;
          sA = s_base + read_slot * C::kStageBytes;
          sB = sA + C::kABytes;
        }
      };
      if constexpr (kTma)
        main_loop(std::false_type{});  // the copy engine handles the edges
      else if (a_async.outer_full && b_async.outer_full && p.K % C::BK == 0)
        main_loop(std::false_type{});
      else
        main_loop(std::true_type{});
    } else {
      for (int64_t kt = 0; kt < ktiles; ++kt) {
        // kS-1+kt groups committed; allowing kS-2 pending means tile kt (ours)
        // has landed. The barrier then makes every thread's copies visible, and
        // proves all warps finished tile kt-1, whose slot (write_slot) we refill.
        cp_async_wait<kS - 2>();
        __syncthreads();
        if (kt + kS - 1 < ktiles) load_stage(kt + kS - 1, write_slot, std::true_type{});
        cp_async_commit();

        const uint32_t sA = s_base + read_slot * C::kStageBytes;
        const uint32_t sB = sA + C::kABytes;
        if constexpr (C::kFragDB) {
          // Fragments of step ks+1 are requested before the mma of step ks, so
          // the ldmatrix latency hides behind 32 mma instead of stalling them.
          uint32_t af[2][C::MI][4], bf[2][C::NI][2];
          load_frags(sA, sB, 0, af[0], bf[0]);
          CUOPS_UNROLL
          for (int ks = 0; ks < C::BK / 16; ++ks) {
            if (ks + 1 < C::BK / 16) load_frags(sA, sB, ks + 1, af[(ks + 1) & 1], bf[(ks + 1) & 1]);
            mma_all(af[ks & 1], bf[ks & 1]);
          }
        } else {
          CUOPS_UNROLL
          for (int ks = 0; ks < C::BK / 16; ++ks) {
            uint32_t af[C::MI][4], bf[C::NI][2];
            load_frags(sA, sB, ks, af, bf);
            mma_all(af, bf);
          }
        }
        read_slot = read_slot == kS - 1 ? 0 : read_slot + 1;
        write_slot = write_slot == kS - 1 ? 0 : write_slot + 1;
      }
    }
    // Drain (only empty groups remain) and let every warp finish reading smem
    // before the next unit's prologue overwrites it.
    cp_async_wait<0>();
    __syncthreads();

    // Stream-K fixup of a tile split between blocks. The block owning k tile 0
    // finishes the tile: it processes that segment at the END of its range,
    // while every other segment of the tile comes first in its block's range
    // (or is the whole range), so the wait below is normally already over.
    // The grid never exceeds the blocks resident at once, so the blocks it
    // waits for are running. Partial slot layout: float4 j of thread tid at
    // (j * kThreads + tid) * 4 (coalesced, the same in both blocks).
    if constexpr (C::kStreamK) {
      if (kt0 != 0 || kt1 != ktiles_all) {  // only in a stream-K grid
        constexpr int kVec = C::MI * C::NI;  // float4 per thread
        if (kt0 != 0) {  // a later segment: hand the partial sums over
          float4* slot = reinterpret_cast<float4*>(p.sk_partial) +
                         blockIdx.x * int64_t{kVec * C::kThreads};
          CUOPS_UNROLL
          for (int j = 0; j < kVec; ++j) {
            const float* a4 = acc[j / C::NI][j % C::NI];
            __stcg(slot + j * C::kThreads + tid, make_float4(a4[0], a4[1], a4[2], a4[3]));
          }
          __syncthreads();  // every thread's stores precede the flag
          if (tid == 0) {
            __threadfence();
            atomicExch(p.sk_flags + blockIdx.x, 1);
          }
          continue;
        }
        // k tile 0's owner: add the segments of the blocks that own the
        // tile's later k tiles (block c owns split iteration i when
        // c * I / G <= i < (c + 1) * I / G).
        const int64_t last = (pid - p.sk_first_tile) * ktiles_all + ktiles_all - 1;
        const int64_t owner_last = ((last + 1) * gridDim.x - 1) / p.sk_iters;
        for (int64_t c = blockIdx.x + 1; c <= owner_last; ++c) {
          if (tid == 0) {
            while (atomicAdd(p.sk_flags + c, 0) == 0) __nanosleep(64);
            __threadfence();
          }
          __syncthreads();
          const float4* slot =
              reinterpret_cast<const float4*>(p.sk_partial) + c * int64_t{kVec * C::kThreads};
          CUOPS_UNROLL
          for (int j = 0; j < kVec; ++j) {
            const float4 v = __ldcg(slot + j * C::kThreads + tid);
            float* a4 = acc[j / C::NI][j % C::NI];
            a4[0] += v.x;
            a4[1] += v.y;
            a4[2] += v.z;
            a4[3] += v.w;
          }
        }
      }
    }

    T* Cz = static_cast<T*>(p.c) + off[0];
    const T* bias = static_cast<const T*>(p.bias);
    const int g = lane >> 2, t = lane & 3;

    // Staged epilogue (kPipe configs; whole tile inside C, C rows contiguous
    // and 16-byte aligned): each warp converts its tile into its own smem
    // patch (the pipeline is drained), then writes whole 128-byte row
    // segments with 16-byte stores. Stored straight from the fragments, each
    // 4-lane group writes 16 of a sector's 32 bytes, so every C sector took
    // two partial writes. Row pitch WN*2 + 16 bytes: the 8 rows of a fragment
    // store then start 4 banks apart (conflict-free); a 16-byte read phase
    // (8 lanes) covers one row.
    constexpr int kCPitch = C::WN * 2 + 16;
    if constexpr (C::kPipe) {
      static_assert(C::kWarpsM * C::kWarpsN * C::WM * kCPitch <= C::kSmemBytes, "staging fits");
      if (p.c_vec16 && m_block + C::BM <= p.M && n_block + C::BN <= p.N) {
        const uint32_t s_c = s_base + warp * (C::WM * kCPitch);
        CUOPS_UNROLL
        for (int ni = 0; ni < C::NI; ++ni) {
          const int col = ni * 8 + 2 * t;
          float b0 = 0.f, b1 = 0.f;
          if (bias != nullptr) {
            b0 = Ops::to_float(bias[n_block + wn * C::WN + col]);
            b1 = Ops::to_float(bias[n_block + wn * C::WN + col + 1]);
          }
          CUOPS_UNROLL
          for (int mi = 0; mi < C::MI; ++mi)
            CUOPS_UNROLL
            for (int h = 0; h < 2; ++h) {
              const typename Ops::T2 v =
                  Ops::pack(acc[mi][ni][2 * h] + b0, acc[mi][ni][2 * h + 1] + b1);
              st_shared_b32(s_c + (mi * 16 + g + h * 8) * kCPitch + col * 2,
                            *reinterpret_cast<const uint32_t*>(&v));
            }
        }
        __syncwarp();
        constexpr int kChunksPerRow = C::WN / 8;
        T* dst0 = Cz + (m_block + wm * C::WM) * p.c_sm + n_block + wn * C::WN;
        CUOPS_UNROLL
        for (int i = 0; i < C::WM * kChunksPerRow / 32; ++i) {
          const int idx = i * 32 + lane, row = idx / kChunksPerRow, ch = idx % kChunksPerRow;
          const uint4 v = ld_shared_v4(s_c + row * kCPitch + ch * 16);
          *reinterpret_cast<uint4*>(dst0 + row * p.c_sm + ch * 8) = v;
        }
        __syncthreads();  // the next unit's prologue refills the smem
        continue;
      }
    }

    // Epilogue straight from the accumulator layout: lane (g, t) owns
    // C[g][2t..2t+1] and C[g+8][2t..2t+1] of each 16x8 tile. Pairs of
    // adjacent columns are stored as one 4-byte word when C allows.
    CUOPS_UNROLL
    for (int ni = 0; ni < C::NI; ++ni) {
      const int64_t n = n_block + wn * C::WN + ni * 8 + 2 * t;
      if (n >= p.N) continue;
      const bool has2 = n + 1 < p.N;
      float b0 = 0.f, b1 = 0.f;
      if (bias != nullptr) {
        b0 = Ops::to_float(bias[n]);
        if (has2) b1 = Ops::to_float(bias[n + 1]);
      }
      CUOPS_UNROLL
      for (int mi = 0; mi < C::MI; ++mi) {
        CUOPS_UNROLL
        for (int h = 0; h < 2; ++h) {
          const int64_t m = m_block + wm * C::WM + mi * 16 + g + h * 8;
          if (m >= p.M) continue;
          const float v0 = acc[mi][ni][2 * h] + b0, v1 = acc[mi][ni][2 * h + 1] + b1;
          T* dst = Cz + m * p.c_sm + n * p.c_sn;
          if (p.c_pairs && has2) {
            *reinterpret_cast<typename Ops::T2*>(dst) = Ops::pack(v0, v1);
          } else {
            dst[0] = Ops::from_float(v0);
            if (has2) dst[p.c_sn] = Ops::from_float(v1);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Host side: pick the path and tile, launch.
// ---------------------------------------------------------------------------

// Every batch offset of operand `arg` (0 = C, 1 = A, 2 = B) is a multiple of q.
bool batch_offsets_multiple_of(const OffsetCalculator<3>& oc, int arg, int64_t q) {
  for (int d = 0; d < oc.ndim; ++d)
    if (oc.strides[arg][d] % q != 0) return false;
  return true;
}

// kTma entries: a single GEMM (batch offsets all 0) on an sm_90+ device, with
// element coordinates that fit the copy engine's int32 box origins. The fast
// path already guarantees 16-byte aligned bases, but checks a row stride only
// where its dim is > 1 (a size-1 dim's stride can be anything, even 0), while
// a tensor map's row stride must be a positive multiple of 16 bytes below
// 2^40 bytes: so the strides are checked here.
bool tma_eligible(const Params& prm, Major am, Major bm) {
  const auto* props = at::cuda::getCurrentDeviceProperties();
  const int64_t lim = int64_t{1} << 31;
  const auto stride_ok = [](int64_t ld) { return ld >= 8 && ld % 8 == 0 && ld < (int64_t{1} << 39); };
  return props->major >= 9 && prm.batch == 1 && prm.M > 0 && prm.N > 0 && prm.K > 0 &&
         prm.M < lim && prm.N < lim && prm.K < lim &&
         stride_ok(am == Major::kK ? prm.a_sm : prm.a_sk) &&
         stride_ok(bm == Major::kMN ? prm.b_sk : prm.b_sn);
}

// cuTensorMapEncodeTiled through the runtime's driver entry point (no link
// against libcuda).
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
EncodeTiledFn encode_tiled_fn() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
#if CUDART_VERSION >= 12050
    C10_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                                    cudaEnableDefault, &q));
#else
    C10_CUDA_CHECK(cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &f, cudaEnableDefault, &q));
#endif
    TORCH_CHECK(q == cudaDriverEntryPointSuccess && f != nullptr,
                "cuops.matmul: cuTensorMapEncodeTiled is not available from the CUDA driver");
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// Row-major 2-D tensor map (rows x cols elements, `ld` elements between rows)
// with box_rows x 64-column boxes of 128-byte rows, 128-byte swizzle, zero fill.
template <typename T>
CUtensorMap make_tma_map(const void* base, int64_t rows, int64_t cols, int64_t ld, int box_rows) {
  CUtensorMap m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(ld) * 2};  // bytes, dim 1
  const cuuint32_t box[2] = {64, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = encode_tiled_fn()(
      &m, std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
      2, const_cast<void*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TORCH_CHECK(r == CUDA_SUCCESS, "cuops.matmul: cuTensorMapEncodeTiled failed (", static_cast<int>(r),
              ")");
  return m;
}

// A K-contiguous operand as rows = M/N, columns = K with BM/BN-row boxes; an
// M/N-contiguous one as rows = K, columns = M/N with BK-row boxes.
template <typename T, class C, Major AM, Major BMJ>
void encode_tma_maps(Params& prm) {
  if constexpr (AM == Major::kK)
    prm.tma_a = make_tma_map<T>(prm.a, prm.M, prm.K, prm.a_sm, C::BM);
  else
    prm.tma_a = make_tma_map<T>(prm.a, prm.K, prm.M, prm.a_sk, C::BK);
  if constexpr (BMJ == Major::kMN)
    prm.tma_b = make_tma_map<T>(prm.b, prm.K, prm.N, prm.b_sk, C::BK);
  else
    prm.tma_b = make_tma_map<T>(prm.b, prm.N, prm.K, prm.b_sn, C::BN);
}

template <typename T, class C, Major AM, Major BMJ, bool GENERAL>
void launch(const Params& prm) {
  static_assert(!C::kTma || !GENERAL, "kTma: fast path only");
  auto kernel = gemm_mma_kernel<T, C, AM, BMJ, GENERAL>;
  // Dynamic smem above 48 KB must be opted into, per kernel (and device).
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const int64_t tiles = static_cast<int64_t>(prm.tiles_m) * prm.tiles_n;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  if constexpr (C::kStreamK && !GENERAL) {
    // Stream-K grid: the blocks that fit at once (the fixup waits on other
    // blocks, so all must be resident), for a single GEMM whose tiles are
    // not a whole number of such waves; otherwise the plain launch below.
    // The last partial wave and one full wave are split (each block gets
    // >= 1 tile's k tiles of them), whole waves before run data-parallel.
    int per_sm = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, C::kThreads,
                                                                 C::kDynSmem));
    const int64_t grid_sk = int64_t{per_sm} * num_sms();
    const int64_t ktiles = ceil_div<int64_t>(prm.K, C::BK);
    if (prm.batch == 1 && ktiles > 0 && grid_sk > 0 && tiles > grid_sk && tiles % grid_sk != 0) {
      Params sk = prm;
      sk.sk_first_tile = tiles - (grid_sk + tiles % grid_sk);
      sk.sk_iters = (tiles - sk.sk_first_tile) * ktiles;
      // Workspace from the caching allocator: released after the launch is
      // queued, reused only by later work on this stream.
      const auto opts = at::TensorOptions().device(at::kCUDA, c10::cuda::current_device());
      at::Tensor partial = at::empty({grid_sk * C::BM * C::BN}, opts.dtype(at::kFloat));
      at::Tensor flags = at::empty({grid_sk}, opts.dtype(at::kInt));
      C10_CUDA_CHECK(cudaMemsetAsync(flags.data_ptr(), 0, grid_sk * sizeof(int), stream));
      sk.sk_partial = partial.data_ptr<float>();
      sk.sk_flags = flags.data_ptr<int>();
      kernel<<<static_cast<unsigned>(grid_sk), C::kThreads, C::kDynSmem, stream>>>(sk);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return;
    }
  }
  const dim3 grid(static_cast<unsigned>(tiles),
                  static_cast<unsigned>(std::min<int64_t>(prm.batch, 65535)));
  if constexpr (C::kTma) {
    Params t = prm;
    encode_tma_maps<T, C, AM, BMJ>(t);
    kernel<<<grid, C::kThreads, C::kDynSmem, stream>>>(t);
  } else {
    kernel<<<grid, C::kThreads, C::kDynSmem, stream>>>(prm);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Fast path: one instantiation per operand-layout combination.
template <typename T, class C>
void launch_fast(Params prm, Major am, Major bm) {
  prm.tiles_m = static_cast<int>(ceil_div<int64_t>(prm.M, C::BM));
  prm.tiles_n = static_cast<int>(ceil_div<int64_t>(prm.N, C::BN));
  if (am == Major::kK && bm == Major::kMN) {
    launch<T, C, Major::kK, Major::kMN, false>(prm);  // A row-major, B row-major
  } else if (am == Major::kK && bm == Major::kK) {
    launch<T, C, Major::kK, Major::kK, false>(prm);  // B = W.mT (linear forward)
  } else if (am == Major::kMN && bm == Major::kMN) {
    launch<T, C, Major::kMN, Major::kMN, false>(prm);  // A = X.mT (weight gradient)
  } else {
    launch<T, C, Major::kMN, Major::kK, false>(prm);
  }
}

// A forced table entry (1..kNumTuneConfigs-1) for the A kK / B kMN fast path.
template <typename T, class C>
void launch_tuned(Params prm) {
  prm.tiles_m = static_cast<int>(ceil_div<int64_t>(prm.M, C::BM));
  prm.tiles_n = static_cast<int>(ceil_div<int64_t>(prm.N, C::BN));
  launch<T, C, Major::kK, Major::kMN, false>(prm);
}

template <typename T>
void launch_table(int cfg, const Params& prm) {
  switch (cfg) {
    case 1: return launch_tuned<T, Tune1>(prm);
    case 2: return launch_tuned<T, Tune2>(prm);
    case 3: return launch_tuned<T, Tune3>(prm);
    case 4: return launch_tuned<T, Tune4>(prm);
    case 5: return launch_tuned<T, Tune5>(prm);
    case 6: return launch_tuned<T, Tune6>(prm);
    case 7: return launch_tuned<T, Tune7>(prm);
    case 8: return launch_tuned<T, Tune8>(prm);
    case 9: return launch_tuned<T, Tune9>(prm);
    case 10: return launch_tuned<T, Tune10>(prm);
    case 11: return launch_tuned<T, Tune11>(prm);
    case 12: return launch_tuned<T, Tune12>(prm);
    case 13: return launch_tuned<T, Tune13>(prm);
    case 14: return launch_tuned<T, Tune14>(prm);
    case 15: return launch_tuned<T, Tune15>(prm);
    case 16: return launch_tuned<T, Tune16>(prm);
    case 17: return launch_tuned<T, Tune17>(prm);
    case 18: return launch_tuned<T, Tune18>(prm);
    case 19: return launch_tuned<T, Tune19>(prm);
    case 20: return launch_tuned<T, Tune20>(prm);
    case 21: return launch_tuned<T, Tune21>(prm);
    case 22: return launch_tuned<T, Tune22>(prm);
    case 23:
      return tma_eligible(prm, Major::kK, Major::kMN) ? launch_tuned<T, Tune23>(prm)
                                                      : launch_tuned<T, Tune8>(prm);
    default: TORCH_CHECK(false, "mma_sync: no tuning entry ", cfg);
  }
}

// General path: small tile, one smem layout (the loader adapts to any strides).
template <typename T>
void launch_general(Params prm) {
  using C = CfgGeneral;
  prm.tiles_m = static_cast<int>(ceil_div<int64_t>(prm.M, C::BM));
  prm.tiles_n = static_cast<int>(ceil_div<int64_t>(prm.N, C::BN));
  launch<T, C, Major::kK, Major::kMN, true>(prm);
}

// Copy of a rows x cols operand (element strides ld between rows, 1 along
// cols... or any strides: copy_ handles them) into a fresh row-major buffer
// whose rows are padded to a multiple of 8 elements, so every row starts
// 16-byte aligned. Data movement only (ATen allocation + copy_ into a
// narrow() view); the buffer lives until run() returns, which is safe: the
// caching allocator reuses it only for work queued after our kernel on the
// same stream.
at::Tensor padded_copy(const void* ptr, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col,
                       at::ScalarType dt) {
  const auto opts = at::TensorOptions().dtype(dt).device(at::kCUDA, c10::cuda::current_device());
  const at::Tensor src = at::from_blob(const_cast<void*>(ptr), {rows, cols}, {s_row, s_col}, opts);
  at::Tensor buf = at::empty({rows, (cols + 7) / 8 * 8}, opts);
  buf.narrow(1, 0, cols).copy_(src);
  return buf;
}

// Whether operand `arg` (1 = A, 2 = B) of p can take the cp.async path as is.
bool operand_fast(const GemmProblem& p, int arg) {
  const void* x = arg == 1 ? p.a : p.b;
  const int64_t R = arg == 1 ? p.M : p.N;
  const int64_t sr = arg == 1 ? p.a_sm : p.b_sn, sk = arg == 1 ? p.a_sk : p.b_sk;
  if (!aligned16(x) || !batch_offsets_multiple_of(p.batch_oc, arg, 8)) return false;
  const bool k_major = (p.K == 1 || sk == 1) && (R == 1 || sr % 8 == 0);
  const bool r_major = (R == 1 || sr == 1) && (p.K == 1 || sk % 8 == 0);
  return k_major || r_major;
}

// When an operand misses the cp.async path only because of its layout (odd
// leading stride such as the contiguous 8205x2949 @ 2949x5921, a misaligned
// view, or no unit stride), a padded row-major copy of it is made and the
// fast path runs instead of the ~10x slower element-wise general path. Only
// for a single GEMM (batch 1, after folding) and only when the copy is cheap
// next to the product: the copy moves ~4 bytes per operand element while the
// GEMM does 2 * (other dim) FLOPs per element, so we require the other dim
// >= 64 and M*N*K >= 2^24. Both operands must be fixable, else no copy.
constexpr int64_t kCopyMinOther = 64, kCopyMinWork = int64_t{1} << 24;

template <typename T>
void run(const GemmProblem& p_in) {
  GemmProblem p = p_in;
  at::Tensor a_copy, b_copy;  // keep padded copies alive until the launch is queued
  const bool a_fast = operand_fast(p, 1), b_fast = operand_fast(p, 2);
  // batch == 1: z = 0 is the only item, so every batch offset is 0.
  if ((!a_fast || !b_fast) && p.batch == 1 &&
      p.M * p.N * p.K >= kCopyMinWork && (a_fast || p.N >= kCopyMinOther) &&
      (b_fast || p.M >= kCopyMinOther)) {
    if (!a_fast) {  // A [M][K] -> row-major, K-contiguous
      a_copy = padded_copy(p.a, p.M, p.K, p.a_sm, p.a_sk, p.dtype);
      p.a = a_copy.const_data_ptr();
      p.a_sm = a_copy.stride(0);
      p.a_sk = 1;
    }
    if (!b_fast) {  // B [K][N] -> row-major, N-contiguous
      b_copy = padded_copy(p.b, p.K, p.N, p.b_sk, p.b_sn, p.dtype);
      p.b = b_copy.const_data_ptr();
      p.b_sk = b_copy.stride(0);
      p.b_sn = 1;
    }
  }

  Params prm{};
  prm.M = p.M;
  prm.N = p.N;
  prm.K = p.K;
  prm.batch = p.batch;
  prm.a = static_cast<const uint16_t*>(p.a);
  prm.b = static_cast<const uint16_t*>(p.b);
  prm.c = p.c;
  prm.bias = p.bias;
  prm.a_sm = p.a_sm;
  prm.a_sk = p.a_sk;
  prm.b_sk = p.b_sk;
  prm.b_sn = p.b_sn;
  prm.c_sm = p.c_sm;
  prm.c_sn = p.c_sn;
  prm.oc = p.batch_oc;

  // Operand layouts for the cp.async path. A stride of a size-1 dim is never
  // used, so it does not disqualify the layout. "Leading stride % 8" and the
  // batch offsets keep every 16-byte chunk of a row 16-byte aligned.
  const auto& oc = p.batch_oc;
  const bool a_ok = aligned16(p.a) && batch_offsets_multiple_of(oc, 1, 8);
  const bool b_ok = aligned16(p.b) && batch_offsets_multiple_of(oc, 2, 8);
  const bool a_kmaj = (p.K == 1 || p.a_sk == 1) && (p.M == 1 || p.a_sm % 8 == 0);
  const bool a_mmaj = (p.M == 1 || p.a_sm == 1) && (p.K == 1 || p.a_sk % 8 == 0);
  const bool b_kmaj = (p.K == 1 || p.b_sk == 1) && (p.N == 1 || p.b_sn % 8 == 0);
  const bool b_nmaj = (p.N == 1 || p.b_sn == 1) && (p.K == 1 || p.b_sk % 8 == 0);
  const bool fast = a_ok && b_ok && (a_kmaj || a_mmaj) && (b_kmaj || b_nmaj);
  const Major am = a_kmaj ? Major::kK : Major::kMN;
  const Major bm = b_nmaj ? Major::kMN : Major::kK;
  // The kernel assumes stride 1 along the contiguous dim; make it so for a
  // size-1 contiguous dim whose stride is arbitrary.
  if (fast) {
    if (am == Major::kK) prm.a_sk = 1; else prm.a_sm = 1;
    if (bm == Major::kMN) prm.b_sn = 1; else prm.b_sk = 1;
  }
  // General path: walk the operand dim with the smaller stride in consecutive threads.
  prm.a_k_inner = std::abs(p.a_sk) <= std::abs(p.a_sm);
  prm.b_n_inner = std::abs(p.b_sn) <= std::abs(p.b_sk);
  prm.c_pairs = (p.c_sn == 1 || p.N == 1) && (p.M == 1 || p.c_sm % 2 == 0) &&
                reinterpret_cast<uintptr_t>(p.c) % 4 == 0 && batch_offsets_multiple_of(oc, 0, 2);
  prm.c_vec16 = p.c_sn == 1 && p.c_sm % 8 == 0 && aligned16(p.c) &&
                batch_offsets_multiple_of(oc, 0, 8);
  if (p.N == 1) prm.c_sn = 1;  // never used as a stride then (one column only)

  TORCH_CHECK(ceil_div<int64_t>(p.M, 128) * ceil_div<int64_t>(p.N, 128) < (int64_t{1} << 31),
              "cuops.matmul (mma_sync): output too large for the tile grid (M=", p.M,
              ", N=", p.N, ")");

  // Big tiles when they still give every SM a block; otherwise halve the N
  // tile so small problems spread over more SMs.
  const int64_t big_blocks =
      ceil_div<int64_t>(p.M, CfgBig::BM) * ceil_div<int64_t>(p.N, CfgBig::BN) * p.batch;
  const int cfg = mm::tuning_config("mma_sync");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumTuneConfigs, "CUOPS_MATMUL_CONFIG: mma_sync=", cfg,
                    " is out of range (0..", kNumTuneConfigs - 1, ")");
  if (!fast)
    launch_general<T>(prm);
  else if (cfg != 0 && am == Major::kK && bm == Major::kMN)
    launch_table<T>(cfg, prm);
  else if (big_blocks >= num_sms() && tma_eligible(prm, am, bm))
    launch_fast<T, CfgBigTma>(prm, am, bm);  // sm_90+: same tile, stages filled by TMA
  else if (big_blocks >= num_sms())
    launch_fast<T, CfgBig>(prm, am, bm);
  else
    launch_fast<T, CfgSmall>(prm, am, bm);
  // a_copy / b_copy are released here, after the launch was queued.
}

}  // namespace

void gemm_mma_sync(const GemmProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.matmul: variant 'mma_sync' supports float16 and bfloat16, got ", p.dtype);
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  if (p.dtype == at::kHalf)
    run<__half>(p);
  else
    run<__nv_bfloat16>(p);
}

}  // namespace cuops::cuda
