#include "config.h"

#include <cmath>

#include "../core/error.h"
#include "../cpu/attention.h"

namespace genrm::model {

void validate(const Config& c) {
  auto positive = [](const char* name, int64_t v, int64_t max) {
    if (v < 1 || v > max) throw_arg(name, "an integer in [1, " + std::to_string(max) + "]", v);
  };
  positive("hidden_size", c.hidden_size, 1 << 16);
  positive("intermediate_size", c.intermediate_size, 1 << 18);
  positive("num_hidden_layers", c.num_hidden_layers, 1024);
  positive("num_attention_heads", c.num_attention_heads, 1024);
  positive("num_key_value_heads", c.num_key_value_heads, 1024);
  positive("vocab_size", c.vocab_size, 1 << 24);
  positive("max_position_embeddings", c.max_position_embeddings, 1 << 24);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw_arg("num_attention_heads", "a divisor of hidden_size (" + std::to_string(c.hidden_size) + ")",
              c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw_arg("num_key_value_heads", "a divisor of num_attention_heads (" + std::to_string(c.num_attention_heads) + ")",
              c.num_key_value_heads);
  const int64_t d = c.head_dim();
  if (d % 2 != 0) throw_arg("hidden_size / num_attention_heads", "an even head dimension (RoPE rotates pairs)", d);
  if (d > cpu::kAttentionMaxHeadDim)
    throw_arg("hidden_size / num_attention_heads", "a head dimension <= " + std::to_string(cpu::kAttentionMaxHeadDim),
              d);
  if (!(std::isfinite(c.rope_theta) && c.rope_theta > 0)) throw_arg("rope_theta", "a positive number", c.rope_theta);
  if (!(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0))
    throw_arg("rms_norm_eps", "a positive number", c.rms_norm_eps);
  if (!(std::isfinite(c.initializer_range) && c.initializer_range >= 0))
    throw_arg("initializer_range", "a non-negative number", c.initializer_range);
}

}  // namespace genrm::model
