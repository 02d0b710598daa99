// PTX wrappers for the tensor-core kernels (sm_80+): cp.async, ldmatrix,
// mma.sync m16n8k16 (fp16/bf16) and m16n8k8 (tf32). One copy, shared by
// matmul's mma_sync and mma_3xtf32 steps and conv2d's implicit GEMM / wgrad.
//
// Fragment layouts of mma.m16n8k16.row.col (g = lane / 4, t = lane % 4):
//   A (16x16, 4 regs of 2 elements): a0 = A[g][2t..2t+1]   a1 = A[g+8][2t..2t+1]
//                                    a2 = A[g][2t+8..+9]   a3 = A[g+8][2t+8..+9]
//   B (16x8,  2 regs):               b0 = B[2t..2t+1][g]   b1 = B[2t+8..+9][g]
//   C (16x8,  4 fp32):               c0,c1 = C[g][2t..2t+1]  c2,c3 = C[g+8][2t..2t+1]
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace cuops::cuda::ptx {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte async copy global -> shared (.cg: bypasses L1 and the register
// file). Only `src_bytes` (0..16) are read; the rest of the 16 bytes is
// zero-filled: that is how tails and padding pixels become zeros (which add
// nothing to the dot products) without a branch around the copy.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  cp_async_16(dst, src, valid ? 16 : 0);
}
// 4-byte async copy (.ca: the 4-byte form must go through L1), zero-filled
// when src_bytes is 0: the gathers of single elements (im2col of NCHW x).
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Wait until at most N of this thread's committed groups are still pending.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Wait until every cp.async this thread issued has completed (committed or not).
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;\n" ::: "memory");
}

__device__ __forceinline__ void st_shared_v4(uint32_t addr, uint32_t a, uint32_t b, uint32_t c,
                                             uint32_t d) {
  asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(a), "r"(b), "r"(c),
               "r"(d));
}

__device__ __forceinline__ void st_shared_b32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ uint4 ld_shared_v4(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(addr)
               : "memory");
  return v;
}

// Four 8x8 16-bit matrices. Lane i gives the address of row (i % 8) of matrix
// (i / 8); afterwards register j of lane l holds matrix j's row l/4, columns
// 2*(l%4) and 2*(l%4)+1 (with .trans: column l/4, rows 2*(l%4), 2*(l%4)+1) --
// exactly an mma.sync fragment. volatile: the same smem address is re-read
// every k tile with new contents.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// D (16x8 fp32) += A (16x16, row) * B (16x8, col); T is __half or __nv_bfloat16.
// Not volatile: a pure function of its operands, so the compiler may schedule
// it freely among the fragment loads.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2]) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>);
  if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// The same mma as volatile asm: kept in program order relative to the other
// volatile asm (ldmatrix, cp.async), for schedules written out by hand.
template <typename T>
__device__ __forceinline__ void mma_16816_ordered(float (&d)[4], const uint32_t (&a)[4],
                                                  const uint32_t (&b)[2]) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>);
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// ---------------------------------------------------------------------------
// tf32 tensor cores (sm_80+), for fp32 operands split into two tf32 parts.
// Fragment layouts of mma.m16n8k8.row.col.tf32 (g = lane / 4, t = lane % 4),
// one 32-bit element per register:
//   A (16x8, 4 regs): a0 = A[g][t]  a1 = A[g+8][t]  a2 = A[g][t+4]  a3 = A[g+8][t+4]
//   B (8x8,  2 regs): b0 = B[t][g]  b1 = B[t+4][g]
//   C (16x8, 4 fp32): as m16n8k16 above.
// ---------------------------------------------------------------------------

// x rounded to tf32 (10 mantissa bits), to nearest with ties away from zero;
// the result is an fp32 bit pattern whose low 13 bits are zero.
__device__ __forceinline__ uint32_t cvt_rna_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

// x = big + small + O(2^-22 |x|): big = tf32(x), small = tf32(x - big) (the
// difference is exact in fp32). A non-finite big gets small = 0 rather than
// inf - inf = NaN (still, inf * a zero small of the other operand is NaN).
__device__ __forceinline__ void split_tf32(float x, uint32_t& big, uint32_t& small) {
  big = cvt_rna_tf32(x);
  const float b = __uint_as_float(big);
  small = cvt_rna_tf32(fabsf(b) < INFINITY ? x - b : 0.f);
}

// D (16x8 fp32) += A (16x8 tf32, row) * B (8x8 tf32, col).
__device__ __forceinline__ void mma_1688_tf32(float (&d)[4], const uint32_t (&a)[4],
                                              const uint32_t (&b)[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// ---------------------------------------------------------------------------
// sm_90: the bulk tensor copy engine (TMA) completing on an mbarrier. Compiled
// to a trap for older targets, where the kernels do not call them (see kTma
// in mma_sync.cu: code built for < sm_90 keeps the cp.async path).
// ---------------------------------------------------------------------------
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define CUOPS_SM90_PTX(...) __VA_ARGS__
#else
#define CUOPS_SM90_PTX(...) __trap()
#endif

__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  CUOPS_SM90_PTX(asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count)
                              : "memory"));
}
// Makes the initialized barriers visible to the copy engine (then a __syncthreads).
__device__ __forceinline__ void mbar_init_fence() {
  CUOPS_SM90_PTX(asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"));
}
// One arrival that also announces `bytes` of copies to complete this phase.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  CUOPS_SM90_PTX(asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
                              "r"(bytes)
                              : "memory"));
}
// Whether the barrier's phase with this parity has completed (the hardware
// may suspend the thread a while before answering no).
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  CUOPS_SM90_PTX(asm volatile(
      "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      " selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory"));
  return done != 0;
}
// Waits until the barrier's phase with this parity has completed.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}
// 2-D tile copy global -> shared: box origin (c0 innermost, c1) in elements;
// parts of the box outside the tensor are zero-filled. `map` points to a
// CUtensorMap in param/const/global space (a __grid_constant__ kernel argument).
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void* map, uint32_t bar, int c0,
                                            int c1) {
  CUOPS_SM90_PTX(asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4}], [%2];\n" ::"r"(dst),
      "l"(map), "r"(bar), "r"(c0), "r"(c1)
      : "memory"));
}

}  // namespace cuops::cuda::ptx
