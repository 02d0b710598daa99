// An operand copy that unlocks the channels_last loaders: the wgmma steps'
// gathers read 128-byte rows of channels, which an NCHW x (or dy) does not
// have. [N][C][H][W] at any strides -> a dense channels_last tensor.
//
// One block transposes a tile of 32 channels x 32 pixels of one image through
// shared memory: the reads walk pixels (one 128-byte row of an NCHW plane per
// warp), the writes walk channels (one 128-byte run of a channels_last pixel
// per warp), so both sides are coalesced. The copy moves bytes only, so the
// kernel is instantiated per element size, not per dtype.
#include "cuda/conv2d/channels_last_copy.h"
#include "cuda/conv2d/common.cuh"

namespace cuops::cuda::conv {
namespace {

constexpr int kTile = 32;  // channels and pixels per block tile
constexpr int kRows = 8;   // threadIdx.y: a thread moves kTile / kRows elements

struct Nchw {
  int64_t N, C;
  int HW, W;  // pixels of a plane and of a row
  int64_t sn, sc, sh, sw;
};

// E: an unsigned integer of the element's size. (The explicit 1 block per SM
// keeps ptxas from capping the 8-byte kernel at 32 registers, where it spilled.)
template <typename E>
__global__ void __launch_bounds__(kTile * kRows, 1)
    to_channels_last_kernel(const E* __restrict__ src, E* __restrict__ dst, Nchw g) {
  __shared__ E tile[kTile][kTile + 1];  // +1: the transposed reads hit 32 banks
  const int tx = threadIdx.x, ty = threadIdx.y;
  // A plane's pixels fit 32 bits (the host checks): no 64-bit division.
  const int pix0 = static_cast<int>(blockIdx.x) * kTile, pix = pix0 + tx;
  const int h = pix / g.W, w = pix - h * g.W;  // the pixel this thread reads
  const int64_t read_at = h * g.sh + w * g.sw;
  for (int64_t n = blockIdx.z; n < g.N; n += gridDim.z) {
    for (int64_t c0 = static_cast<int64_t>(blockIdx.y) * kTile; c0 < g.C;
         c0 += static_cast<int64_t>(gridDim.y) * kTile) {
      CUOPS_UNROLL
      for (int i = ty; i < kTile; i += kRows) {
        const int64_t c = c0 + i;
        if (c < g.C && pix < g.HW) tile[i][tx] = src[n * g.sn + c * g.sc + read_at];
      }
      __syncthreads();
      CUOPS_UNROLL
      for (int i = ty; i < kTile; i += kRows) {
        const int64_t c = c0 + tx;
        const int p = pix0 + i;
        if (c < g.C && p < g.HW) dst[(n * g.HW + p) * g.C + c] = tile[tx][i];
      }
      __syncthreads();  // the tile is refilled by the next (n, c0)
    }
  }
}

template <typename E>
void launch(const void* src, void* dst, const Nchw& g) {
  constexpr int64_t kMaxGrid = 65535;  // grid y and z; the loops take the rest
  const dim3 grid(static_cast<unsigned>(ceil_div(g.HW, kTile)),
                  static_cast<unsigned>(std::min(ceil_div<int64_t>(g.C, kTile), kMaxGrid)),
                  static_cast<unsigned>(std::min(g.N, kMaxGrid)));
  to_channels_last_kernel<E><<<grid, dim3(kTile, kRows), 0, at::cuda::getCurrentCUDAStream()>>>(
      static_cast<const E*>(src), static_cast<E*>(dst), g);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

at::Tensor channels_last_copy(const void* src, at::IntArrayRef sizes, at::IntArrayRef strides,
                              at::ScalarType dtype) {
  TORCH_INTERNAL_ASSERT(sizes.size() == 4 && strides.size() == 4);
  const auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA,
                                                            c10::cuda::current_device());
  const int64_t hw = sizes[2] * sizes[3];
  if (hw > INT_MAX - kTile) {  // planes beyond 32-bit pixel indices: ATen's strided copy
    return at::from_blob(const_cast<void*>(src), sizes, strides, opts)
        .contiguous(at::MemoryFormat::ChannelsLast);
  }
  at::Tensor out = at::empty(sizes, opts, at::MemoryFormat::ChannelsLast);
  if (out.numel() == 0) return out;
  const Nchw g{sizes[0],   sizes[1],   static_cast<int>(hw), static_cast<int>(sizes[3]),
               strides[0], strides[1], strides[2],           strides[3]};
  switch (c10::elementSize(dtype)) {
    case 2: launch<uint16_t>(src, out.data_ptr(), g); break;
    case 4: launch<uint32_t>(src, out.data_ptr(), g); break;
    case 8: launch<uint64_t>(src, out.data_ptr(), g); break;
    default: TORCH_INTERNAL_ASSERT(false, "channels_last_copy: element size");
  }
  return out;
}

}  // namespace cuops::cuda::conv
