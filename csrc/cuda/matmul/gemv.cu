// Step 6 of the matmul ladder: matrix-vector products (N == 1 or M == 1),
// bandwidth-bound; every other problem goes to the tile kernel of its dtype.
//
// Why: a tile kernel spends a 128 x 128 tile (and its k pipeline) on one
// column of C, so a GEMV ran at ~2% of the memory bandwidth and summed all of
// K serially in one thread (2^18 terms: ~80x cuBLAS's rounding error). A GEMV
// reads every matrix element once and does 2 FLOPs on it: the only goal is to
// stream the matrix at full bandwidth and to sum accurately.
//
// The problem as W (R x K) . v (K) -> y (R):
//   N == 1: W = A (R = M), v = B's column, y = C's column;
//   M == 1: W = B^T (R = N), v = A's row, y = C's row (both: N == 1).
// Two kernels, by which dim of W is contiguous:
//  - kc (K-contiguous W, e.g. x @ w.mT with one token, A @ x): one warp per
//    (row, K chunk); lanes read consecutive 16-byte vectors of the row, each
//    lane V partial sums, combined as a fixed tree (components, then a warp
//    butterfly);
//  - rc (R-contiguous W, e.g. x @ w, one token): a block covers 32*V rows
//    of one K chunk; each thread owns V consecutive rows (one 16-byte vector
//    per k), the 8 warps take k, k+8, ... and are combined in shared memory
//    as a fixed tree.
// V = 16 bytes of T; V = 1 (element loads, any strides) where the contiguous
// dim is not unit-stride or rows are not 16-byte aligned.
// K is cut into S chunks (S from the shape and the SM count only): with
// S > 1 each chunk's sum goes to an fp32 (fp64) workspace [S][batch][R] and
// finish_partials adds them in a fixed, compensated order, + bias, converts.
// Accuracy: a thread sums runs of 16-32 terms with plain fma and adds each
// run into a compensated (Kahan) total, then fixed trees (lanes, warps) and
// the compensated sum over chunks: the error is that of a short serial sum
// plus a few tree levels, not of a K-long one.
// Deterministic: no atomics, the same order every run. Accumulation in fp32
// (fp64 for fp64).
#include "cuda/matmul/common.cuh"

