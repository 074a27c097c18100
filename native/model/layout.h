// The parameter layout, defined once: every tensor of the flat parameter buffer
// in checkpoint order (Hugging Face names, shapes, offsets), and named accessors
// for the roles the backends read: a layer's norms and projections, the final
// norm, the heads. A new kind of tensor (a bias, a q/k norm, an adapter) is
// added here; no other file computes where a tensor lives.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace genrm::model {

// How a new model fills a tensor, as transformers initialises Llama: weights
// from N(0, initializer_range), norm weights with ones, biases with zeros.
enum class Init { Normal, Ones, Zeros };

// One parameter tensor in the flat buffer.
struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0, size = 0;
  bool decay = true;  // false for norm weights and biases (the HF Trainer's no-decay group)
  Init init = Init::Normal;
};

// One decoder layer's tensors as pointers into a flat buffer laid out like the
// parameters (the parameters, their gradients, a device copy): T is float,
// const float, or a device storage type.
template <typename T>
struct LayerTensors {
  T *input_norm, *q, *k, *v, *o, *post_norm, *gate, *up, *down;
  // The projections' biases, and Qwen3's per-head q/k norm weights; null where the config has none.
  T *q_bias, *k_bias, *v_bias, *o_bias, *q_norm, *k_norm, *gate_bias, *up_bias, *down_bias;
};

class ParamLayout {
 public:
  // Validates c first (throws genrm::Error naming the field).
  explicit ParamLayout(const Config& c);

  const std::vector<ParamInfo>& tensors() const { return tensors_; }
  size_t size() const { return tensors_.size(); }
  const ParamInfo& operator[](size_t i) const { return tensors_[i]; }
  std::vector<ParamInfo>::const_iterator begin() const { return tensors_.begin(); }
  std::vector<ParamInfo>::const_iterator end() const { return tensors_.end(); }
  // Floats in each flat buffer.
  int64_t total() const { return total_; }

  const ParamInfo& embed() const { return tensors_[embed_]; }
  const ParamInfo& final_norm() const { return tensors_[final_norm_]; }
  // The output projection: the embedding itself when the embeddings are tied.
  const ParamInfo& lm_head() const { return tensors_[lm_head_]; }
  bool has_score() const { return score_ >= 0; }
  // The Bradley-Terry head [1, hidden]; only when has_score().
  const ParamInfo& score() const { return tensors_[static_cast<size_t>(score_)]; }

  // Where tensor p starts in a flat buffer whose first element is base.
  template <typename T>
  static T* at(T* base, const ParamInfo& p) {
    return base + p.offset;
  }
  template <typename T>
  LayerTensors<T> layer(int64_t l, T* base) const {
    const Layer& i = layers_[static_cast<size_t>(l)];
    auto p = [&](size_t k) { return base + tensors_[k].offset; };
    auto opt = [&](size_t k) { return k == kNone ? nullptr : p(k); };
    return {p(i.input_norm), p(i.q),        p(i.k),        p(i.v),           p(i.o),         p(i.post_norm),
            p(i.gate),       p(i.up),       p(i.down),     opt(i.q_bias),    opt(i.k_bias),  opt(i.v_bias),
            opt(i.o_bias),   opt(i.q_norm), opt(i.k_norm), opt(i.gate_bias), opt(i.up_bias), opt(i.down_bias)};
  }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);
  struct Layer {
    size_t input_norm, q, k, v, o, post_norm, gate, up, down;
    size_t q_bias = kNone, k_bias = kNone, v_bias = kNone, o_bias = kNone, q_norm = kNone, k_norm = kNone;
    size_t gate_bias = kNone, up_bias = kNone, down_bias = kNone;
  };
  size_t add(std::string name, std::vector<int64_t> shape, Init init);

  std::vector<ParamInfo> tensors_;
  std::vector<Layer> layers_;
  int64_t total_ = 0;
  size_t embed_ = 0, final_norm_ = 0, lm_head_ = 0;
  int64_t score_ = -1;
};

}  // namespace genrm::model
