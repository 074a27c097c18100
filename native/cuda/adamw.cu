// AdamW on fp32 master weights, one thread per parameter (the CPU's formula).
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                             float inv_sqrt_bc2, float eps, float decay, __nv_bfloat16* p_bf16) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  // The CPU's operation order (cpu/adamw_avx2.cpp), with each rounding explicit
  // so the compiler cannot contract it differently: the same bits per step.
  const float gi = g[i];
  const float mi = __fmaf_rn(b1, m[i], __fmul_rn(1.0f - b1, gi));
  const float vi = __fmaf_rn(b2, v[i], __fmul_rn(1.0f - b2, __fmul_rn(gi, gi)));
  m[i] = mi;
  v[i] = vi;
  const float den = __fmaf_rn(__fsqrt_rn(vi), inv_sqrt_bc2, eps);
  const float pi = __fmaf_rn(-step, __fdiv_rn(mi, den), __fmul_rn(p[i], decay));
  p[i] = pi;
  if (p_bf16) p_bf16[i] = __float2bfloat16_rn(pi);
}

}  // namespace

void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay, void* p_bf16) {
  if (n <= 0) return;
  adamw_kernel<<<blocks_for(n), kThreads>>>(p, g, m, v, n, b1, b2, step, inv_sqrt_bc2, eps, decay,
                                            static_cast<__nv_bfloat16*>(p_bf16));
  check_launch("adamw");
}

}  // namespace genrm::cuda
