// The model's shape, with Hugging Face LlamaConfig's field names (snake_case in
// JSON; the TS layer validates the file and passes these numbers).
#pragma once
#include <cstdint>

namespace genrm::model {

struct Config {
  int64_t hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0,
          num_key_value_heads = 0, vocab_size = 0, max_position_embeddings = 0;
  double rope_theta = 10000.0, rms_norm_eps = 1e-6, initializer_range = 0.02;
  bool tie_word_embeddings = false;
  bool reward_head = false;  // genrm: a Bradley-Terry head score.weight [1, hidden]

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t q_dim() const { return num_attention_heads * head_dim(); }
  int64_t kv_dim() const { return num_key_value_heads * head_dim(); }
};

// Throws genrm::Error naming the field (heads must divide hidden, and so on).
void validate(const Config& c);

}  // namespace genrm::model
