// Sampling with a key/value cache. Prompts are prefilled with the ordinary packed
// forward (which already keeps every layer's post-RoPE keys and values), copied
// into the cache once per sample so the n samples of a prompt share one prefill,
// then all samples decode together one token per step. The sampling filter is
// cpu/sampling.cpp; stop strings are matched on token bytes (stop_strings.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/thread_pool.h"
#include "../cpu/attention_decode.h"
#include "../cpu/gemm.h"
#include "../cpu/rmsnorm.h"
#include "../cpu/rope.h"
#include "../cpu/swiglu.h"
#include "../cuda/model_device.h"
#include "model.h"

namespace genrm::model {

struct Model::Cache {
  int64_t slots = 0, capacity = 0, layers = 0, kv_dim = 0;
  // [slot][layer][capacity][kv_dim]; left uninitialised (only positions < len are
  // ever read), so a large cache costs no zero-filling pass.
  std::unique_ptr<float[]> k, v;
  std::vector<int64_t> len;   // tokens cached per slot
  // Per-step buffers, kept across steps: allocating them anew each step made
  // glibc map and unmap the large ones, so every step paid page faults and zeroing.
  std::vector<float> x, h, q, k_new, v_new, o, tmp, g, u, a;
  float* k_at(int64_t slot, int64_t layer) { return k.get() + ((slot * layers + layer) * capacity) * kv_dim; }
  float* v_at(int64_t slot, int64_t layer) { return v.get() + ((slot * layers + layer) * capacity) * kv_dim; }
};

namespace {

// y[M, out] = x[M, in] W^T, row by row (gemm_rowwise_nt): a sample's numbers do
// not depend on how many others share its decode step.
void project(const float* x, const float* w, float* y, int64_t m, int64_t in, int64_t out) {
  cpu::gemm_rowwise_nt(cpu::linear_args(x, w, y, m, in, out), default_isa());
}

using Rng = SplitMix64;

// Draws a token from one row of logits through the sampling filter; returns it
// and its log-prob under the model's own distribution (temperature 1, no
// filtering). Greedy decoding draws nothing from the stream.
int32_t sample(const float* logits, int64_t vocab, const cpu::SamplingParams& s, Rng& rng, double* logprob) {
  // The filter's scratch, one per drawing thread, kept across draws. Not one per
  // pool slot: another thread may resize the pool (configure) mid-generation.
  thread_local cpu::Candidates c;
  return cpu::sample_row(logits, vocab, s, s.temperature == 0.0 ? 0.0 : rng.uniform(), c, logprob);
}

}  // namespace

void Model::decode_step(Cache& cache, const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                        std::vector<float>& logits) {
  const Config& c = config_;
  const int64_t M = static_cast<int64_t>(slots.size()), d = c.hidden_size, f = c.intermediate_size;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps), scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  // Grow-only views of the cache's step buffers (every element read below is written first).
  auto buf = [](std::vector<float>& b, int64_t n) -> std::vector<float>& {
    if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
    return b;
  };
  std::vector<float>& x = buf(cache.x, M * d);
  std::vector<float>& h = buf(cache.h, M * d);
  std::vector<float>& q = buf(cache.q, M * qd);
  std::vector<float>& k = buf(cache.k_new, M * kvd);
  std::vector<float>& v = buf(cache.v_new, M * kvd);
  std::vector<float>& o = buf(cache.o, M * qd);
  std::vector<float>& tmp = buf(cache.tmp, M * d);
  std::vector<float>& g = buf(cache.g, M * f);
  std::vector<float>& u = buf(cache.u, M * f);
  std::vector<float>& a = buf(cache.a, M * f);
  std::vector<int32_t> pos(M);
  std::vector<int64_t> n(M);
  std::vector<const float*> kp(M), vp(M);
  for (int64_t i = 0; i < M; ++i) {
    pos[i] = static_cast<int32_t>(cache.len[slots[i]]);
    n[i] = pos[i] + 1;
    std::memcpy(x.data() + i * d, params_.data() + layout_[0].offset + static_cast<int64_t>(tokens[i]) * d, sizeof(float) * d);
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const Layer P = layer(l, params_);
    cpu::rmsnorm_forward(x.data(), P.in_norm, h.data(), nullptr, M, d, eps);
    project(h.data(), P.wq, q.data(), M, d, qd);
    project(h.data(), P.wk, k.data(), M, d, kvd);
    project(h.data(), P.wv, v.data(), M, d, kvd);
    cpu::rope_apply(q.data(), pos.data(), M, H, D, static_cast<float>(c.rope_theta), false);
    cpu::rope_apply(k.data(), pos.data(), M, KV, D, static_cast<float>(c.rope_theta), false);
    for (int64_t i = 0; i < M; ++i) {
      std::memcpy(cache.k_at(slots[i], l) + pos[i] * kvd, k.data() + i * kvd, sizeof(float) * kvd);
      std::memcpy(cache.v_at(slots[i], l) + pos[i] * kvd, v.data() + i * kvd, sizeof(float) * kvd);
    }
    // One query row against its own sample's cached keys, per (row, head).
    for (int64_t i = 0; i < M; ++i) {
      kp[i] = cache.k_at(slots[i], l);
      vp[i] = cache.v_at(slots[i], l);
    }
    cpu::DecodeAttentionArgs da;
    da.rows = M;
    da.heads = H;
    da.kv_heads = KV;
    da.head_dim = D;
    da.k = kp.data();
    da.v = vp.data();
    da.kv_stride = kvd;
    da.n = n.data();
    da.scale = scale;
    cpu::attention_decode(da, q.data(), o.data(), default_isa());
    project(o.data(), P.wo, tmp.data(), M, qd, d);
    for (int64_t i = 0; i < M * d; ++i) x[i] += tmp[i];
    cpu::rmsnorm_forward(x.data(), P.post_norm, h.data(), nullptr, M, d, eps);
    project(h.data(), P.wg, g.data(), M, d, f);
    project(h.data(), P.wu, u.data(), M, d, f);
    cpu::swiglu_forward(g.data(), u.data(), a.data(), M * f, default_isa());
    project(a.data(), P.wd, tmp.data(), M, f, d);
    for (int64_t i = 0; i < M * d; ++i) x[i] += tmp[i];
  }
  for (int64_t i = 0; i < M; ++i) cache.len[slots[i]] += 1;
  cpu::rmsnorm_forward(x.data(), params_.data() + layout_[1 + 9 * c.num_hidden_layers].offset, h.data(), nullptr, M, d, eps);
  logits.resize(M * c.vocab_size);
  project(h.data(), lm_head(), logits.data(), M, d, c.vocab_size);
}

