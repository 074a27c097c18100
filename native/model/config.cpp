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
    throw_arg("num_attention_heads", "a divisor of hidden_size (" + std::to_string(c.hidden_size) + ")", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw_arg("num_key_value_heads", "a divisor of num_attention_heads (" + std::to_string(c.num_attention_heads) + ")",
              c.num_key_value_heads);
  const int64_t d = c.head_dim();
  if (d % 2 != 0) throw_arg("hidden_size / num_attention_heads", "an even head dimension (RoPE rotates pairs)", d);
  if (d > cpu::kAttentionMaxHeadDim) throw_arg("hidden_size / num_attention_heads", "a head dimension <= " + std::to_string(cpu::kAttentionMaxHeadDim), d);
  if (!(std::isfinite(c.rope_theta) && c.rope_theta > 0)) throw_arg("rope_theta", "a positive number", c.rope_theta);
  if (!(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0)) throw_arg("rms_norm_eps", "a positive number", c.rms_norm_eps);
  if (!(std::isfinite(c.initializer_range) && c.initializer_range >= 0))
    throw_arg("initializer_range", "a non-negative number", c.initializer_range);
}

std::vector<ParamInfo> parameter_layout(const Config& c) {
  validate(c);
  std::vector<ParamInfo> out;
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool decay) {
    int64_t size = 1;
    for (int64_t s : shape) size *= s;
    out.push_back({std::move(name), std::move(shape), offset, size, decay});
    offset += size;
  };
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  add("model.embed_tokens.weight", {c.vocab_size, d}, true);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {d}, false);
    add(p + "self_attn.q_proj.weight", {c.q_dim(), d}, true);
    add(p + "self_attn.k_proj.weight", {c.kv_dim(), d}, true);
    add(p + "self_attn.v_proj.weight", {c.kv_dim(), d}, true);
    add(p + "self_attn.o_proj.weight", {d, c.q_dim()}, true);
    add(p + "post_attention_layernorm.weight", {d}, false);
    add(p + "mlp.gate_proj.weight", {f, d}, true);
    add(p + "mlp.up_proj.weight", {f, d}, true);
    add(p + "mlp.down_proj.weight", {d, f}, true);
  }
  add("model.norm.weight", {d}, false);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, d}, true);
  if (c.reward_head) add("score.weight", {1, d}, true);
  return out;
}

}  // namespace genrm::model
