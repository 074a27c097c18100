#include "layout.h"

namespace genrm::model {

size_t ParamLayout::add(std::string name, std::vector<int64_t> shape, bool decay) {
  int64_t size = 1;
  for (int64_t s : shape) size *= s;
  tensors_.push_back({std::move(name), std::move(shape), total_, size, decay});
  total_ += size;
  return tensors_.size() - 1;
}

// Checkpoint order: embed_tokens; per layer input_layernorm, q/k/v/o_proj,
// post_attention_layernorm, gate/up/down_proj; norm; lm_head (unless tied);
// score (with a reward head).
ParamLayout::ParamLayout(const Config& c) {
  validate(c);
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  embed_ = add("model.embed_tokens.weight", {c.vocab_size, d}, true);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    l.input_norm = add(p + "input_layernorm.weight", {d}, false);
    l.q = add(p + "self_attn.q_proj.weight", {c.q_dim(), d}, true);
    l.k = add(p + "self_attn.k_proj.weight", {c.kv_dim(), d}, true);
    l.v = add(p + "self_attn.v_proj.weight", {c.kv_dim(), d}, true);
    l.o = add(p + "self_attn.o_proj.weight", {d, c.q_dim()}, true);
    l.post_norm = add(p + "post_attention_layernorm.weight", {d}, false);
    l.gate = add(p + "mlp.gate_proj.weight", {f, d}, true);
    l.up = add(p + "mlp.up_proj.weight", {f, d}, true);
    l.down = add(p + "mlp.down_proj.weight", {d, f}, true);
    layers_.push_back(l);
  }
  final_norm_ = add("model.norm.weight", {d}, false);
  lm_head_ = c.tie_word_embeddings ? embed_ : add("lm_head.weight", {c.vocab_size, d}, true);
  if (c.reward_head) score_ = static_cast<int64_t>(add("score.weight", {1, d}, true));
}

}  // namespace genrm::model
