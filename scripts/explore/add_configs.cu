// Standalone exploration of launch configurations for the flat add kernel
// (no torch: compiles in seconds). Used to choose cuops.add's vec16x4 step;
// results in docs/add-worklog.md. Build & run on the GPU machine:
//   nvcc -O3 -arch=sm_90 add_configs.cu -o /tmp/add_configs && /tmp/add_configs
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s\n", cudaGetErrorString(e)); return 1; } } while (0)

struct alignas(16) F4 { float x, y, z, w; };

template <int UNROLL, bool STREAM>
__global__ void add_vec(long long nvec, F4* __restrict__ out, const F4* __restrict__ a,
                        const F4* __restrict__ b, float alpha) {
  const long long chunk = (long long)blockDim.x * UNROLL;
  for (long long base = blockIdx.x * chunk + threadIdx.x; base < nvec; base += gridDim.x * chunk) {
    F4 ra[UNROLL], rb[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      long long i = base + u * blockDim.x;
      if (i < nvec) {
        if (STREAM) { float4 ta = __ldcs((const float4*)&a[i]), tb = __ldcs((const float4*)&b[i]); ra[u] = F4{ta.x, ta.y, ta.z, ta.w}; rb[u] = F4{tb.x, tb.y, tb.z, tb.w}; }
        else { ra[u] = a[i]; rb[u] = b[i]; }
      }
    }
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      long long i = base + u * blockDim.x;
      if (i < nvec) {
        F4 r{ra[u].x + alpha * rb[u].x, ra[u].y + alpha * rb[u].y, ra[u].z + alpha * rb[u].z,
             ra[u].w + alpha * rb[u].w};
        if (STREAM) __stcs((float4*)&out[i], make_float4(r.x, r.y, r.z, r.w)); else out[i] = r;
      }
    }
  }
}

__global__ void flush(int* p, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) p[i] = 1;
}

template <int U, bool S>
float time_cfg(long long n, int threads, int grid, F4* o, F4* a, F4* b, int* fl, long long fln) {
  cudaEvent_t s, e; cudaEventCreate(&s); cudaEventCreate(&e);
  std::vector<float> t;
  for (int r = 0; r < 25; ++r) {
    flush<<<1024, 256>>>(fl, fln);
    cudaEventRecord(s);
    add_vec<U, S><<<grid, threads>>>(n / 4, o, a, b, 0.5f);
    cudaEventRecord(e); cudaEventSynchronize(e);
    float ms; cudaEventElapsedTime(&ms, s, e); if (r >= 5) t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main() {
  int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  long long fln = 64ll << 20;  // 256 MB flush
  int* fl; CK(cudaMalloc(&fl, fln * 4));
  for (long long n : {1ll << 20, 1ll << 24, 1ll << 28}) {
    F4 *a, *b, *o;
    CK(cudaMalloc(&a, n * 4)); CK(cudaMalloc(&b, n * 4)); CK(cudaMalloc(&o, n * 4));
    cudaMemset(a, 0x3f, n * 4); cudaMemset(b, 0x3e, n * 4);
    // copy ceiling: D2D memcpy of n floats (read + write bytes)
    cudaEvent_t s, e; cudaEventCreate(&s); cudaEventCreate(&e);
    std::vector<float> t;
    for (int r = 0; r < 15; ++r) { flush<<<1024,256>>>(fl, fln); cudaEventRecord(s); cudaMemcpyAsync(o, a, n * 4, cudaMemcpyDeviceToDevice); cudaEventRecord(e); cudaEventSynchronize(e); float ms; cudaEventElapsedTime(&ms, s, e); t.push_back(ms); }
    std::sort(t.begin(), t.end());
    printf("n=%lldM memcpy: %.1f GB/s\n", n >> 20, 2.0 * n * 4 / (t[7] * 1e6));
    const double bytes = 3.0 * n * 4;
    auto rep = [&](const char* name, float ms) { printf("n=%lldM %-34s %.4f ms %7.1f GB/s\n", n >> 20, name, ms, bytes / (ms * 1e6)); };
    long long nvec = n / 4;
    for (int th : {128, 256, 512}) {
      char buf[64];
      int g1 = (int)std::min<long long>((nvec + th - 1) / th, (long long)sms * 16);
      snprintf(buf, 64, "U1 th%d capped16", th); rep(buf, time_cfg<1, false>(n, th, g1, o, a, b, fl, fln));
      int g4 = (int)((nvec + th * 4 - 1) / (th * 4));
      snprintf(buf, 64, "U4 th%d full", th); rep(buf, time_cfg<4, false>(n, th, g4, o, a, b, fl, fln));
      snprintf(buf, 64, "U4 th%d full stream", th); rep(buf, time_cfg<4, true>(n, th, g4, o, a, b, fl, fln));
      int g2 = (int)((nvec + th * 2 - 1) / (th * 2));
      snprintf(buf, 64, "U2 th%d full", th); rep(buf, time_cfg<2, false>(n, th, g2, o, a, b, fl, fln));
      int g8 = (int)((nvec + th * 8 - 1) / (th * 8));
      snprintf(buf, 64, "U8 th%d full", th); rep(buf, time_cfg<8, false>(n, th, g8, o, a, b, fl, fln));
      int gc = (int)std::min<long long>(g4, (long long)sms * 8);
      snprintf(buf, 64, "U4 th%d capped8 loop", th); rep(buf, time_cfg<4, false>(n, th, gc, o, a, b, fl, fln));
    }
    cudaFree(a); cudaFree(b); cudaFree(o);
  }
  CK(cudaGetLastError());
  return 0;
}
