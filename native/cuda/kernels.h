// The CUDA twins of the CPU engine's per-element and per-row kernels
// (native/cpu/{rmsnorm,swiglu,rope,embedding,adamw}): the same arguments and
// semantics, with every pointer in device memory. Each runs on the default
// stream and checks its launch (genrm::Error names the kernel). Gradients that
// sum over rows or tokens do so in a fixed order, so results are reproducible.
// Outputs marked DType may be stored as bf16 (rounded to nearest even): the
// model stores that way what only tensor-core products read, which round their
// operands to bf16 anyway, so the storage halves the bytes and changes no result.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace genrm::cuda {

void rmsnorm_forward(const float* x, const float* w, void* y, float* rstd, int64_t rows, int64_t dim, float eps,
                     DType y_type = DType::F32);
// Accumulates dx (+=) and dw (+=).
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t dim);

// A linear layer's bias: y[r, c] += b[c]; db[c] += the sum over r of dy[r, c]
// (dy fp32 or bf16).
void bias_add(float* y, const float* b, int64_t rows, int64_t cols);
void bias_backward(const void* dy, DType dy_type, float* db, int64_t rows, int64_t cols);

void swiglu_forward(const float* g, const float* u, void* a, int64_t n, DType a_type = DType::F32);
void swiglu_backward(const float* g, const float* u, const float* da, void* dg, void* du, int64_t n,
                     DType grad_type = DType::F32);

void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse);
// The same rotation of x (fp32 or bf16) written to out (out may be x when the types match).
void rope_apply_table_to(const void* x, DType x_type, void* out, DType out_type, const int32_t* positions,
                         int64_t tokens, int64_t heads, int64_t head_dim, const float* cos_table,
                         const float* sin_table, bool inverse);

void embedding_forward(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim);
// dtable[tokens[t]] += dout[t], each column walking the tokens in order: the
// simple form, slow for many tokens (one latency-bound thread per column); the
// model uses embedding_backward_sorted.
void embedding_backward(const int32_t* tokens, const float* dout, float* dtable, int64_t n, int64_t dim);
// The same sums, parallel over distinct tokens: the positions of token ids[u]
// are order[starts[u] .. starts[u+1]) ascending (a stable sort by id, made on
// the host), so each row of dtable adds its rows of dout in the same order as above.
void embedding_backward_sorted(const int32_t* ids, const int32_t* starts, const int32_t* order, int64_t unique,
                               const float* dout, float* dtable, int64_t dim);

// One AdamW update of n values (the arguments of cpu::avx2::adamw_range); with
// p_bf16, the updated values rounded to bf16 there too (the weights' copy that
// tensor-core products read).
void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay, void* p_bf16 = nullptr);

// Key/value-cache decoding (attention_decode.cu). Caches are
// [slots][layers][capacity][kv_heads * head_dim], stored as cache_type (fp32,
// or bf16: half the memory, the precision attention's own bf16 operands have).
// Row i of q/out ([rows, heads, head_dim]) attends to keys [0, n_keys[i]) of
// slot slots[i] at `layer`; scores is scratch of rows * heads * capacity floats.
void attention_decode(const float* q, const void* k_cache, const void* v_cache, DType cache_type, const int32_t* slots,
                      const int32_t* n_keys, float* out, float* scores, int64_t rows, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, int64_t layers, int64_t layer, int64_t capacity, float scale);
// Writes row i's key and value ([rows, kv_dim] each, fp32) at position pos[i]
// of slot slots[i], rounded to bf16 for a bf16 cache.
void kv_cache_append(const float* k, const float* v, void* k_cache, void* v_cache, DType cache_type,
                     const int32_t* slots, const int32_t* pos, int64_t rows, int64_t kv_dim, int64_t layers,
                     int64_t layer, int64_t capacity);

// Small pieces of the model's glue (elementwise.cu).
void add(const float* a, const float* b, float* out, int64_t n);  // out = a + b (out may alias a)
void to_bf16(const float* x, void* out, int64_t n);               // out = bf16(x), nearest even
void to_f32(const void* x_bf16, float* out, int64_t n);           // out = x, widened (exact)
void scale(float* x, int64_t n, float s);
// out[i] = x[rows[i]] for i < n, rows of dim floats.
void gather_rows(const float* x, const int32_t* rows, float* out, int64_t n, int64_t dim);
// x[rows[i]] += y[i]; rows must be distinct.
void scatter_add_rows(const float* y, const int32_t* rows, float* x, int64_t n, int64_t dim);
// out[i] = dot(x[rows[i]], w) over dim (the reward head at each sequence's last token).
void rows_dot(const float* x, const int32_t* rows, const float* w, float* out, int64_t n, int64_t dim);
// x[rows[i]] += g[i] w (distinct rows) and dw += sum_i g[i] x[rows[i]], i in order.
void rows_dot_backward(const float* x, const int32_t* rows, const float* w, const float* g, float* dx, float* dw,
                       int64_t n, int64_t dim);
// Sum of squares of n floats in double: partial sums of fixed blocks, added on
// the host in order (reproducible; the gradient norm).
double sum_squares(const float* x, int64_t n);

}  // namespace genrm::cuda
