// Step 7 of the matmul ladder: the planner. Picks, from the shape, the dtype
// and the SM count only (so the same problem always gets the same plan and
// the same bits), how to run the tile kernel of the dtype (mma_sync for
// fp16/bf16, warptile_static for fp32 -- mma_tf32 where torch's allow_tf32
// flag is set, as torch.matmul does -- warptile for fp64), splitting K when
// the output tiles cannot keep the GPU busy or K is long.
//
// The rules (the one place they are written; docs/matmul-worklog.md
// 2026-12-06 has the reasoning):
//  1. M == 1 or N == 1: the gemv kernel (gemv.cu).
//  2. Tile size (fp16/bf16 only): 128 x 128 when those tiles give every SM a
//     block (tiles128 * batch >= #SMs) and are mostly real output (M*N at
//     least half of the area the 128 x 128 tiles cover), else 64 x 64
//     (kTile64): a 1000^3 or a decode-sized M (1..64) product then has 4x
//     the blocks, a batch of small products (M or N <= 64) computes less
//     padding.
//     fp32 / fp64 keep their kernel's tile (128 x 128 / 64 x 64).
//  3. Split count S (1 = no split):
//     fill: tiles * batch < #SMs  ->  S = ceil(2 * #SMs / (tiles * batch));
//     long: K >= kLongK and K >= 4 * max(M, N)  ->  S >= ceil(K / chunk_acc),
//           chunk_acc = 1024 (fp32, fp64) or 4096 (fp16/bf16): a serial
//           fp32 sum of K terms has ~sqrt(K) u error, a split one that of its
//           chunk plus a compensated sum over the S partials;
//     S at most what a kMaxWorkspace-byte workspace holds; then chunk =
//     ceil(K / S) rounded up to 64 and at least kMinChunk (each product
//     keeps several k tiles), S = ceil(K / chunk); where that leaves a
//     shorter last chunk, the first S' in [S, 2S] that cuts K into equal
//     chunks of a multiple of 64 (one launch instead of two).
//  4. S == 1 runs the tile kernel on the problem as is, so large products
//     (tiles * batch >= #SMs, K not long) run the dtype's tile kernel
//     unchanged. S > 1: the chunks are one batched product into an
//     fp32 workspace [S][batch][M][N] (fp64 for fp64) -- a chunk is one more
//     batch dim with strides {batch*M*N, chunk*a_sk, chunk*b_sk}; a shorter
//     last chunk is a second launch -- then finish_partials sums the S
//     partials in a fixed, compensated order, adds the bias, converts and
//     writes C through its strides.
//  5. Hopper (fp16/bf16, S == 1): the wgmma kernel (wgmma.cu) takes the
//     problem when its 128 x 128 tiles (over the batch) number at least
//     #SMs / 3 and it can (M and N >= 64, TMA-friendly operands, a dense
//     batch, an sm_90 device and build); else rule 4's mma_sync tile. A
//     batch needs M and N >= 128 too (smaller products were not measured).
//     Measured on the H100: 4096^3 0.97x cuBLAS (2026-12-07, staged
//     epilogue) against mma_sync's 0.62x, 1000^3 (64 tiles) 0.83x against
//     the 64 x 64 tiles' 0.59x, the batch 512 x (1024x128 @ 128x1024)
//     0.85x against mma_sync's 0.58x.
//  5b. Hopper (fp16/bf16, S > 1): the whole chunks run on the wgmma kernel
//     with an fp32-partials epilogue (wgmma.cu: gemm_wgmma_partials_try)
//     where chunk z stacks as product z of its tensor maps -- A and B both
//     M-/N-major, so a chunk is a block of k rows (a linear layer's weight
//     gradient x^T . dy) -- N even, M and N >= 64; else rule 4's mma_sync
//     tiles. The shorter last chunk and the finish are unchanged. The 128 x
//     128 tiles read each operand panel half as often as the 64 x 64 ones the
//     tall-K weight gradients got (ConvNeXt-T's: 2.9 ms per step against
//     cuBLAS's ~1.7, H100 2026-12-08; the change not yet timed).
//  6. Hopper fp32 under torch's allow_tf32 flag (every run_tiles call,
//     split chunks too): with rule 5's tile count, the tf32 wgmma kernel
//     with one TF32 product (wgmma_tf32, wgmma_3xtf32.cu): 4096^3 at 171-188
//     TFLOP/s against mma_tf32's ~70 (H100, 2026-12-07). True fp32 keeps
//     rule 4's SIMT kernel: the 3xTF32 step, twice as fast, was up to 1.2x
//     cuBLAS's error on wide-range data (docs/matmul-worklog.md, step 10).
#include "cuda/matmul/common.cuh"

