// The four flat buffers in host memory, as a backend keeps them: the CPU
// backend computes on them, a device backend mirrors its own copies here.
#pragma once
#include <vector>

#include "run.h"

namespace genrm::model {

struct HostBuffers {
  explicit HostBuffers(int64_t n) : params(static_cast<size_t>(n), 0.0f) {}

  std::vector<float> params, grads, m, v;

  // Gradients and moments start as zeros allocated on first use.
  void ensure_train_state() {
    if (!grads.empty()) return;
    grads.assign(params.size(), 0.0f);
    m.assign(params.size(), 0.0f);
    v.assign(params.size(), 0.0f);
  }
  std::vector<float>& get(Buffer b) {
    if (b != Buffer::Params) ensure_train_state();
    switch (b) {
      case Buffer::Params: return params;
      case Buffer::Grads: return grads;
      case Buffer::AdamM: return m;
      case Buffer::AdamV: return v;
    }
    return params;
  }
};

}  // namespace genrm::model
