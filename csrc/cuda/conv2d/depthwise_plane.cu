// conv2d ladder step 4d: depthwise_plane. Rows contiguous (x_sw == y_sq ==
// 1: NCHW), any multiplier.
// One block = a TQ-column x BP-row output tile of one (n, k) plane; for
// Q <= 128 the tile spans whole rows and, for a 56x56 plane, the whole plane
// (no halo re-read at all). The block stages the input band (+ halo, zero
// padding) into smem as acc_t with 16-byte loads (rows start 16-byte aligned
// when the pointer and strides allow; the band is staged from the aligned-
// down column and the compute reads at +shift), then each thread computes a
// vertical strip of kStrip outputs at one column: input row i of the strip
// window feeds output row (i - r)/ST with filter row r, so 3x3 s1 reads 10 x 3
// smem values for 8 outputs with the R*S weights in registers. Stores:
// consecutive threads = consecutive q (coalesced rows). 32-bit offsets
// inside the plane, one 64-bit plane base per block.
// Other filter shapes / strides / dilations and non-row-contiguous layouts
// run the depthwise step (its smem tile or pixel kernel).
#include "cuda/conv2d/depthwise.cuh"

namespace cuops::cuda {
namespace {

constexpr int kStrip = 8;             // output rows per thread
constexpr int kPlaneMaxThreads = 512;
constexpr int kPlaneMaxTq = 128;

struct PlaneArgs {
  const void* x;
  const void* w;
  const void* bias;
  void* y;
  int64_t x_sn, x_sc, y_sn, y_sk, w_sk;  // 64-bit plane bases
  int w_sr, w_ss;
  int K, mult, H, W, P, Q, x_sh, y_sp, pad_h, pad_w;
  int tq, bp, tiles_q, tiles, nstrips, in_rows, pitch;
  bool vec;  // rows start 16-byte aligned: vector staging loads
};

// V acc_t values (16 or 32 bytes) to a 16-byte aligned smem address.
template <int V>
__device__ __forceinline__ void store_smem16(float* dst, const float (&v)[V]) {
#pragma unroll
  for (int j = 0; j < V / 4; ++j)
    reinterpret_cast<float4*>(dst)[j] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
}
template <int V>
__device__ __forceinline__ void store_smem16(double* dst, const double (&v)[V]) {
#pragma unroll
  for (int j = 0; j < V / 2; ++j)
    reinterpret_cast<double2*>(dst)[j] = make_double2(v[2 * j], v[2 * j + 1]);
}

template <typename T, int R, int S, int ST>
__global__ void __launch_bounds__(kPlaneMaxThreads) depthwise_plane_kernel(PlaneArgs a) {
  using A = acc_t<T>;
  constexpr int V = 16 / sizeof(T);  // elements per 16-byte global load
  extern __shared__ __align__(16) unsigned char smem_raw[];
  A* xs = reinterpret_cast<A*>(smem_raw);  // [in_rows][pitch]

  const int tile = static_cast<int>(blockIdx.x % static_cast<unsigned>(a.tiles));
  const int64_t nk = blockIdx.x / static_cast<unsigned>(a.tiles);
  const int64_t n = nk / a.K, k = nk % a.K, c = k / a.mult;
  const int p0 = (tile / a.tiles_q) * a.bp, q0 = (tile % a.tiles_q) * a.tq;
  const int ih0 = p0 * ST - a.pad_h, iw0 = q0 * ST - a.pad_w;
  const int shift = ((iw0 % V) + V) % V;  // smem column 0 = input column iw0 - shift
  const int iwa = iw0 - shift;            // a multiple of V: aligned when a.vec
  const T* __restrict__ xc = static_cast<const T*>(a.x) + n * a.x_sn + c * a.x_sc;

  // Stage: one 16-byte group of V input columns per iteration.
  const int vpr = a.pitch / V;
  for (int i = threadIdx.x; i < a.in_rows * vpr; i += blockDim.x) {
    const int row = i / vpr, m = i - row * vpr;
    const int ih = ih0 + row, iw = iwa + m * V;
    A v[V];
    if (ih >= 0 && ih < a.H) {
      const T* src = xc + ih * a.x_sh;
      if (a.vec && iw >= 0 && iw + V <= a.W) {
        Vec<T, V> g;
        *reinterpret_cast<uint4*>(&g) = __ldg(reinterpret_cast<const uint4*>(src + iw));
#pragma unroll
        for (int e = 0; e < V; ++e) v[e] = static_cast<A>(g.v[e]);
      } else {
#pragma unroll
        for (int e = 0; e < V; ++e)
          v[e] = (iw + e >= 0 && iw + e < a.W) ? static_cast<A>(src[iw + e]) : A(0);
      }
    } else {
#pragma unroll
      for (int e = 0; e < V; ++e) v[e] = A(0);
    }
    store_smem16(xs + row * a.pitch + m * V, v);  // V-aligned column: 16-byte stores
  }

  A wr[R][S];
  const T* wk = static_cast<const T*>(a.w) + k * a.w_sk;
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int s = 0; s < S; ++s) wr[r][s] = static_cast<A>(wk[r * a.w_sr + s * a.w_ss]);
  const A b = a.bias != nullptr ? static_cast<A>(static_cast<const T*>(a.bias)[k]) : A(0);
  __syncthreads();

