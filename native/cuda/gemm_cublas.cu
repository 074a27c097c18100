// cuda::gemm on cuBLAS (compiled only when the build found it: GENRM_CUBLAS).
//
// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a
// row-major buffer read as column-major is its transpose; so cuBLAS is called
// with the operands swapped (B first), m and n swapped, and each op kept
// (trans_b -> CUBLAS_OP_T on the first operand). Types:
//  - A, B bf16: CUDA_R_16BF, CUBLAS_COMPUTE_32F (fp32 accumulation), C fp32 or bf16.
//  - A, B fp32, C fp32: CUDA_R_32F with CUBLAS_COMPUTE_32F_FAST_16BF (tensor
//    cores on bf16-rounded inputs, fp32 accumulation: the Own path's numerics).
//  - Anything else (one operand fp32, or both fp32 with C bf16, which
//    FAST_16BF does not take): each fp32 operand is rounded to bf16 (nearest
//    even, like the Own path) into Scratch::Gemm, then the bf16 call. The extra
//    pass reads 4 and writes 2 bytes per element, small beside an O(mnk)
//    product, and keeps cuBLAS's speed; routing mixed calls to Own instead would
//    make speed depend on a dtype detail.
// Dimensions or strides past INT_MAX go to the Own kernel (cublasGemmEx takes int).
// With a bf16 C and beta != 0, cuBLAS rounds alpha * acc to bf16 before it adds
// beta * C (measured on the H200): one more bf16 rounding than the Own kernel,
// the same as adding two bf16 tensors, as a bf16 autograd accumulates.
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <climits>
#include <string>

#include "../core/error.h"
#include "check.h"
#include "gemm_impl.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

void check_cublas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw Error(ErrorKind::Runtime,
              std::string(what) + ": " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
}

// One handle for the process, made on first use, on the default stream (every
// kernel of the backend runs there, so no synchronization is needed). Never
// destroyed: destroying it from a static destructor may run after the CUDA
// runtime has shut down. Reductions stay in fp32: by default cuBLAS may add
// split-K partial sums in the output type, and with a bf16 C that rounds every
// partial sum to 8 bits (on the H200, 65x300x40 bf16->bf16 came out 0.029 off
// a value of 0.025; the engine promises fp32 accumulation).
cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t made = nullptr;
    check_cublas(cublasCreate(&made), "cublasCreate");
    check_cublas(cublasSetStream(made, nullptr), "cublasSetStream");
    check_cublas(cublasSetMathMode(made, CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION), "cublasSetMathMode");
    return made;
  }();
  return h;
}

// dst[r * cols + c] = bf16(src[r * ld + c]), rounded to nearest even.
__global__ void to_bf16_kernel(const float* src, int64_t ld, int64_t rows, int64_t cols, __nv_bfloat16* dst) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  dst[i] = __float2bfloat16_rn(src[(i / cols) * ld + i % cols]);
}

bool fits_int(int64_t v) { return v <= INT_MAX; }

bool fits(const GemmArgs& g) {
  return fits_int(g.m) && fits_int(g.n) && fits_int(g.k) && fits_int(g.lda) && fits_int(g.ldb) && fits_int(g.ldc);
}

// A mixed product's bf16 copies of its fp32 operands: stored shapes (rows x
// cols, row-major), packed (ld = cols), B's at a 256-byte aligned offset for
// cuBLAS's vector loads; all zero when nothing is copied.
struct Copies {
  int64_t a_rows = 0, a_cols = 0, b_rows = 0, b_cols = 0, a_elems = 0, b_elems = 0, b_offset = 0;
  size_t bytes() const { return sizeof(__nv_bfloat16) * static_cast<size_t>(b_offset + b_elems); }
};

Copies copies_of(const GemmArgs& g) {
  Copies c;
  const bool a_f32 = g.a_type == DType::F32, b_f32 = g.b_type == DType::F32;
  if (!(a_f32 || b_f32) || (a_f32 && b_f32 && g.c_type == DType::F32)) return c;  // no copies: bf16, or FAST_16BF
  c.a_rows = g.trans_a ? g.k : g.m, c.a_cols = g.trans_a ? g.m : g.k;
  c.b_rows = g.trans_b ? g.n : g.k, c.b_cols = g.trans_b ? g.k : g.n;
  c.a_elems = a_f32 ? c.a_rows * c.a_cols : 0, c.b_elems = b_f32 ? c.b_rows * c.b_cols : 0;
  c.b_offset = (c.a_elems + 127) / 128 * 128;
  return c;
}

__nv_bfloat16* copies_scratch(const Copies& c) {
  return static_cast<__nv_bfloat16*>(
      device_scratch(Scratch::Gemm, c.bytes(), "gemm (cuBLAS) bf16 copies of fp32 operands"));
}

}  // namespace

namespace detail {

void gemm_cublas_reserve(const GemmArgs& g) {
  const Copies c = copies_of(g);
  if (fits(g) && c.bytes() > 0) copies_scratch(c);
}

void gemm_cublas(const GemmArgs& g) {
  if (!fits(g)) {
    gemm_mma(g);
    return;
  }
  const cudaDataType c_type = g.c_type == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  const void* a = g.a;
  const void* b = g.b;
  int64_t lda = g.lda, ldb = g.ldb;
  cudaDataType ab_type = CUDA_R_16BF;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  const bool a_f32 = g.a_type == DType::F32, b_f32 = g.b_type == DType::F32;
  if (a_f32 && b_f32 && g.c_type == DType::F32) {
    ab_type = CUDA_R_32F;
    compute = CUBLAS_COMPUTE_32F_FAST_16BF;
  } else if (a_f32 || b_f32) {
    const Copies c = copies_of(g);
    __nv_bfloat16* scratch = copies_scratch(c);
    if (a_f32) {
      to_bf16_kernel<<<blocks_for(c.a_elems), kThreads>>>(static_cast<const float*>(g.a), g.lda, c.a_rows, c.a_cols,
                                                          scratch);
      check_launch("gemm (cuBLAS): A to bf16");
      a = scratch;
      lda = c.a_cols;
    }
    if (b_f32) {
      to_bf16_kernel<<<blocks_for(c.b_elems), kThreads>>>(static_cast<const float*>(g.b), g.ldb, c.b_rows, c.b_cols,
                                                          scratch + c.b_offset);
      check_launch("gemm (cuBLAS): B to bf16");
      b = scratch + c.b_offset;
      ldb = c.b_cols;
    }
  }
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const float alpha = g.alpha, beta = g.beta;
  check_cublas(cublasGemmEx(handle(), op_b, op_a, static_cast<int>(g.n), static_cast<int>(g.m), static_cast<int>(g.k),
                            &alpha, b, ab_type, static_cast<int>(ldb), a, ab_type, static_cast<int>(lda), &beta, g.c,
                            c_type, static_cast<int>(g.ldc), compute, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

}  // namespace detail
}  // namespace genrm::cuda
