#include "layout.h"

namespace genrm::model {

size_t ParamLayout::add(std::string name, std::vector<int64_t> shape, Init init) {
  int64_t size = 1;
  for (int64_t s : shape) size *= s;
  // Weight decay applies to the weights drawn at random, not to norms and biases.
  tensors_.push_back({std::move(name), std::move(shape), total_, size, init == Init::Normal, init});
  total_ += size;
  return tensors_.size() - 1;
}

// Checkpoint order: embed_tokens; per layer input_layernorm, q/k/v/o_proj (each
// weight then its bias, where the config has one), q/k_norm,
// post_attention_layernorm, gate/up/down_proj (each weight then its bias, where
// the config has one); norm; lm_head (unless tied);
// score (with a reward head).
ParamLayout::ParamLayout(const Config& c) {
  validate(c);
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  embed_ = add("model.embed_tokens.weight", {c.vocab_size, d}, Init::Normal);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    l.input_norm = add(p + "input_layernorm.weight", {d}, Init::Ones);
    // Biases follow their weights, as transformers' state dicts list them; no weight decay.
    l.q = add(p + "self_attn.q_proj.weight", {c.q_dim(), d}, Init::Normal);
    if (c.qkv_bias) l.q_bias = add(p + "self_attn.q_proj.bias", {c.q_dim()}, Init::Zeros);
    l.k = add(p + "self_attn.k_proj.weight", {c.kv_dim(), d}, Init::Normal);
    if (c.qkv_bias) l.k_bias = add(p + "self_attn.k_proj.bias", {c.kv_dim()}, Init::Zeros);
    l.v = add(p + "self_attn.v_proj.weight", {c.kv_dim(), d}, Init::Normal);
    if (c.qkv_bias) l.v_bias = add(p + "self_attn.v_proj.bias", {c.kv_dim()}, Init::Zeros);
    l.o = add(p + "self_attn.o_proj.weight", {d, c.q_dim()}, Init::Normal);
    if (c.o_bias) l.o_bias = add(p + "self_attn.o_proj.bias", {d}, Init::Zeros);
    if (c.qk_norm) {
      l.q_norm = add(p + "self_attn.q_norm.weight", {c.head_dim()}, Init::Ones);
      l.k_norm = add(p + "self_attn.k_norm.weight", {c.head_dim()}, Init::Ones);
    }
    l.post_norm = add(p + "post_attention_layernorm.weight", {d}, Init::Ones);
    l.gate = add(p + "mlp.gate_proj.weight", {f, d}, Init::Normal);
    if (c.mlp_bias) l.gate_bias = add(p + "mlp.gate_proj.bias", {f}, Init::Zeros);
    l.up = add(p + "mlp.up_proj.weight", {f, d}, Init::Normal);
    if (c.mlp_bias) l.up_bias = add(p + "mlp.up_proj.bias", {f}, Init::Zeros);
    l.down = add(p + "mlp.down_proj.weight", {d, f}, Init::Normal);
    if (c.mlp_bias) l.down_bias = add(p + "mlp.down_proj.bias", {d}, Init::Zeros);
    layers_.push_back(l);
  }
  final_norm_ = add("model.norm.weight", {d}, Init::Ones);
  lm_head_ = c.tie_word_embeddings ? embed_ : add("lm_head.weight", {c.vocab_size, d}, Init::Normal);
  if (c.reward_head) score_ = static_cast<int64_t>(add("score.weight", {1, d}, Init::Normal));
}

}  // namespace genrm::model