GenerateResult Model::generate(const std::vector<GenerateRequest>& requests, const SamplingConfig& s,
                               const TokenSink* on_tokens, const std::atomic<bool>* cancel) {
  const Config& c = config_;
  const int64_t V = c.vocab_size, d = c.hidden_size, L = c.num_hidden_layers, kvd = c.kv_dim();
  if (requests.empty()) throw Error(ErrorKind::Argument, "requests: expected at least one prompt, got none");
  if (s.max_new_tokens < 1) throw_arg("maxNewTokens", "an integer >= 1", s.max_new_tokens, ErrorKind::Range);
  cpu::validate_sampling(s.filter);
  for (int32_t t : s.stop_tokens)
    if (t < 0 || t >= V) throw_arg("stopTokens", "token ids in [0, " + std::to_string(V) + ")", t, ErrorKind::Range);
  validate_stop_strings(V, s.stop_strings, s.token_bytes);
  int64_t samples = 0, longest = 0;
  Batch prompts;
  prompts.cu_seqlens.push_back(0);
  for (size_t r = 0; r < requests.size(); ++r) {
    const GenerateRequest& q = requests[r];
    const std::string where = "requests[" + std::to_string(r) + "]";
    if (q.prompt.empty()) throw_arg(where + ".prompt.length", "at least 1", 0);
    if (q.n < 1 || q.n > 4096) throw_arg(where + ".n", "an integer in [1, 4096]", q.n, ErrorKind::Range);
    const int64_t need = static_cast<int64_t>(q.prompt.size()) + s.max_new_tokens;
    if (need > c.max_position_embeddings)
      throw_arg(where, "prompt + maxNewTokens <= max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")",
                std::to_string(q.prompt.size()) + " + " + std::to_string(s.max_new_tokens), ErrorKind::Range);
    samples += q.n;
    longest = std::max(longest, need);
    prompts.ids.insert(prompts.ids.end(), q.prompt.begin(), q.prompt.end());
    prompts.cu_seqlens.push_back(static_cast<int32_t>(prompts.ids.size()));
  }
  validate_batch(c, prompts);  // token ids in the vocabulary, lengths

  const int64_t slots = s.max_batch > 0 ? std::min(s.max_batch, samples) : samples;
  Cache cache;
  cache.slots = slots;
  cache.capacity = longest;
  cache.layers = L;
  cache.kv_dim = kvd;
  const double bytes = 2.0 * slots * L * longest * kvd * sizeof(float);
  if (bytes > 16.0 * (1ull << 30))
    throw Error(ErrorKind::Range, "generation: the key/value cache would need " + std::to_string(static_cast<int64_t>(bytes / (1 << 20))) +
                                      " MiB (over the 16 GiB limit); set maxBatch to decode fewer samples at once");
  cache.len.assign(slots, 0);

  // Prefill every prompt once. Its keys and values stay in the activations and
  // are copied into a cache slot each time one of its samples starts decoding.
  // A CUDA model keeps the cache and runs the decoder on the device; this loop
  // (slots, sampling, stop strings) stays here for both.
  std::vector<float> first_logits;
  struct EndOnExit {
    cuda::DeviceModel* m;
    ~EndOnExit() {
      if (m) cuda::device_generate_end(*m);
    }
  } end_on_exit{nullptr};
  if (device_) {
    use_device({});
    cuda::device_generate_prefill(*device_, prompts, slots, longest, first_logits);
    end_on_exit.m = device_.get();
  } else {
    cache.k.reset(new float[static_cast<size_t>(slots * L * longest * kvd)]);
    cache.v.reset(new float[static_cast<size_t>(slots * L * longest * kvd)]);
    forward(prompts);
    std::vector<float> last_hidden(requests.size() * d);
    for (size_t r = 0; r < requests.size(); ++r)
      std::memcpy(last_hidden.data() + r * d, acts_.hf.data() + (prompts.cu_seqlens[r + 1] - 1) * d, sizeof(float) * d);
    first_logits.resize(requests.size() * V);
    project(last_hidden.data(), lm_head(), first_logits.data(), static_cast<int64_t>(requests.size()), d, V);
  }
  std::vector<int64_t> sample_request(samples);
  int64_t at = 0;
  for (size_t r = 0; r < requests.size(); ++r)
    for (int64_t j = 0; j < requests[r].n; ++j) sample_request[at++] = static_cast<int64_t>(r);

  GenerateResult out;
  out.cache_bytes = static_cast<int64_t>(bytes);
  out.tokens.assign(samples, {});
  out.logprob.assign(samples, 0.0);
  out.finish.assign(samples, "length");
  out.stop_string.assign(samples, -1);
  out.stop_offset.assign(samples, -1);
  if (s.return_logits) out.logits.assign(samples, {});
  std::vector<Rng> rngs(samples);
  at = 0;
  for (size_t r = 0; r < requests.size(); ++r)
    for (int64_t j = 0; j < requests[r].n; ++j, ++at) {
      Rng seeder{requests[r].seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(j)};
      rngs[at] = Rng{seeder.next()};
    }

  // One stop-string matcher per sample (none without stop strings).
  std::vector<StopMatcher> matchers;
  if (!s.stop_strings.empty()) matchers.assign(samples, StopMatcher(s.stop_strings, s.token_bytes));
  std::vector<bool> done(samples, false);
  std::vector<std::pair<int64_t, int32_t>> round;
  // Records a drawn token: log-prob, stop strings and tokens, length.
  auto accept = [&](int64_t smp, const float* row, int32_t t, double lp) {
    if (s.return_logits) out.logits[smp].insert(out.logits[smp].end(), row, row + V);
    out.tokens[smp].push_back(t);
    out.logprob[smp] += lp;
    if (on_tokens) round.emplace_back(smp, t);
    const int32_t matched = matchers.empty() ? -1 : matchers[smp].push(t);
    if (matched >= 0) {
      out.stop_string[smp] = matched;
      out.stop_offset[smp] = matchers[smp].match_offset();
    }
    if (matched >= 0 || std::find(s.stop_tokens.begin(), s.stop_tokens.end(), t) != s.stop_tokens.end()) {
      out.finish[smp] = "stop";
      done[smp] = true;
    } else if (static_cast<int64_t>(out.tokens[smp].size()) >= s.max_new_tokens) {
      done[smp] = true;
    }
  };
  auto take = [&](int64_t smp, const float* row) {
    double lp = 0;
    const int32_t t = sample(row, V, s.filter, rngs[smp], &lp);
    accept(smp, row, t, lp);
  };

  // slot_sample[slot]: the sample decoding in that slot, or -1 when free.
  std::vector<int64_t> slot_sample(slots, -1);
  int64_t next = 0;  // the first sample not yet started
  auto admit = [&]() {
    for (int64_t sl = 0; sl < slots && next < samples; ++sl) {
      while (slot_sample[sl] < 0 && next < samples) {
        const int64_t smp = next++, r = sample_request[smp];
        const int64_t p0 = prompts.cu_seqlens[r], n = prompts.cu_seqlens[r + 1] - p0;
        take(smp, first_logits.data() + r * V);  // the first token comes from the prefill
        if (done[smp]) continue;                  // finished at once: the slot stays free
        if (device_) {
          cuda::device_generate_start(*device_, sl, r);
        } else {
          for (int64_t l = 0; l < L; ++l) {
            std::memcpy(cache.k_at(sl, l), acts_.k.data() + (l * prompts.tokens() + p0) * kvd, sizeof(float) * n * kvd);
            std::memcpy(cache.v_at(sl, l), acts_.v.data() + (l * prompts.tokens() + p0) * kvd, sizeof(float) * n * kvd);
          }
        }
        cache.len[sl] = n;
        slot_sample[sl] = smp;
      }
    }
  };

  std::vector<float> logits;
  for (;;) {
    admit();
    if (on_tokens && !round.empty()) (*on_tokens)(round);
    round.clear();
    if (cancel && cancel->load()) {
      for (int64_t smp = 0; smp < samples; ++smp)
        if (!done[smp]) {
          out.finish[smp] = "abort";
          done[smp] = true;
        }
      break;
    }
    std::vector<int64_t> active;
    std::vector<int32_t> last;
    for (int64_t sl = 0; sl < slots; ++sl)
      if (slot_sample[sl] >= 0) {
        active.push_back(sl);
        last.push_back(out.tokens[slot_sample[sl]].back());
      }
    if (active.empty()) break;
    const int64_t M = static_cast<int64_t>(active.size());
    std::vector<int32_t> drawn(static_cast<size_t>(M));
    std::vector<double> drawn_lp(static_cast<size_t>(M));
    if (device_ && !s.return_logits) {
      // The draws on the device too: one token id and log-prob per row come
      // back instead of the rows' logits. Each row's uniform comes from its own
      // sample's stream, in slot order, as the host's draws take them.
      std::vector<double> u(static_cast<size_t>(M), 0.0);
      if (s.filter.temperature != 0.0)
        for (int64_t i = 0; i < M; ++i) u[i] = rngs[slot_sample[active[i]]].uniform();
      cuda::device_generate_step_sample(*device_, active, last, s.filter, u, drawn, drawn_lp);
    } else {
      if (device_) {
        cuda::device_generate_step(*device_, active, last, logits);
      } else {
        decode_step(cache, active, last, logits);
      }
      // Draws in parallel (each sample has its own stream and the filter's result
      // depends only on its row, so the tokens do not depend on the threads), then
      // records them in slot order. With a large vocabulary and top-p, the sort in
      // the filter costs more than the decode step of a small model.
      parallel_for(M, [&](int64_t begin, int64_t end, int) {
        for (int64_t i = begin; i < end; ++i)
          drawn[i] = sample(logits.data() + i * V, V, s.filter, rngs[slot_sample[active[i]]], &drawn_lp[i]);
      });
    }
    for (int64_t i = 0; i < M; ++i) {
      const int64_t smp = slot_sample[active[i]];
      accept(smp, s.return_logits ? logits.data() + i * V : nullptr, drawn[i], drawn_lp[i]);
      if (done[smp]) slot_sample[active[i]] = -1;
    }
  }
  return out;
}

}  // namespace genrm::model