namespace cuops::cuda {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;
// Terms a thread sums with plain fma before adding the run into its
// compensated total (Kahan, common.cuh).
constexpr int kRunKC = 16;  // kc: 16-byte vectors per lane
constexpr int kRunRC = 32;  // rc: k steps per thread (also the shortest chunk)
constexpr int kMinVecsKC = 4;  // kc: the shortest chunk, in vectors per lane
// Work items to aim for: several waves of resident warps (kc) / blocks (rc),
// so the last partial wave costs little.
constexpr int kTargetWarpsPerSM = 256, kTargetBlocksPerSM = 16;

struct GemvArgs {
  const void* w;
  const void* v;
  void* y;          // C (S == 1) or the acc_t workspace [S][batch][R]
  const void* bias;  // S == 1 only: bias[bias_per_row ? r : 0]
  int64_t R, K, batch, z0;
  int64_t w_sr, w_sk, v_sk, y_sr;
  int w_arg;  // operand of W in the batch offset calculator (1 = A, 2 = B; v is the other)
  bool bias_per_row;
  bool v_vec;        // kc: v is unit-stride and V-aligned (vector loads)
  int64_t S, chunk;  // K chunks and their length
  OffsetCalculator<3> oc;
};

template <typename T, int V>
__device__ __forceinline__ void load_vec(const T* p, acc_t<T> (&x)[V]) {
  if constexpr (V == 1) {
    x[0] = static_cast<acc_t<T>>(p[0]);
  } else {
    const Vec<T, V> q = *reinterpret_cast<const Vec<T, V>*>(p);
#pragma unroll
    for (int j = 0; j < V; ++j) x[j] = static_cast<acc_t<T>>(q.v[j]);
  }
}

// Stores y[r] of batch item z: the finished value (S == 1) or the chunk's partial.
template <typename T>
__device__ __forceinline__ void store_result(const GemvArgs& a, const int64_t (&off)[3], int64_t z,
                                             int64_t s, int64_t r, acc_t<T> sum) {
  if (a.S == 1) {
    const T* bias = static_cast<const T*>(a.bias);
    static_cast<T*>(a.y)[off[0] + r * a.y_sr] = mm::epilogue<T>(sum, bias, a.bias_per_row ? r : 0);
  } else {
    static_cast<acc_t<T>*>(a.y)[(s * a.batch + z) * a.R + r] = sum;
  }
}

// kc: warp item = (row r, chunk s), rows fastest (the 8 warps of a block
// share a chunk of v through L1).
template <typename T, int V>
__global__ void __launch_bounds__(kThreads, 3) gemv_kc_kernel(const __grid_constant__ GemvArgs a) {
  using A = acc_t<T>;
  const int lane = threadIdx.x % 32;
  const int64_t item = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  const int64_t r = item % a.R, s = item / a.R;
  if (s >= a.S) return;
  const int64_t z = a.z0 + blockIdx.y;
  int64_t off[3];
  mm::batch_offsets(a.oc, z, off);
  const T* w = static_cast<const T*>(a.w) + (a.w_arg == 1 ? off[1] : off[2]) + r * a.w_sr;
  const T* v = static_cast<const T*>(a.v) + (a.w_arg == 1 ? off[2] : off[1]);
  const int64_t k0 = s * a.chunk, k1 = min(a.K, k0 + a.chunk);

  // Lane sums: runs of kRunKC vectors (plain fma, V chains), each run's V
  // chains summed as a fixed tree and added into one compensated total (its
  // rounding error stays O(u), however long the chunk; one total instead of
  // V leaves the registers for 3 blocks per SM).
  mm::Kahan<A> tot;
  // Whole vectors: k0 is a multiple of V (chunk is), so each is aligned.
  const int64_t kv_end = k0 + (k1 - k0) / V * V;
  const auto step = [&](int64_t k, A (&part)[V]) {
    A x[V], y[V];
    load_vec<T, V>(w + k * a.w_sk, x);
    if (V > 1 && a.v_vec) {
      load_vec<T, V>(v + k, y);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) y[j] = static_cast<A>(v[(k + j) * a.v_sk]);
    }
#pragma unroll
    for (int j = 0; j < V; ++j) part[j] = fma(x[j], y[j], part[j]);
  };
  constexpr int64_t kRunStride = int64_t{32} * V;
  for (int64_t kr = k0 + lane * V; kr < kv_end; kr += kRunStride * kRunKC) {
    A part[V];
#pragma unroll
    for (int j = 0; j < V; ++j) part[j] = A(0);
    if (kr + (kRunKC - 1) * kRunStride < kv_end) {
      // A whole run: no exit inside, so the loads of 4 steps are in flight
      // together (a streaming kernel lives on memory-level parallelism).
#pragma unroll 4
      for (int i = 0; i < kRunKC; ++i) step(kr + i * kRunStride, part);
    } else {
      for (int64_t k = kr; k < kv_end; k += kRunStride) step(k, part);
    }
#pragma unroll
    for (int h = V / 2; h >= 1; h /= 2)
#pragma unroll
      for (int j = 0; j < h; ++j) part[j] += part[j + h];
    tot.add(part[0]);
  }
  A sum = tot.value();
  // Tail (< V elements of the chunk), one per lane.
  if (V > 1 && kv_end + lane < k1) {
    const int64_t k = kv_end + lane;
    sum += static_cast<A>(w[k * a.w_sk]) * static_cast<A>(v[k * a.v_sk]);
  }
  // Fixed tree across the warp.
#pragma unroll
  for (int o = 16; o >= 1; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) store_result<T>(a, off, z, s, r, sum);
}

