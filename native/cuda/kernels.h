// The CUDA twins of the CPU engine's per-element and per-row kernels
// (native/cpu/{rmsnorm,swiglu,rope,embedding,adamw}): the same arguments and
// semantics, with every pointer in device memory. Each runs on the default
// stream and checks its launch (genrm::Error names the kernel). Gradients that
// sum over rows or tokens do so in a fixed order, so results are reproducible.
#pragma once
#include <cstdint>

namespace genrm::cuda {

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps);
// Accumulates dx (+=) and dw (+=).
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t dim);

void swiglu_forward(const float* g, const float* u, float* a, int64_t n);
void swiglu_backward(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n);

void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse);

void embedding_forward(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim);
// dtable[tokens[t]] += dout[t], each column walking the tokens in order.
void embedding_backward(const int32_t* tokens, const float* dout, float* dtable, int64_t n, int64_t dim);

// One AdamW update of n values (the arguments of cpu::avx2::adamw_range).
void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay);

}  // namespace genrm::cuda
