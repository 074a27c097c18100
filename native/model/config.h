// The model's shape, with Hugging Face LlamaConfig's field names (snake_case in
// JSON; the TS layer validates the file and passes these numbers).
#pragma once
#include <cstdint>
#include <vector>

namespace genrm::model {

// rope_scaling's variants that genrm computes exactly (transformers'
// modeling_rope_utils): plain, "linear" (positions divided by factor) and
// "llama3" (Llama 3.1-3.3: low frequencies divided by factor, high ones kept,
// a smooth blend between). Others are refused where the config is read.
enum class RopeType { Default, Linear, Llama3 };

struct RopeScaling {
  RopeType type = RopeType::Default;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
};

struct Config {
  int64_t hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0,
          num_key_value_heads = 0, vocab_size = 0, max_position_embeddings = 0;
  // config.json's head_dim; 0 when absent: hidden_size / num_attention_heads.
  int64_t explicit_head_dim = 0;
  double rope_theta = 10000.0, rms_norm_eps = 1e-6, initializer_range = 0.02;
  RopeScaling rope_scaling;
  // Mistral's sliding_window; 0 when none. genrm computes full causal attention,
  // which equals the windowed one for sequences of at most this many tokens, so
  // longer sequences are refused (validate_batch, generation).
  int64_t sliding_window = 0;
  // Biases of the attention projections: q, k and v (Qwen2, and Llama's
  // attention_bias), and o (Llama's attention_bias only).
  bool qkv_bias = false, o_bias = false;
  // Biases on gate, up and down (Llama's mlp_bias).
  bool mlp_bias = false;
  // Qwen3's q_norm and k_norm: an RMSNorm over each head of q and of k (weights
  // [head_dim]), after the projection and before RoPE.
  bool qk_norm = false;
  bool tie_word_embeddings = false;
  bool reward_head = false;  // genrm: a Bradley-Terry head score.weight [1, hidden]

  int64_t head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : hidden_size / num_attention_heads; }
  int64_t q_dim() const { return num_attention_heads * head_dim(); }
  int64_t kv_dim() const { return num_key_value_heads * head_dim(); }
};

// Throws genrm::Error naming the field (heads must divide hidden, and so on).
void validate(const Config& c);

// RoPE's inverse frequencies [head_dim / 2] for this config: theta^(-2i/D),
// rescaled as rope_scaling says. Both backends build their rotation tables from it.
std::vector<double> rope_inv_freq(const Config& c);

}  // namespace genrm::model