// rc: block = (row group of 32*V rows, chunk s); warp w sums k = k0 + w,
// k0 + w + 8, ... of the chunk for its lane's V rows.
template <typename T, int V>
__global__ void __launch_bounds__(kThreads) gemv_rc_kernel(const __grid_constant__ GemvArgs a) {
  using A = acc_t<T>;
  constexpr int kRows = 32 * V;
  __shared__ A red[kWarps][kRows];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t groups = ceil_div<int64_t>(a.R, kRows);
  const int64_t r0 = blockIdx.x % groups * kRows, s = blockIdx.x / groups;
  const int64_t z = a.z0 + blockIdx.y;
  int64_t off[3];
  mm::batch_offsets(a.oc, z, off);
  const T* w = static_cast<const T*>(a.w) + (a.w_arg == 1 ? off[1] : off[2]);
  const T* v = static_cast<const T*>(a.v) + (a.w_arg == 1 ? off[2] : off[1]);
  const int64_t k0 = s * a.chunk, k1 = min(a.K, k0 + a.chunk);
  const int64_t r = r0 + lane * V;
  const bool whole = r + V <= a.R;  // vector inside W (else element loads, guarded)

  // Thread sums: runs of kRunRC k steps (plain fma), each run added into a
  // compensated total.
  mm::Kahan<A> tot[V];
  if (r < a.R) {
    const T* wr = w + r * a.w_sr;
    for (int64_t kr = k0 + warp; kr < k1; kr += int64_t{kWarps} * kRunRC) {
      A part[V];
#pragma unroll
      for (int j = 0; j < V; ++j) part[j] = A(0);
      if (whole && kr + int64_t{kRunRC - 1} * kWarps < k1) {
        // A whole run of whole vectors: no exit inside, so several steps'
        // loads are in flight together (an exit per step serialized them).
#pragma unroll 4
        for (int i = 0; i < kRunRC; ++i) {
          const int64_t k = kr + int64_t{i} * kWarps;
          A x[V];
          load_vec<T, V>(wr + k * a.w_sk, x);
          const A y = static_cast<A>(v[k * a.v_sk]);
#pragma unroll
          for (int j = 0; j < V; ++j) part[j] = fma(x[j], y, part[j]);
        }
      } else {
        // The chunk's last run, or rows past R's last whole vector (every run).
        const int64_t kend = min(k1, kr + int64_t{kRunRC} * kWarps);
        for (int64_t k = kr; k < kend; k += kWarps) {
          const T* wk = wr + k * a.w_sk;
          const A y = static_cast<A>(v[k * a.v_sk]);
          A x[V];
          if (whole) {
            load_vec<T, V>(wk, x);
          } else {
#pragma unroll
            for (int j = 0; j < V; ++j) x[j] = r + j < a.R ? static_cast<A>(wk[j * a.w_sr]) : A(0);
          }
#pragma unroll
          for (int j = 0; j < V; ++j) part[j] = fma(x[j], y, part[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < V; ++j) tot[j].add(part[j]);
    }
  }
  A part[V];
#pragma unroll
  for (int j = 0; j < V; ++j) part[j] = tot[j].value();
#pragma unroll
  for (int j = 0; j < V; ++j) red[warp][lane * V + j] = part[j];
  __syncthreads();
  // Fixed tree over the 8 warps: ((0+1)+(2+3))+((4+5)+(6+7)).
  for (int i = threadIdx.x; i < kRows; i += kThreads) {
    if (r0 + i >= a.R) break;
    const A s01 = red[0][i] + red[1][i], s23 = red[2][i] + red[3][i];
    const A s45 = red[4][i] + red[5][i], s67 = red[6][i] + red[7][i];
    store_result<T>(a, off, z, s, r0 + i, (s01 + s23) + (s45 + s67));
  }
}

// Chunk length: as short as filling the GPU asks (work / target workers), a
// multiple of `unit`, but at least `min_chunk` (a few loads per thread) and
// K / kMaxSplits (bounded workspace and finishing work); K when that covers
// it; then evened out so the last chunk is not a short straggler.
constexpr int64_t kMaxSplits = 256;
int64_t pick_chunk(int64_t K, int64_t others, int64_t target, int64_t unit, int64_t min_chunk) {
  const auto round_up = [unit](int64_t x) { return ceil_div<int64_t>(x, unit) * unit; };
  const int64_t fill = round_up(ceil_div<int64_t>(K * others, std::max<int64_t>(target, 1)));
  const int64_t chunk = std::max({min_chunk, fill, round_up(ceil_div<int64_t>(K, kMaxSplits))});
  if (chunk >= K) return K;
  return round_up(ceil_div<int64_t>(K, ceil_div<int64_t>(K, chunk)));  // even chunks
}

template <typename T>
void run_gemv(const GemmProblem& p) {
  using A = acc_t<T>;
  constexpr int V = static_cast<int>(16 / sizeof(T));
  GemvArgs a{};
  const bool col = p.N == 1;  // N == 1: W = A; else (M == 1) W = B^T
  a.w = col ? p.a : p.b;
  a.v = col ? p.b : p.a;
  a.y = p.c;
  a.bias = p.bias;
  a.R = col ? p.M : p.N;
  a.K = p.K;
  a.batch = p.batch;
  a.w_sr = col ? p.a_sm : p.b_sn;
  a.w_sk = col ? p.a_sk : p.b_sk;
  a.v_sk = col ? p.b_sk : p.a_sk;
  a.y_sr = col ? p.c_sm : p.c_sn;
  a.w_arg = col ? 1 : 2;
  a.bias_per_row = !col;
  a.oc = p.batch_oc;
  if (a.R == 1) a.w_sr = 0;  // never multiplied by a nonzero index
  if (a.K == 1) { a.w_sk = 0; a.v_sk = 0; }

  // Layout: vectors along k (kc) or along r (rc), else element loads along
  // the smaller stride. A vector needs a unit stride and every row start
  // V-aligned (pointer, the other stride, batch offsets).
  const int align_k = mm::elem_alignment(a.w, sizeof(T), {a.w_sr}, p.batch_oc, a.w_arg);
  const int align_r = mm::elem_alignment(a.w, sizeof(T), {a.w_sk}, p.batch_oc, a.w_arg);
  const bool kc_vec = (a.w_sk == 1 || a.K == 1) && align_k >= V && a.K >= V;
  const bool rc_vec = a.w_sr == 1 && align_r >= V && a.R >= V;
  // One row (a dot product): lanes along k whatever the strides.
  const bool use_rc = !kc_vec && a.R > 1 && (rc_vec || std::abs(a.w_sr) < std::abs(a.w_sk));
  if (kc_vec) a.w_sk = 1;
  a.v_vec = (a.v_sk == 1 || a.K == 1) &&
            mm::elem_alignment(a.v, sizeof(T), {}, p.batch_oc, col ? 2 : 1) >= V;
  if (a.v_vec) a.v_sk = 1;

  const int64_t sms = num_sms();
  const int64_t zb = std::min<int64_t>(p.batch, 65535);
  const auto opts = at::TensorOptions().device(at::kCUDA, c10::cuda::current_device());
  at::Tensor ws;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const auto alloc_ws = [&] {
    if (a.S == 1) return;
    ws = at::empty({a.S * p.batch * a.R}, opts.dtype(c10::CppTypeToScalarType<A>::value));
    a.y = ws.data_ptr<A>();
  };

  if (!use_rc) {
    const int v = kc_vec ? V : 1;
    a.chunk = pick_chunk(a.K, a.R * p.batch, sms * kTargetWarpsPerSM, 32 * v,
                         int64_t{32} * v * kMinVecsKC);
    a.S = ceil_div<int64_t>(a.K, a.chunk);
    alloc_ws();
    const int64_t blocks = ceil_div<int64_t>(a.R * a.S, kWarps);
    TORCH_CHECK(blocks <= INT_MAX, "cuops.matmul (gemv): problem too large for one launch");
    for (a.z0 = 0; a.z0 < p.batch; a.z0 += 65535) {
      const dim3 grid(static_cast<unsigned>(blocks),
                      static_cast<unsigned>(std::min<int64_t>(p.batch - a.z0, zb)));
      if (kc_vec)
        gemv_kc_kernel<T, V><<<grid, kThreads, 0, stream>>>(a);
      else
        gemv_kc_kernel<T, 1><<<grid, kThreads, 0, stream>>>(a);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  } else {
    const int v = rc_vec ? V : 1;
    if (rc_vec) a.w_sr = 1;
    const int64_t groups = ceil_div<int64_t>(a.R, 32 * v);
    a.chunk = pick_chunk(a.K, groups * p.batch, sms * kTargetBlocksPerSM, kWarps,
                         int64_t{kWarps} * kRunRC);
    a.S = ceil_div<int64_t>(a.K, a.chunk);
    alloc_ws();
    TORCH_CHECK(groups * a.S <= INT_MAX, "cuops.matmul (gemv): problem too large for one launch");
    for (a.z0 = 0; a.z0 < p.batch; a.z0 += 65535) {
      const dim3 grid(static_cast<unsigned>(groups * a.S),
                      static_cast<unsigned>(std::min<int64_t>(p.batch - a.z0, zb)));
      if (rc_vec)
        gemv_rc_kernel<T, V><<<grid, kThreads, 0, stream>>>(a);
      else
        gemv_rc_kernel<T, 1><<<grid, kThreads, 0, stream>>>(a);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  }
  if (a.S > 1) finish_partials(p, ws, a.S);
}

}  // namespace

void gemm_gemv(const GemmProblem& p) {
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  // K == 0 (an empty sum: 0 + bias) too: the chunking below divides by K.
  if ((p.M != 1 && p.N != 1) || p.K == 0) return gemm_tile_default(p);
  switch (p.dtype) {
    case at::kFloat: return run_gemv<float>(p);
    case at::kHalf: return run_gemv<at::Half>(p);
    case at::kBFloat16: return run_gemv<at::BFloat16>(p);
    case at::kDouble: return run_gemv<double>(p);
    default: TORCH_CHECK_TYPE(false, "cuops.matmul(gemv): unsupported dtype ", p.dtype);
  }
}

}  // namespace cuops::cuda
