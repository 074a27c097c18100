// Rotary position embedding in Hugging Face's convention: each head's vector is
// split in halves (x1, x2) and rotated as (x1 cos - x2 sin, x2 cos + x1 sin) with
// angle pos * inv_freq[i], so Llama checkpoints load unchanged. The inverse
// frequencies are the caller's: theta^(-2i/D) for plain RoPE
// (rope_default_inv_freq), rescaled for the rope_scaling variants (model/config.h).
#pragma once
#include <cstdint>
#include <vector>

namespace genrm::cpu {

// theta^(-2i/head_dim) for i < head_dim / 2, in double.
std::vector<double> rope_default_inv_freq(double theta, int64_t head_dim);

// x: [tokens, heads, head_dim] rotated in place; positions: [tokens]; inv_freq:
// [head_dim / 2]. inverse = true applies the transpose rotation (the backward pass).
void rope_apply(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                const double* inv_freq, bool inverse);

// The same rotation from a precomputed table: cos/sin [max_position][head_dim/2],
// built once per batch by rope_table (the model applies RoPE four times per layer).
void rope_table(const double* inv_freq, int64_t head_dim, int64_t max_position, float* cos_out, float* sin_out);
void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse);

}  // namespace genrm::cpu
