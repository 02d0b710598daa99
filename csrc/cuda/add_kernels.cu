// CUDA kernels of cuops.add (a three-step ladder) and cuops.sum_to; the
// ladder and the op entry points are csrc/cuda/add_cuda.cpp.
//
// add is memory-bound: 3 accesses per element (read a, read b, write out), no
// arithmetic worth counting. The ceiling is copy bandwidth (~3.0 TB/s on the
// H100), so each step of the ladder is about moving bytes more efficiently:
//   grid_stride  one element per thread per iteration, any strides
//   vec16        16-byte loads/stores (8 halves, 4 floats, 2 doubles)
//   vec16x4      4 independent 16-byte loads per operand in flight per thread,
//                one chunk per block (no grid-stride loop)
// The vector steps take the flat fast path (same-shape dense inputs, 16-byte
// aligned); anything else (broadcast, strided, misaligned) goes to grid_stride.
#include <cub/block/block_reduce.cuh>

#include "cuda/add_kernels.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ T add_one(T a, T b, acc_t<T> alpha) {
  return static_cast<T>(static_cast<acc_t<T>>(a) + alpha * static_cast<acc_t<T>>(b));
}

// Step 1: any strides. The offset calculator turns each linear index into
// three offsets (64-bit: tensors over 2^31 elements are fine).
template <typename T>
__global__ void add_grid_stride_kernel(OffsetCalculator<3> oc, int64_t n, T* __restrict__ out,
                                       const T* __restrict__ a, const T* __restrict__ b,
                                       acc_t<T> alpha) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[3];
    oc.get(i, off);
    out[off[0]] = add_one(a[off[1]], b[off[2]], alpha);
  }
}

// Steps 2 and 3: flat arrays as 16-byte vectors. Each block owns a chunk of
// blockDim*UNROLL consecutive vectors (consecutive threads -> consecutive
// vectors: coalesced); each thread loads its UNROLL vectors of a and b before
// using any, keeping 2*UNROLL loads in flight (memory-level parallelism is
// what hides DRAM latency). With a capped grid the loop strides over chunks.
// The n % VEC tail is done element-wise by the first threads.
template <typename T, int UNROLL>
__global__ void add_vec16_kernel(int64_t n, T* __restrict__ out, const T* __restrict__ a,
                                 const T* __restrict__ b, acc_t<T> alpha) {
  constexpr int VEC = kVec16<T>;
  using V = Vec<T, VEC>;
  const int64_t nvec = n / VEC;
  const V* va = reinterpret_cast<const V*>(a);
  const V* vb = reinterpret_cast<const V*>(b);
  V* vo = reinterpret_cast<V*>(out);
  const int64_t chunk = static_cast<int64_t>(blockDim.x) * UNROLL;
  for (int64_t base = blockIdx.x * chunk + threadIdx.x; base < nvec; base += gridDim.x * chunk) {
    V ra[UNROLL], rb[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const int64_t i = base + u * blockDim.x;
      if (i < nvec) {
        ra[u] = va[i];
        rb[u] = vb[i];
      }
    }
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const int64_t i = base + u * blockDim.x;
      if (i < nvec) {
        V r;
#pragma unroll
        for (int k = 0; k < VEC; ++k) r.v[k] = add_one(ra[u].v[k], rb[u].v[k], alpha);
        vo[i] = r;
      }
    }
  }
  const int64_t t = nvec * VEC + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < n) out[t] = add_one(a[t], b[t], alpha);
}

