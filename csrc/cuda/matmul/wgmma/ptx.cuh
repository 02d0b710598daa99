// PTX wrappers of the Hopper-only (sm_90a) instructions of the wgmma GEMM:
// warpgroup MMA (wgmma.*), register reallocation (setmaxnreg), the plain
// mbarrier arrival, and the shared-memory matrix descriptor. The TMA copies and
// the other mbarrier operations are the sm_90 ones of csrc/cuda/mma_ptx.cuh.
//
// Every wrapper compiles to nothing outside an sm_90a build
// (__CUDA_ARCH_FEAT_SM90_ALL: nvcc -gencode=arch=compute_90a,code=sm_90a),
// where the kernel body that calls them is compiled out too (wgmma.cu).
//
// References (PTX ISA 8.x, section 9.7.15 "Asynchronous Warpgroup Level
// Matrix Multiply-Accumulate Instructions"):
//   9.7.15.5.1 "Register Fragments and Shared Memory Matrix Layouts":
//     accumulator D of m64nNk16 (fp32): thread t of the warpgroup, warp
//     w = t / 32, lane l, register i in [0, N/2) holds
//       row = 16 w + l / 4 + 8 * ((i / 2) % 2),  col = 8 (i / 4) + 2 (l % 4) + i % 2
//     (the mma.sync m16n8 C pattern, repeated every 8 columns).
//   9.7.15.5.1.2 "Shared Memory Matrix Layout" + "Matrix Descriptor Format":
//     descriptor bits 0-13 start address >> 4, 16-29 leading dimension byte
//     offset (LBO) >> 4, 32-45 stride dimension byte offset (SBO) >> 4,
//     49-51 base offset (0: every swizzle atom is 1024-byte aligned here),
//     62-63 swizzle mode (1 = 128-byte swizzle).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "cuda/mma_ptx.cuh"

namespace cuops::cuda::ptx {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define CUOPS_SM90A_PTX(...) __VA_ARGS__
#else
#define CUOPS_SM90A_PTX(...)
#endif

// One arrival on an mbarrier (release semantics at CTA scope, the default).
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  CUOPS_SM90_PTX(asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory"));
}

// Makes the mbarrier track this thread's earlier cp.async copies: when they
// have landed, one arrival (.noinc: it counts towards the barrier's expected
// arrivals, so the init count includes one per signalling thread).
__device__ __forceinline__ void cp_async_mbar_arrive_noinc(uint32_t bar) {
  CUOPS_SM90_PTX(asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar)
                              : "memory"));
}

// Orders generic-proxy shared-memory writes this thread has observed (the
// cp.async gathers, seen through an mbarrier wait) before its later
// async-proxy reads (wgmma operands).
__device__ __forceinline__ void fence_proxy_async_smem() {
  CUOPS_SM90_PTX(asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"));
}

// Waits until the mbarrier's phase with this parity has completed, like
// mbar_wait, but traps after ~10 s: a pipeline that can never complete (a
// wrong arrival count or parity) then fails the launch instead of hanging.
__device__ __forceinline__ void mbar_wait_bounded(uint32_t bar, uint32_t parity) {
  uint64_t t0 = 0;
  while (!mbar_try_wait(bar, parity)) {
    uint64_t now = 0;
    CUOPS_SM90_PTX(asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now)));
    if (t0 == 0)
      t0 = now;
    else if (now - t0 > 10'000'000'000ull)
      __trap();
  }
}

// Registers per thread of the executing warpgroup (all its warps execute it):
// dec gives registers back to the block's pool, inc waits until it can take
// them. Needs a register cap at kernel entry (__launch_bounds__(threads, 1)).
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
  static_assert(kRegs % 8 == 0 && kRegs >= 24 && kRegs <= 256, "setmaxnreg range");
  CUOPS_SM90A_PTX(asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs)));
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
  static_assert(kRegs % 8 == 0 && kRegs >= 24 && kRegs <= 256, "setmaxnreg range");
  CUOPS_SM90A_PTX(asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs)));
}

