// Attention of one new query row per sample against that sample's cached keys
// and values (key/value-cache decoding). Each (row, head) is computed alone, in
// a fixed order, so a sample's numbers do not depend on what shares the batch.
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"

namespace genrm::cpu {

struct DecodeAttentionArgs {
  int64_t rows = 0, heads = 0, kv_heads = 0, head_dim = 0;
  // Row i's key j of kv head g is k[i] + j * kv_stride + g * head_dim (likewise v).
  const float* const* k = nullptr;
  const float* const* v = nullptr;
  int64_t kv_stride = 0;
  // Row i attends to keys [0, n[i]).
  const int64_t* n = nullptr;
  float scale = 0;
};

// q, out: [rows, heads, head_dim]. Throws genrm::Error on inconsistent shapes.
void attention_decode(const DecodeAttentionArgs& a, const float* q, float* out, Isa isa);
// The plain reference: double accumulation, two passes.
void attention_decode_reference(const DecodeAttentionArgs& a, const float* q, float* out);

// One (row, head) on the AVX2 path (attention_decode_avx2.cpp); p is scratch of n floats.
void attention_decode_head_avx2(const float* q, const float* k, const float* v, int64_t n, int64_t d, int64_t stride,
                                float scale, float* p, float* out);

}  // namespace genrm::cpu
