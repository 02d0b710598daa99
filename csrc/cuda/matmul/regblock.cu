// Step 3 of the matmul ladder: 2-D register blocking, 16-byte loads.
//
// Each thread computes an 8 x 8 block of C (4 x 4 in fp64) from registers:
// per K step it reads 8 values of A and 8 of B from shared memory and does
// 64 FMAs, 4x fewer shared loads per FMA than step 2's 2:1 (and 8x fewer than
// the naive kernel's global loads per FMA). The 128 x 128 block tile (BK = 8)
// reads each global element once per 128 outputs. Global loads are 16-byte
// vectors when the layout allows (tiled.cuh); A is stored transposed in shared
// memory so the compute loop reads runs of m.
//
// The layout is the plain one: threads cover the block tile row by row, and
// the shared tiles are single-buffered (load, barrier, compute, barrier).
// Step 4 reorganizes the same work by warps and overlaps loads and compute.
#include "cuda/matmul/tiled.cuh"

namespace cuops::cuda {
namespace {

//                                BM   BN  BK  WM  WN WMITER WNITER TM TN  DB  MINB
using RegBlock32 = mm::TileConfig<128, 128, 8, 16, 128, 1, 1, 8, 8, false, 1>;
// 2-byte types: a 16-byte vector holds 8 elements, so the K slice is 16 wide
// (every thread then moves whole vectors).
using RegBlock16 = mm::TileConfig<128, 128, 16, 16, 128, 1, 1, 8, 8, false, 1>;
// fp64: 4 x 4 per thread keeps the 64-bit accumulators within the register file.
using RegBlock64 = mm::TileConfig<64, 64, 8, 8, 64, 1, 1, 4, 4, false, 1>;

}  // namespace

void gemm_regblock(const GemmProblem& p) {
  switch (p.dtype) {
    case at::kFloat: return mm::launch_tiled<float, RegBlock32>(p);
    case at::kHalf: return mm::launch_tiled<at::Half, RegBlock16>(p);
    case at::kBFloat16: return mm::launch_tiled<at::BFloat16, RegBlock16>(p);
    case at::kDouble: return mm::launch_tiled<double, RegBlock64>(p);
    default: TORCH_CHECK_TYPE(false, "cuops.matmul(regblock): unsupported dtype ", p.dtype);
  }
}

}  // namespace cuops::cuda