// wgmma.fence: orders this warpgroup's earlier register (accumulator) and
// shared-memory accesses before the wgmma.mma_async that follow.
__device__ __forceinline__ void wgmma_fence() {
  CUOPS_SM90A_PTX(asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"));
}
// Closes the batch of wgmma.mma_async issued since the last commit.
__device__ __forceinline__ void wgmma_commit() {
  CUOPS_SM90A_PTX(asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"));
}
// Waits until at most N committed batches are pending: their accumulators
// are then written and their shared-memory operands no longer read.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  CUOPS_SM90A_PTX(asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"));
}

// Pins accumulator registers in program order around the asynchronous
// window: the compiler may not move their reads or writes across this point
// (it cannot see that wgmma writes them after the asm statement returns).
template <int N>
__device__ __forceinline__ void fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// Shared-memory matrix descriptor with the 128-byte swizzle (see the header
// comment for the bit fields). `addr`: shared-space byte address of the
// operand's first element (the swizzle is applied by the hardware to the
// final address bits, so a k16 step inside a 128-byte row may move `addr`
// by 32 bytes); `lbo`, `sbo`: byte offsets whose meaning depends on the
// operand's major-ness (wgmma/pipeline.cuh: operand_desc).
__device__ __forceinline__ uint64_t smem_desc_sw128(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) |
         static_cast<uint64_t>((lbo >> 4) & 0x3FFFu) << 16 |
         static_cast<uint64_t>((sbo >> 4) & 0x3FFFu) << 32 | uint64_t{1} << 62;
}

// D (64 x N fp32, registers of the warpgroup) (+)= A (64 x 16, smem) * B
// (16 x N, smem). scale_d == 0: D = A*B (the first k step of a tile: no
// zeroing of D). TRANS_A / TRANS_B: 0 = K-major operand, 1 = M-/N-major
// (16-bit types only). imm-scale-a/b = 1.
#define CUOPS_ACC8(i)                                                                       \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define CUOPS_WGMMA_N64(TY)                                                              \
  asm volatile(                                                                          \
      "{\n .reg .pred p;\n setp.ne.b32 p, %34, 0;\n"                                     \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {"                       \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"   \
      "}, %32, %33, p, 1, 1, %35, %36;\n}\n"                                             \
      : CUOPS_ACC8(0), CUOPS_ACC8(8), CUOPS_ACC8(16), CUOPS_ACC8(24)                     \
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(TRANS_A), "n"(TRANS_B));
#define CUOPS_WGMMA_N128(TY)                                                             \
  asm volatile(                                                                          \
      "{\n .reg .pred p;\n setp.ne.b32 p, %66, 0;\n"                                     \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {"                      \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"   \
      "}, %64, %65, p, 1, 1, %67, %68;\n}\n"                                             \
      : CUOPS_ACC8(0), CUOPS_ACC8(8), CUOPS_ACC8(16), CUOPS_ACC8(24),                    \
        CUOPS_ACC8(32), CUOPS_ACC8(40), CUOPS_ACC8(48), CUOPS_ACC8(56)                   \
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(TRANS_A), "n"(TRANS_B));
#define CUOPS_WGMMA_N256(TY)                                                                           \
  asm volatile(                                                                                        \
      "{\n .reg .pred p;\n setp.ne.b32 p, %130, 0;\n"                                                  \
      "wgmma.mma_async.sync.aligned.m64n256k16.f32." TY "." TY " {"                                    \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                         \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "               \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "               \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "               \
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "               \
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "               \
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "   \
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127" \
      "}, %128, %129, p, 1, 1, %131, %132;\n}\n"                                                       \
      : CUOPS_ACC8(0), CUOPS_ACC8(8), CUOPS_ACC8(16), CUOPS_ACC8(24),                                  \
        CUOPS_ACC8(32), CUOPS_ACC8(40), CUOPS_ACC8(48), CUOPS_ACC8(56),                                \
        CUOPS_ACC8(64), CUOPS_ACC8(72), CUOPS_ACC8(80), CUOPS_ACC8(88),                                \
        CUOPS_ACC8(96), CUOPS_ACC8(104), CUOPS_ACC8(112), CUOPS_ACC8(120)                              \
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(TRANS_A), "n"(TRANS_B));

template <typename T, int N, int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_m64k16(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b,
                                             uint32_t scale_d) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>);
  static_assert(N == 64 || N == 128 || N == 256, "wgmma wrappers exist for N = 64, 128, 256");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  if constexpr (N == 64) {
    if constexpr (std::is_same_v<T, __half>) {
      CUOPS_WGMMA_N64("f16");
    } else {
      CUOPS_WGMMA_N64("bf16");
    }
  } else if constexpr (N == 128) {
    if constexpr (std::is_same_v<T, __half>) {
      CUOPS_WGMMA_N128("f16");
    } else {
      CUOPS_WGMMA_N128("bf16");
    }
  } else {
    if constexpr (std::is_same_v<T, __half>) {
      CUOPS_WGMMA_N256("f16");
    } else {
      CUOPS_WGMMA_N256("bf16");
    }
  }
#endif
}

#undef CUOPS_WGMMA_N64
#undef CUOPS_WGMMA_N128
#undef CUOPS_WGMMA_N256
#undef CUOPS_ACC8

}  // namespace cuops::cuda::ptx