template <typename T>
void launch_grid_stride(const AddPlan& p, acc_t<T> alpha) {
  const int64_t n = p.out.numel();
  add_grid_stride_kernel<T><<<grid_for(n, kThreads), kThreads, 0,
                              at::cuda::getCurrentCUDAStream()>>>(
      p.oc, n, p.out.data_ptr<T>(), p.a.const_data_ptr<T>(), p.b.const_data_ptr<T>(), alpha);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// kCapGrid: a grid-stride loop over at most 16 blocks per SM (vec16), or one
// chunk per block with as many blocks as chunks (vec16x4, like torch's own
// elementwise kernels: no loop overhead, the hardware balances the tail).
template <typename T, int UNROLL, bool kCapGrid>
void launch_vec16(const AddPlan& p, acc_t<T> alpha) {
  T* out = p.out.data_ptr<T>();
  const T* a = p.a.const_data_ptr<T>();
  const T* b = p.b.const_data_ptr<T>();
  if (!p.flat || !aligned16(out) || !aligned16(a) || !aligned16(b)) {
    launch_grid_stride<T>(p, alpha);
    return;
  }
  const int64_t n = p.out.numel();
  const int64_t nvec = n / kVec16<T>;
  // At least one block, so the tail (< VEC elements) is done even if nvec == 0.
  const int64_t chunks = std::max<int64_t>(1, ceil_div<int64_t>(nvec, int64_t{kThreads} * UNROLL));
  const unsigned grid = kCapGrid ? std::min<unsigned>(grid_for(nvec, kThreads, 16), chunks)
                                 : static_cast<unsigned>(std::min<int64_t>(chunks, INT32_MAX));
  add_vec16_kernel<T, UNROLL><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      n, out, a, b, alpha);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---------------------------------------------------------------------------
// sum_to: out[o] = scale * sum_r x[kept(o) + red(r)].
// Few long reductions (a bias gradient: n_out small, n_red huge) need many
// blocks per output, so the reduction is split `splits` ways into fp32/fp64
// partials and finished by a second small kernel: deterministic, no atomics.
// Many short reductions use one thread per output. Where the kept elements
// are contiguous in x (a row-major [M, N] summed over M: a linear layer's or
// a channels_last convolution's bias gradient), a warp reads 32 neighbouring
// columns of one row (sum_to_columns_kernel) instead of one column's strided
// elements, which would cost a 32-byte sector per element.
// ---------------------------------------------------------------------------

template <typename T>
__global__ void sum_to_thread_kernel(OffsetCalculator<1> kept, OffsetCalculator<1> red,
                                     int64_t n_out, int64_t n_red, const T* __restrict__ x,
                                     T* __restrict__ out, acc_t<T> scale) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out;
       o += step) {
    int64_t base[1];
    kept.get(o, base);
    acc_t<T> s = 0;
    for (int64_t r = 0; r < n_red; ++r) {
      int64_t off[1];
      red.get(r, off);
      s += static_cast<acc_t<T>>(x[base[0] + off[0]]);
    }
    out[o] = static_cast<T>(scale * s);
  }
}

template <typename T>
__global__ void sum_to_block_kernel(OffsetCalculator<1> kept, OffsetCalculator<1> red,
                                    int64_t n_out, int64_t n_red, int splits,
                                    const T* __restrict__ x, acc_t<T>* __restrict__ partial) {
  using BlockReduce = cub::BlockReduce<acc_t<T>, kThreads>;
  __shared__ typename BlockReduce::TempStorage tmp;
  const int64_t chunk = ceil_div<int64_t>(n_red, splits);
  const int64_t r0 = blockIdx.y * chunk, r1 = std::min(n_red, r0 + chunk);
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {
    int64_t base[1];
    kept.get(o, base);
    acc_t<T> s = 0;
    for (int64_t r = r0 + threadIdx.x; r < r1; r += kThreads) {
      int64_t off[1];
      red.get(r, off);
      s += static_cast<acc_t<T>>(x[base[0] + off[0]]);
    }
    s = BlockReduce(tmp).Sum(s);
    if (threadIdx.x == 0) partial[o * splits + blockIdx.y] = s;
    __syncthreads();  // tmp is reused by the next output
  }
}

// Column reduction: a block of kColRows x 32 threads owns 32 adjacent output
// columns and one of `splits` row ranges; each thread keeps kColUnroll loads
// in flight, then the kColRows row phases are added in a fixed order.
constexpr int kColRows = 8, kColUnroll = 8;

template <typename T, bool kOneRedDim>
__global__ void __launch_bounds__(32 * kColRows)
    sum_to_columns_kernel(OffsetCalculator<1> red, int64_t n_out, int64_t n_red, int64_t chunk,
                          const T* __restrict__ x, acc_t<T>* __restrict__ partial) {
  __shared__ acc_t<T> rows[kColRows][33];
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  const int64_t r0 = blockIdx.y * chunk, r1 = std::min(n_red, r0 + chunk);
  const bool live = col < n_out;
  // A general row offset (a division chain per row) with 8 rows in flight
  // spills for fp64; that rare case (a strided view) loads one row at a time.
  constexpr int kU = kOneRedDim ? kColUnroll : 1;
  acc_t<T> s = 0;
  for (int64_t r = r0 + ty; r < r1; r += kColRows * kU) {
    T v[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int64_t rr = r + u * kColRows;
      int64_t off[1] = {rr * red.strides[0][0]};
      if (!kOneRedDim && rr < r1) red.get(rr, off);
      v[u] = live && rr < r1 ? x[off[0] + col] : T(0);
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) s += static_cast<acc_t<T>>(v[u]);
  }
  rows[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && live) {
    acc_t<T> t = rows[0][tx];
#pragma unroll
    for (int k = 1; k < kColRows; ++k) t += rows[k][tx];
    partial[blockIdx.y * n_out + col] = t;
  }
}

// out[o] = scale * sum_k partial[o * o_stride + k * k_stride], k in order.
template <typename T>
__global__ void sum_to_finish_kernel(int64_t n_out, int splits, int64_t o_stride, int64_t k_stride,
                                     const acc_t<T>* __restrict__ partial, T* __restrict__ out,
                                     acc_t<T> scale) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out;
       o += step) {
    acc_t<T> s = 0;
    for (int k = 0; k < splits; ++k) s += partial[o * o_stride + k * k_stride];
    out[o] = static_cast<T>(scale * s);
  }
}

