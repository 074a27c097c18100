#include "config.h"

#include <cmath>

#include "../core/error.h"
#include "../cpu/attention.h"
#include "../cpu/rope.h"

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
  if (c.explicit_head_dim == 0 && c.hidden_size % c.num_attention_heads != 0)
    throw_arg("num_attention_heads", "a divisor of hidden_size (" + std::to_string(c.hidden_size) + ")",
              c.num_attention_heads);
  if (c.explicit_head_dim < 0) throw_arg("head_dim", "a positive integer", c.explicit_head_dim);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw_arg("num_key_value_heads", "a divisor of num_attention_heads (" + std::to_string(c.num_attention_heads) + ")",
              c.num_key_value_heads);
  const int64_t d = c.head_dim();
  if (d % 2 != 0) throw_arg("head_dim", "an even head dimension (RoPE rotates pairs)", d);
  if (d > cpu::kAttentionMaxHeadDim)
    throw_arg("head_dim", "a head dimension <= " + std::to_string(cpu::kAttentionMaxHeadDim), d);
  if (!(std::isfinite(c.rope_theta) && c.rope_theta > 0)) throw_arg("rope_theta", "a positive number", c.rope_theta);
  if (c.sliding_window < 0) throw_arg("sliding_window", "a positive integer or none", c.sliding_window);
  const RopeScaling& r = c.rope_scaling;
  if (r.type != RopeType::Default && !(std::isfinite(r.factor) && r.factor > 0))
    throw_arg("rope_scaling.factor", "a positive number", r.factor);
  if (r.type == RopeType::Llama3) {
    if (!(std::isfinite(r.low_freq_factor) && r.low_freq_factor > 0))
      throw_arg("rope_scaling.low_freq_factor", "a positive number", r.low_freq_factor);
    if (!(std::isfinite(r.high_freq_factor) && r.high_freq_factor > r.low_freq_factor))
      throw_arg("rope_scaling.high_freq_factor", "a number above low_freq_factor", r.high_freq_factor);
    if (r.original_max_position_embeddings < 1)
      throw_arg("rope_scaling.original_max_position_embeddings", "a positive integer",
                r.original_max_position_embeddings);
  }
  if (!(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0))
    throw_arg("rms_norm_eps", "a positive number", c.rms_norm_eps);
  if (!(std::isfinite(c.initializer_range) && c.initializer_range >= 0))
    throw_arg("initializer_range", "a non-negative number", c.initializer_range);
}

constexpr double kPi = 3.14159265358979323846;

std::vector<double> rope_inv_freq(const Config& c) {
  std::vector<double> inv = cpu::rope_default_inv_freq(c.rope_theta, c.head_dim());
  const RopeScaling& r = c.rope_scaling;
  if (r.type == RopeType::Linear) {
    for (double& f : inv) f /= r.factor;
  } else if (r.type == RopeType::Llama3) {
    // transformers' _compute_llama3_parameters: wavelengths longer than the
    // original context / low_freq_factor are stretched by factor, those shorter
    // than original / high_freq_factor kept, and the band between blended.
    const double old_context = static_cast<double>(r.original_max_position_embeddings);
    const double low_wavelen = old_context / r.low_freq_factor, high_wavelen = old_context / r.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2 * kPi / f;
      if (wavelen > low_wavelen) {
        f /= r.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_context / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        f = (1 - smooth) * f / r.factor + smooth * f;
      }
    }
  }
  return inv;
}

}  // namespace genrm::model
