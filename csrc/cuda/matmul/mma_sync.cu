// Step 5 of the CUDA matmul ladder: fp16/bf16 GEMM on tensor cores with
// `mma.sync` (portable to every GPU from sm_80 on), fed by a multi-stage
// `cp.async` pipeline through XOR-swizzled shared memory and `ldmatrix`.
//
// One thread block computes one BM x BN tile of C per work unit:
//
//   global --cp.async (16 B, async, zero-fill at tails)--> smem ring of stages
//          (or the tensor copy engine on sm_90)                   load.cuh
//   smem   --ldmatrix (4 8x8 matrices per instruction)--> fragments
//   frags  --mma.sync.m16n8k16 (fp32 accumulate)-------> warp accumulators
//                                                                 mainloop.cuh
//   [stream-K: partial sums of a split tile added in block order] scheduler.cuh
//   + bias (fp32), convert, guarded store                        epilogue.cuh
//
// Why each piece exists:
// * Tensor cores: an m16n8k16 mma does 4096 FLOPs in one warp instruction;
//   the FMA pipes would need 64 warp instructions for the same work.
// * Warp tile 64x64, block tile 128x128 of 4 warps, 2 blocks per SM
//   (config.cuh: kBig, kSmall): each A and B byte fetched from L2 feeds 64
//   FLOPs, and each SM sub-partition runs one warp of each block, so while
//   one waits at its block's barrier the other keeps the tensor pipe busy.
// * cp.async pipeline: global->smem copies bypass registers and run in the
//   background; while the warps multiply tile kt, the next stages-1 tiles are
//   in flight. On sm_90, for a single GEMM, the tensor copy engine fills the
//   same stages (kBigTma): the per-thread copies and their address math then
//   stop competing with ldmatrix for the SM's load/store pipe.
// * XOR swizzle: ldmatrix reads eight 16-byte rows at once; unswizzled, rows
//   whose stride is a multiple of 128 B hit the same 4 banks (8-way conflict).
//   XOR-ing the 16-byte chunk index with the row number spreads any 8
//   consecutive rows over all 32 banks, with no padding (load.cuh: swizzle).
// * ldmatrix(.trans): one instruction gives each lane exactly the register
//   pairs the mma fragment layout asks for; .trans handles operands whose
//   contiguous dimension is the "wrong" one for the fragment, so transposed
//   views (weight.mT, the backward's A^T/B^T) need no copy.
// * Threadblock rasterization: blocks are numbered so that ~8 consecutive
//   tile rows sweep the N tiles together, keeping the A and B panels in
//   flight small enough to be re-used from L2.
//
// Two load paths, same kernel template: fast (cp.async or the copy engine;
// the operand's contiguous dim has stride 1, 16-byte aligned rows) and
// general (any strides, element-wise loads). This file: the kernel (its
// stages composed) and the host side that picks the path and configuration.
#include "cuda/matmul/mma_sync/epilogue.cuh"
#include "cuda/matmul/mma_sync/mainloop.cuh"
#include "cuda/matmul/mma_sync/scheduler.cuh"
#include "cuda/matmul/tma.cuh"
#ifdef CUOPS_EXPLORE
#include "cuda/matmul/mma_sync/explore.cuh"
#endif

namespace cuops::cuda {
namespace mma_sync {
namespace {

// ---------------------------------------------------------------------------
// The kernel: for each work unit, the k loop, the stream-K fix-up, the store.
// ---------------------------------------------------------------------------
template <typename T, class C, Major AM, Major BMJ, bool GENERAL>
__global__ void __launch_bounds__(C::kThreads, C::cfg.min_blocks_per_sm)
    gemm_mma_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / C::cfg.warps_n, wn = warp % C::cfg.warps_n;  // warp's place in the tile