  const int ql = threadIdx.x % a.tq, strip = threadIdx.x / a.tq;
  const int q = q0 + ql;
  if (strip >= a.nstrips || q >= a.Q) return;  // after the only barrier
  const int pl0 = strip * kStrip;
  A acc[kStrip];
#pragma unroll
  for (int o = 0; o < kStrip; ++o) acc[o] = b;
  constexpr int kInRows = (kStrip - 1) * ST + R;
  const A* col = xs + (pl0 * ST) * a.pitch + shift + ql * ST;
#pragma unroll
  for (int i = 0; i < kInRows; ++i) {
    A xv[S];
#pragma unroll
    for (int s = 0; s < S; ++s) xv[s] = col[i * a.pitch + s];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (i - r < 0 || (i - r) % ST != 0 || (i - r) / ST >= kStrip) continue;
      const int o = (i - r) / ST;
#pragma unroll
      for (int s = 0; s < S; ++s) acc[o] += xv[s] * wr[r][s];
    }
  }
  T* yq = static_cast<T*>(a.y) + n * a.y_sn + k * a.y_sk + q;
#pragma unroll
  for (int o = 0; o < kStrip; ++o) {
    const int pp = p0 + pl0 + o;
    if (pp < a.P) yq[pp * a.y_sp] = static_cast<T>(acc[o]);
  }
}

