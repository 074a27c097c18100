// Rotary position embedding in Hugging Face's convention: each head's vector is
// split in halves (x1, x2) and rotated as (x1 cos - x2 sin, x2 cos + x1 sin) with
// angle pos * theta^(-2i/D), so Llama checkpoints load unchanged.
#pragma once
#include <cstdint>

namespace genrm::cpu {

// x: [tokens, heads, head_dim] rotated in place; positions: [tokens].
// inverse = true applies the transpose rotation (the backward pass).
void rope_apply(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim, float theta,
                bool inverse);

// The same rotation from a precomputed table: cos/sin [max_position][head_dim/2],
// built once per batch by rope_table (the model applies RoPE four times per layer).
void rope_table(float theta, int64_t head_dim, int64_t max_position, float* cos_out, float* sin_out);
void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse);

}  // namespace genrm::cpu