// The column kernel's split of n_red: ~8 blocks per SM in all, each over at
// least 256 rows.
template <typename T>
void launch_sum_to_columns(const SumToPlan& p, T* out, acc_t<T> scale) {
  auto stream = at::cuda::getCurrentCUDAStream();
  const int64_t tiles = ceil_div<int64_t>(p.n_out, 32);
  const int splits = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({ceil_div<int64_t>(8 * num_sms(), tiles), ceil_div<int64_t>(p.n_red, 256),
                            65535})));
  const int64_t chunk = ceil_div<int64_t>(p.n_red, splits);
  auto partial = at::empty({splits * p.n_out},
                           p.x.options().dtype(c10::CppTypeToScalarType<acc_t<T>>::value));
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits));
  const T* x = p.x.const_data_ptr<T>();
  acc_t<T>* part = partial.template data_ptr<acc_t<T>>();
  if (p.red.ndim == 1)
    sum_to_columns_kernel<T, true><<<grid, 32 * kColRows, 0, stream>>>(p.red, p.n_out, p.n_red,
                                                                       chunk, x, part);
  else
    sum_to_columns_kernel<T, false><<<grid, 32 * kColRows, 0, stream>>>(p.red, p.n_out, p.n_red,
                                                                        chunk, x, part);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  sum_to_finish_kernel<T><<<grid_for(p.n_out, kThreads), kThreads, 0, stream>>>(
      p.n_out, splits, 1, p.n_out, partial.template const_data_ptr<acc_t<T>>(), out, scale);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T>
void sum_to_launch_typed(const SumToPlan& p, acc_t<T> scale) {
  auto stream = at::cuda::getCurrentCUDAStream();
  const T* x = p.x.const_data_ptr<T>();
  T* out = p.out.data_ptr<T>();
  if (p.n_red <= 64) {
    sum_to_thread_kernel<T><<<grid_for(p.n_out, kThreads), kThreads, 0, stream>>>(
        p.kept, p.red, p.n_out, p.n_red, x, out, scale);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }
  // At least a warp's width of columns: narrower rows would leave most lanes
  // idle, where the block kernel's threads still cover several rows each.
  if (p.kept.ndim == 1 && p.kept.strides[0][0] == 1 && p.n_out >= 32 &&
      p.n_out <= INT32_MAX * int64_t{32}) {
    launch_sum_to_columns<T>(p, out, scale);
    return;
  }
  // Aim for ~4 blocks per SM in total, each summing at least 8K elements.
  const int64_t want = ceil_div<int64_t>(4 * num_sms(), p.n_out);
  const int splits = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>({want, ceil_div<int64_t>(p.n_red, 8192), 65535})));
  auto partial = at::empty({p.n_out * splits}, p.x.options().dtype(c10::CppTypeToScalarType<acc_t<T>>::value));
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(p.n_out, 1 << 30)), splits);
  sum_to_block_kernel<T><<<grid, kThreads, 0, stream>>>(p.kept, p.red, p.n_out, p.n_red, splits, x,
                                                        partial.template data_ptr<acc_t<T>>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  sum_to_finish_kernel<T><<<grid_for(p.n_out, kThreads), kThreads, 0, stream>>>(
      p.n_out, splits, splits, 1, partial.template const_data_ptr<acc_t<T>>(), out, scale);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The steps' launchers behind the dtype dispatch (add_kernels.h).
template <template <typename> class Launch>
void for_all_dtypes(const AddPlan& p, const c10::Scalar& alpha) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.out.scalar_type(), "cuops.add(cuda)", [&] {
    Launch<scalar_t>::run(p, alpha.to<acc_t<scalar_t>>());
  });
}
template <typename T>
struct GridStride {
  static void run(const AddPlan& p, acc_t<T> alpha) { launch_grid_stride<T>(p, alpha); }
};
template <typename T>
struct Vec16 {
  static void run(const AddPlan& p, acc_t<T> alpha) { launch_vec16<T, 1, true>(p, alpha); }
};
template <typename T>
struct Vec16x4 {
  static void run(const AddPlan& p, acc_t<T> alpha) { launch_vec16<T, 4, false>(p, alpha); }
};
}  // namespace

void add_grid_stride(const AddPlan& p, const c10::Scalar& alpha) {
  for_all_dtypes<GridStride>(p, alpha);
}
void add_vec16(const AddPlan& p, const c10::Scalar& alpha) { for_all_dtypes<Vec16>(p, alpha); }
void add_vec16x4(const AddPlan& p, const c10::Scalar& alpha) {
  for_all_dtypes<Vec16x4>(p, alpha);
}

void sum_to_launch(const SumToPlan& p, const c10::Scalar& scale) {
  CUOPS_DISPATCH_FLOATING_TYPES(p.x.scalar_type(), "cuops.sum_to(cuda)", [&] {
    sum_to_launch_typed<scalar_t>(p, scale.to<acc_t<scalar_t>>());
  });
}

}  // namespace cuops::cuda