  // A tma block runs one unit (tma_eligible: batch 1; no stream-K): a second
  // one would need fence.proxy.async.shared::cta after the staged epilogue's
  // ordinary shared-memory stores, before the copy engine refills the stages.
  SmemRing<C> ring(smem);
  ring.init_barriers(tid);
  const FragmentLoader<C, AM, BMJ> frags(lane, wm, wn);
  TileScheduler<C> scheduler(p);

  WorkUnit u;
  while (scheduler.next(u)) {
    int64_t off[3];
    p.oc.get(u.z, off);
    StageLoader<C, AM, BMJ, GENERAL> loader(p, ring, smem, p.a + off[1], p.b + off[2], u.m_block,
                                            u.n_block, u.kt0, tid);
    Accumulators<T, C> acc;
    acc.zero();
    const int64_t ktiles = u.kt1 - u.kt0;  // the unit's k tiles; the loops count from 0
    if constexpr (C::cfg.cross_tile_pipeline && !GENERAL)
      mainloop_pipelined<C>(ring, loader, frags, acc, ktiles);
    else
      mainloop_multistage<C>(ring, loader, frags, acc, ktiles);
    // Drain (only empty groups remain) and let every warp finish reading smem
    // before the next unit's prologue (or the staged epilogue) overwrites it.
    cp_async_wait<0>();
    __syncthreads();

    if (!stream_k_fixup<C>(p, u, scheduler.ktiles_all, acc.acc, tid)) continue;
    if constexpr (C::cfg.f32_partials) {
      const WarpOutput<float> out{static_cast<float*>(p.c) + off[0], nullptr, u.m_block,
                                  u.n_block, warp, wm, wn, lane};
      store_tile_partials<C>(p, out, acc.acc);
      continue;
    }
    const WarpOutput<T> out{static_cast<T*>(p.c) + off[0], static_cast<const T*>(p.bias),
                            u.m_block, u.n_block, warp, wm, wn, lane};
    if constexpr (C::cfg.cross_tile_pipeline) {
      if (store_tile_staged<T, C>(p, out, acc.acc, ring.base)) continue;
    }
    store_tile_direct<T, C>(p, out, acc.acc);
  }
}

// ---------------------------------------------------------------------------
// Host side: pick the path and configuration, launch.
// ---------------------------------------------------------------------------

// Every batch offset of operand `arg` (0 = C, 1 = A, 2 = B) is a multiple of q.
bool batch_offsets_multiple_of(const OffsetCalculator<3>& oc, int arg, int64_t q) {
  for (int d = 0; d < oc.ndim; ++d)
    if (oc.strides[arg][d] % q != 0) return false;
  return true;
}

// tma configurations: a single GEMM (batch offsets all 0) on an sm_90+ device, with
// element coordinates that fit the copy engine's int32 box origins. The fast
// path already guarantees 16-byte aligned bases, but checks a row stride only
// where its dim is > 1 (a size-1 dim's stride can be anything, even 0), while
// a tensor map's row stride must obey tma::stride_ok: so the strides are
// checked here.
bool tma_eligible(const Params& prm, Major am, Major bm) {
  const auto* props = at::cuda::getCurrentDeviceProperties();
  const int64_t lim = int64_t{1} << 31;
  using tma::stride_ok;
  return props->major >= 9 && prm.batch == 1 && prm.M > 0 && prm.N > 0 && prm.K > 0 &&
         prm.M < lim && prm.N < lim && prm.K < lim &&
         stride_ok(am == Major::kK ? prm.a_sm : prm.a_sk) &&
         stride_ok(bm == Major::kMN ? prm.b_sk : prm.b_sn);
}

// A K-contiguous operand as rows = M/N, columns = K with BM/BN-row boxes; an
// M/N-contiguous one as rows = K, columns = M/N with BK-row boxes.
template <typename T, class C, Major AM, Major BMJ>
void encode_tma_maps(Params& prm) {
  if constexpr (AM == Major::kK)
    prm.tma_a = tma::make_map<T>(prm.a, prm.M, prm.K, prm.a_sm, C::BM);
  else
    prm.tma_a = tma::make_map<T>(prm.a, prm.K, prm.M, prm.a_sk, C::BK);
  if constexpr (BMJ == Major::kMN)
    prm.tma_b = tma::make_map<T>(prm.b, prm.K, prm.N, prm.b_sk, C::BK);
  else
    prm.tma_b = tma::make_map<T>(prm.b, prm.N, prm.K, prm.b_sn, C::BN);
}

template <typename T, TileConfig kCfg, Major AM, Major BMJ, bool GENERAL>
void launch(Params prm) {
  using C = Tile<kCfg>;
  static_assert(!kCfg.tma || !GENERAL, "tma: fast path only");
  prm.tiles_m = static_cast<int>(ceil_div<int64_t>(prm.M, C::BM));
  prm.tiles_n = static_cast<int>(ceil_div<int64_t>(prm.N, C::BN));
  auto kernel = gemm_mma_kernel<T, C, AM, BMJ, GENERAL>;
  // Dynamic smem above 48 KB must be opted into, per kernel (and device).
  C10_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kDynSmem));
  const int64_t tiles = static_cast<int64_t>(prm.tiles_m) * prm.tiles_n;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  if constexpr (kCfg.stream_k && !GENERAL) {
    // Stream-K grid: the blocks that fit at once (the fix-up waits on other
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
  if constexpr (kCfg.tma) encode_tma_maps<T, C, AM, BMJ>(prm);
  kernel<<<grid, C::kThreads, C::kDynSmem, stream>>>(prm);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Fast path: one instantiation per operand-layout combination.
template <typename T, TileConfig kCfg>
void launch_fast(const Params& prm, Major am, Major bm) {
  if (am == Major::kK && bm == Major::kMN) {
    launch<T, kCfg, Major::kK, Major::kMN, false>(prm);  // A row-major, B row-major
  } else if (am == Major::kK && bm == Major::kK) {
    launch<T, kCfg, Major::kK, Major::kK, false>(prm);  // B = W.mT (linear forward)
  } else if (am == Major::kMN && bm == Major::kMN) {
    launch<T, kCfg, Major::kMN, Major::kMN, false>(prm);  // A = X.mT (weight gradient)
  } else {
    launch<T, kCfg, Major::kMN, Major::kK, false>(prm);
  }
}

// Entries of the tuning table (CUOPS_MATMUL_CONFIG="mma_sync=<i>", see
// mm::tuning_config): entry 0, the default choice of run(); the development
// entries of explore.cuh only in a CUOPS_EXPLORE build.
#ifdef CUOPS_EXPLORE
constexpr int kNumTuneConfigs = 1 + static_cast<int>(std::size(kExploreConfigs));

// Entry `entry` (>= 1), forced for the A kK / B kMN fast path; a tma entry
// runs without the copy engine where it cannot be used.
template <typename T, std::size_t... I>
void launch_explore(int entry, const Params& prm, std::index_sequence<I...>) {
  const auto one = [&](auto i) {
    constexpr TileConfig cfg = kExploreConfigs[decltype(i)::value];
    if constexpr (cfg.tma) {
      if (!tma_eligible(prm, Major::kK, Major::kMN))
        return launch<T, without_tma(cfg), Major::kK, Major::kMN, false>(prm);
    }
    launch<T, cfg, Major::kK, Major::kMN, false>(prm);
  };
  ((entry == static_cast<int>(I) + 1 ? one(std::integral_constant<std::size_t, I>{}) : void()),
   ...);
}
#else
constexpr int kNumTuneConfigs = 1;
#endif

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

// `tile64`: kTile64 instead of the 128 x 128 configurations on the fast path;
// `partials`: C is an fp32 workspace, no bias (the splitk planner's choices;
// gemm_mma_sync runs neither).
template <typename T>
void run(const GemmProblem& p_in, bool tile64, bool partials) {
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
  // Pairs are 2 x 16 bits (4 bytes), or 2 x fp32 partials (8 bytes).
  prm.c_pairs = (p.c_sn == 1 || p.N == 1) && (p.M == 1 || p.c_sm % 2 == 0) &&
                reinterpret_cast<uintptr_t>(p.c) % (partials ? 8 : 4) == 0 &&
                batch_offsets_multiple_of(oc, 0, 2);
  prm.c_vec16 = p.c_sn == 1 && p.c_sm % 8 == 0 && aligned16(p.c) &&
                batch_offsets_multiple_of(oc, 0, 8);
  if (p.N == 1) prm.c_sn = 1;  // never used as a stride then (one column only)

  const int64_t min_tile = tile64 ? 64 : 128;  // the smallest block tile this call may use
  TORCH_CHECK(ceil_div<int64_t>(p.M, min_tile) * ceil_div<int64_t>(p.N, min_tile) <
                  (int64_t{1} << 31),
              "cuops.matmul (mma_sync): output too large for the tile grid (M=", p.M,
              ", N=", p.N, ")");

  // kBig when its tiles give every SM a block, otherwise kSmall; kBigTma
  // instead of kBig where the copy engine can fill the stages.
  const int64_t big_blocks = ceil_div<int64_t>(p.M, Tile<kBig>::BM) *
                             ceil_div<int64_t>(p.N, Tile<kBig>::BN) * p.batch;
  const int cfg = mm::tuning_config("mma_sync");
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < kNumTuneConfigs, "CUOPS_MATMUL_CONFIG: mma_sync=", cfg,
                    " is out of range (0..", kNumTuneConfigs - 1, ")");
  if (!fast) {
    // One smem layout for any strides: the loader adapts.
    if (partials)
      launch<T, with_f32_partials(kGeneral), Major::kK, Major::kMN, true>(prm);
    else
      launch<T, kGeneral, Major::kK, Major::kMN, true>(prm);
  } else if (partials && tile64) {
    launch_fast<T, with_f32_partials(kTile64)>(prm, am, bm);
  } else if (partials) {
    launch_fast<T, with_f32_partials(kSmall)>(prm, am, bm);
  } else if (tile64) {
    launch_fast<T, kTile64>(prm, am, bm);
#ifdef CUOPS_EXPLORE
  } else if (cfg != 0 && am == Major::kK && bm == Major::kMN) {
    launch_explore<T>(cfg, prm, std::make_index_sequence<std::size(kExploreConfigs)>{});
#endif
  } else if (big_blocks >= num_sms() && tma_eligible(prm, am, bm)) {
    launch_fast<T, kBigTma>(prm, am, bm);
  } else if (big_blocks >= num_sms()) {
    launch_fast<T, kBig>(prm, am, bm);
  } else {
    launch_fast<T, kSmall>(prm, am, bm);
  }
  // a_copy / b_copy are released here, after the launch was queued.
}

}  // namespace
}  // namespace mma_sync

int mma_sync_tuning_entries() { return mma_sync::kNumTuneConfigs; }

void gemm_mma_sync(const GemmProblem& p) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.matmul: variant 'mma_sync' supports float16 and bfloat16, got ", p.dtype);
  gemm_mma_sync_planned(p, false, false);
}

void gemm_mma_sync_planned(const GemmProblem& p, bool tile64, bool f32_partials) {
  TORCH_CHECK(p.dtype == at::kHalf || p.dtype == at::kBFloat16,
              "cuops.matmul: mma_sync supports float16 and bfloat16, got ", p.dtype);
  TORCH_INTERNAL_ASSERT(!f32_partials || p.bias == nullptr, "mma_sync partials take no bias");
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  if (p.dtype == at::kHalf)
    mma_sync::run<__half>(p, tile64, f32_partials);
  else
    mma_sync::run<__nv_bfloat16>(p, tile64, f32_partials);
}

}  // namespace cuops::cuda