template <typename T>
bool try_plane(const Conv2dProblem& p) {
  using A = acc_t<T>;
  constexpr int64_t V = 16 / sizeof(T);
  const DwShape shape = dw_shape(p, /*vertical=*/true);
  const bool rows = (p.x_sw == 1 || p.W == 1) && (p.y_sq == 1 || p.Q == 1);
  if (shape == DwShape::kGeneral || !rows) return false;
  // fp64 7x7: 49 weights + 8 accumulators of doubles spill; the general step.
  if (shape == DwShape::k7x7s1 && sizeof(T) == 8) return false;
  const int64_t R = p.R, S = p.S, st = p.stride_h;
  // Tile: whole output rows up to kPlaneMaxTq columns; as many kStrip-row
  // strips as kPlaneMaxThreads threads and 48 KB of smem allow.
  const int64_t tq = std::min<int64_t>(p.Q, kPlaneMaxTq);
  const int64_t in_cols = (tq - 1) * st + S;
  const int64_t pitch = ceil_div<int64_t>(in_cols + V - 1, V) * V;  // + the alignment shift
  const int64_t max_strips = ceil_div<int64_t>(p.P, kStrip);
  int64_t nstrips = std::max<int64_t>(1, std::min<int64_t>(kPlaneMaxThreads / tq, max_strips));
  nstrips = ceil_div<int64_t>(max_strips, ceil_div<int64_t>(max_strips, nstrips));  // even bands
  auto smem_of = [&](int64_t ns) {
    return ((ns * kStrip - 1) * st + R) * pitch * static_cast<int64_t>(sizeof(A));
  };
  while (nstrips > 1 && smem_of(nstrips) > kMaxSmem) --nstrips;
  if (smem_of(nstrips) > kMaxSmem) return false;
  const int64_t bp = nstrips * kStrip;
  const int64_t tiles_q = ceil_div<int64_t>(p.Q, tq);
  const int64_t tiles = ceil_div<int64_t>(p.P, bp) * tiles_q;
  if (!index32_ok(p, bp, tq) || p.N * p.K * tiles > INT32_MAX ||
      (p.R - 1) * p.w_sr + (p.S - 1) * p.w_ss > INT32_MAX)
    return false;
  const bool vec = aligned16(p.x) && (p.H == 1 || p.x_sh % V == 0) &&
                   (p.C == 1 || p.x_sc % V == 0) && (p.N == 1 || p.x_sn % V == 0);
  PlaneArgs a{p.x, p.w, p.bias, p.y, p.x_sn, p.x_sc, p.y_sn, p.y_sk, p.w_sk,
              static_cast<int>(p.w_sr), static_cast<int>(p.w_ss), static_cast<int>(p.K),
              static_cast<int>(p.K / p.C), static_cast<int>(p.H), static_cast<int>(p.W),
              static_cast<int>(p.P), static_cast<int>(p.Q), static_cast<int>(p.x_sh),
              static_cast<int>(p.y_sp), static_cast<int>(p.pad_h), static_cast<int>(p.pad_w),
              static_cast<int>(tq), static_cast<int>(bp), static_cast<int>(tiles_q),
              static_cast<int>(tiles), static_cast<int>(nstrips),
              static_cast<int>((bp - 1) * st + R), static_cast<int>(pitch), vec};
  const int threads = static_cast<int>(ceil_div<int64_t>(tq * nstrips, 32) * 32);
  const auto smem = static_cast<size_t>(smem_of(nstrips));
  const auto grid = static_cast<unsigned>(p.N * p.K * tiles);
  auto stream = at::cuda::getCurrentCUDAStream();
  switch (shape) {
    case DwShape::k3x3s1:
      depthwise_plane_kernel<T, 3, 3, 1><<<grid, threads, smem, stream>>>(a);
      break;
    case DwShape::k3x3s2:
      depthwise_plane_kernel<T, 3, 3, 2><<<grid, threads, smem, stream>>>(a);
      break;
    case DwShape::k5x5s1:
      depthwise_plane_kernel<T, 5, 5, 1><<<grid, threads, smem, stream>>>(a);
      break;
    case DwShape::k7x7s1:
      if constexpr (sizeof(T) < 8) {
        depthwise_plane_kernel<T, 7, 7, 1><<<grid, threads, smem, stream>>>(a);
      }
      break;
    default:
      break;
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
}

}  // namespace

void conv2d_depthwise_plane(const Conv2dProblem& p) {
  if (!is_depthwise(p)) {
    conv2d_implicit_gemm(p);
    return;
  }
  if (p.N * p.K * p.P * p.Q == 0) return;
  bool done = false;
  CUOPS_DISPATCH_FLOATING_TYPES(p.dtype, "cuops.conv2d(depthwise_plane)",
                                [&] { done = try_plane<scalar_t>(p); });
  if (!done) conv2d_depthwise(p);  // other shapes/layouts: smem tile or pixel kernel
}

}  // namespace cuops::cuda