namespace cuops::cuda {
namespace {

constexpr int64_t kLongK = 8192;      // rule 3 "long"
constexpr int64_t kLongRatio = 4;     // ... and K >= kLongRatio * max(M, N)
constexpr int64_t kChunkAcc32 = 1024;  // fp32/fp64 chunk of a long K
constexpr int64_t kChunkAcc16 = 4096;  // fp16/bf16 (their output rounding dominates)
constexpr int64_t kMinChunk = 256;    // shortest chunk of a fill split
constexpr int64_t kChunkAlign = 64;   // keeps chunk starts 16-byte aligned (and whole k tiles)
constexpr int64_t kMaxWorkspace = int64_t{256} << 20;  // bytes of partial sums
constexpr int64_t kWgmmaMinTilesDiv = 3;  // rule 5: tiles128 >= #SMs / kWgmmaMinTilesDiv
constexpr int64_t kWgmmaMinBatchedMN = 128;  // rule 5: a batch's M and N

// ---------------------------------------------------------------------------
// Finishing: C[z][m][n] = sum_s ws[s][z][m][n] (+ bias[n]), converted to T.
// Block = 32 outputs x 8 lanes over s: lane y adds s = y, y + 8, ... with
// Kahan's compensation, then the 8 are combined as a fixed tree.
// ---------------------------------------------------------------------------
constexpr int kFinOut = 32, kFinLanes = 8;

template <typename T>
__global__ void __launch_bounds__(kFinOut* kFinLanes)
    finish_partials_kernel(const acc_t<T>* __restrict__ ws, int64_t S, const GemmProblem p) {
  using A = acc_t<T>;
  __shared__ A red[kFinLanes][kFinOut];
  const int64_t total = p.batch * p.M * p.N;
  const int64_t o = int64_t{blockIdx.x} * kFinOut + threadIdx.x;
  mm::Kahan<A> sum;
  if (o < total)
    for (int64_t s = threadIdx.y; s < S; s += kFinLanes) sum.add(ws[s * total + o]);
  red[threadIdx.y][threadIdx.x] = sum.value();
  __syncthreads();
  if (threadIdx.y != 0 || o >= total) return;
  const A* r = &red[0][threadIdx.x];
  A v = ((r[0] + r[kFinOut]) + (r[2 * kFinOut] + r[3 * kFinOut])) +
        ((r[4 * kFinOut] + r[5 * kFinOut]) + (r[6 * kFinOut] + r[7 * kFinOut]));
  const int64_t n = o % p.N, m = o / p.N % p.M, z = o / (p.N * p.M);
  int64_t off[3];
  mm::batch_offsets(p.batch_oc, z, off);
  static_cast<T*>(p.c)[off[0] + m * p.c_sm + n * p.c_sn] =
      mm::epilogue<T>(v, static_cast<const T*>(p.bias), n);
}
static_assert(kFinLanes == 8, "the tree above adds 8 lanes");

template <typename T>
void finish(const GemmProblem& p, const at::Tensor& ws, int64_t S) {
  const int64_t total = p.batch * p.M * p.N;
  const int64_t blocks = ceil_div<int64_t>(total, kFinOut);
  TORCH_CHECK(blocks <= INT_MAX, "cuops.matmul: output too large for one launch");
  finish_partials_kernel<T><<<static_cast<unsigned>(blocks), dim3(kFinOut, kFinLanes), 0,
                              at::cuda::getCurrentCUDAStream()>>>(ws.data_ptr<acc_t<T>>(), S, p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---------------------------------------------------------------------------
// The plan.
// ---------------------------------------------------------------------------
struct SplitPlan {
  bool tile64 = false;  // fp16/bf16: kTile64 instead of the 128 x 128 configurations
  int64_t S = 1, chunk = 0;
};

bool is_half(at::ScalarType t) { return t == at::kHalf || t == at::kBFloat16; }

SplitPlan plan_split(const GemmProblem& p) {
  SplitPlan plan;
  const int64_t sms = num_sms();
  const auto tiles = [&](int64_t bm, int64_t bn) {
    return ceil_div(p.M, bm) * ceil_div(p.N, bn) * p.batch;
  };
  const int64_t tile = p.dtype == at::kDouble ? 64 : 128;  // warptile's fp64 tile is 64 x 64
  int64_t t = tiles(tile, tile);
  const int64_t padded128 = ceil_div(p.M, int64_t{128}) * 128 * ceil_div(p.N, int64_t{128}) * 128;
  if (is_half(p.dtype) && (t < sms || 2 * p.M * p.N < padded128)) {
    plan.tile64 = true;
    t = tiles(64, 64);
  }
  int64_t S = 1;
  if (t < sms) S = ceil_div(2 * sms, t);
  int64_t min_chunk = kMinChunk;
  if (p.K >= kLongK && p.K >= kLongRatio * std::max(p.M, p.N)) {
    const int64_t acc_chunk = is_half(p.dtype) ? kChunkAcc16 : kChunkAcc32;
    S = std::max(S, ceil_div(p.K, acc_chunk));
    min_chunk = std::min(min_chunk, acc_chunk);
  }
  const int64_t partial_bytes = p.batch * p.M * p.N * (p.dtype == at::kDouble ? 8 : 4);
  const int64_t max_S = std::max<int64_t>(1, kMaxWorkspace / partial_bytes);
  S = std::min(S, max_S);
  // A split needs one more batch dim in the offset calculator.
  if (S <= 1 || p.batch_oc.ndim >= kMaxDims) return plan;
  int64_t chunk = ceil_div(ceil_div(p.K, S), kChunkAlign) * kChunkAlign;
  chunk = std::max(chunk, min_chunk);
  if (chunk >= p.K) return plan;
  plan.chunk = chunk;
  plan.S = ceil_div(p.K, chunk);
  // Equal chunks where a split count up to twice as many gives them: a
  // shorter last chunk is a second launch of few blocks that runs alone
  // (16 x 4096 @ 4096^2: 9.5 of 28 us, H100 2026-12-07).
  if (p.K % chunk != 0) {
    for (int64_t s2 = plan.S; s2 <= 2 * plan.S && s2 <= max_S; ++s2) {
      if (p.K % s2 == 0 && (p.K / s2) % kChunkAlign == 0 && p.K / s2 >= min_chunk) {
        plan.S = s2;
        plan.chunk = p.K / s2;
        break;
      }
    }
  }
  return plan;
}

// Rule 5's grid condition: enough 128 x 128 tiles over the batch to keep the
// persistent wgmma grid busy, and a batch's products not small.
bool wgmma_grid_ok(const GemmProblem& p) {
  const int64_t tiles128 = ceil_div(p.M, int64_t{128}) * ceil_div(p.N, int64_t{128});
  const bool shape = p.batch == 1 || (p.M >= kWgmmaMinBatchedMN && p.N >= kWgmmaMinBatchedMN);
  return shape && tiles128 * p.batch * kWgmmaMinTilesDiv >= num_sms();
}

// The tile kernel of the dtype on q (C = fp32/fp64 partials when `partials`).
void run_tiles(const GemmProblem& q, bool tile64, bool partials) {
  if (is_half(q.dtype)) return gemm_mma_sync_planned(q, tile64, partials);
  // fp32: TF32 products only where the caller permits them (GemmProblem::allow_tf32).
  if (q.dtype == at::kFloat) {
    if (q.allow_tf32 && wgmma_grid_ok(q) && gemm_wgmma_tf32x3_try(q, false)) return;  // rule 6
    return q.allow_tf32 ? gemm_mma_tf32(q) : gemm_warptile_static(q);
  }
  return gemm_warptile(q);
}

// Workspace strides for C of batch_oc: item z at z * M * N (the dims are the
// original batch dims, outermost first, so row-major over them).
void workspace_c_strides(OffsetCalculator<3>& oc, int64_t mn) {
  int64_t run = mn;
  for (int d = oc.ndim - 1; d >= 0; --d) {
    oc.strides[0][d] = run;
    run *= oc.sizes[d];
  }
}

template <typename A>
void run_split(const GemmProblem& p, const SplitPlan& plan) {
  const int64_t mn = p.M * p.N, full = p.K / plan.chunk, last = p.K - full * plan.chunk;
  const auto opts = at::TensorOptions().device(at::kCUDA, c10::cuda::current_device());
  at::Tensor ws = at::empty({plan.S * p.batch * mn}, opts.dtype(c10::CppTypeToScalarType<A>::value));

  GemmProblem q = p;  // the chunks: partial products into the workspace
  q.c = ws.data_ptr<A>();
  q.c_sm = p.N;
  q.c_sn = 1;
  q.bias = nullptr;
  workspace_c_strides(q.batch_oc, mn);
  const OffsetCalculator<3> item_oc = q.batch_oc;

  // Launch 1: the `full` whole chunks as an outer batch dim.
  OffsetCalculator<3>& oc = q.batch_oc;
  for (int d = oc.ndim; d > 0; --d) {
    oc.sizes[d] = oc.sizes[d - 1];
    for (int a = 0; a < 3; ++a) oc.strides[a][d] = oc.strides[a][d - 1];
  }
  oc.ndim += 1;
  oc.sizes[0] = full;
  oc.strides[0][0] = p.batch * mn;
  oc.strides[1][0] = plan.chunk * p.a_sk;
  oc.strides[2][0] = plan.chunk * p.b_sk;
  q.K = plan.chunk;
  q.batch = full * p.batch;
  // Rule 5b: on Hopper the whole chunks on the wgmma kernel where they stack
  // (M- and N-major operands: a weight gradient's x^T . dy).
  if (!(is_half(q.dtype) && gemm_wgmma_partials_try(q))) run_tiles(q, plan.tile64, true);

  if (last > 0) {  // launch 2: the shorter last chunk
    GemmProblem r = q;
    r.batch_oc = item_oc;
    r.batch = p.batch;
    r.K = last;
    const int64_t k0 = full * plan.chunk;
    r.a = static_cast<const char*>(p.a) + k0 * p.a_sk * at::elementSize(p.dtype);
    r.b = static_cast<const char*>(p.b) + k0 * p.b_sk * at::elementSize(p.dtype);
    r.c = ws.data_ptr<A>() + full * p.batch * mn;
    run_tiles(r, plan.tile64, true);
  }
  finish_partials(p, ws, plan.S);
}

}  // namespace

void finish_partials(const GemmProblem& p, const at::Tensor& ws, int64_t S) {
  switch (p.dtype) {
    case at::kFloat: return finish<float>(p, ws, S);
    case at::kHalf: return finish<at::Half>(p, ws, S);
    case at::kBFloat16: return finish<at::BFloat16>(p, ws, S);
    case at::kDouble: return finish<double>(p, ws, S);
    default: TORCH_CHECK_TYPE(false, "cuops.matmul: unsupported dtype ", p.dtype);
  }
}

void gemm_tile_default(const GemmProblem& p) { run_tiles(p, false, false); }
void gemm_tile_acc(const GemmProblem& p) { run_tiles(p, false, true); }

void gemm_splitk(const GemmProblem& p) {
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  if (p.M == 1 || p.N == 1) return gemm_gemv(p);  // rule 1
  const SplitPlan plan = plan_split(p);
  if (plan.S == 1) {
    if (is_half(p.dtype) && wgmma_grid_ok(p) && gemm_wgmma_try(p)) return;  // rule 5
    return run_tiles(p, plan.tile64, false);
  }
  if (p.dtype == at::kDouble) return run_split<double>(p, plan);
  run_split<float>(p, plan);
}

}  // namespace cuops::cuda
