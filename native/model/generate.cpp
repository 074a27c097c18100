// The generation loop, the same on every backend: prompts are prefilled once,
// the n samples of a prompt branch from that prefill, and all samples decode
// together one token per step, each stopping on its own; a finished sample's
// cache slot goes to the next waiting sample. The backend runs the decoder and
// holds the key/value cache (Backend::prefill, start, step); the draws use the
// sampling filter of cpu/sampling.cpp, stop strings are matched on token bytes
// (stop_strings.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/thread_pool.h"
#include "model.h"

namespace genrm::model {

namespace {

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

GenerateResult Model::generate(const std::vector<GenerateRequest>& requests, const SamplingConfig& s,
                               const TokenSink* on_tokens, const std::atomic<bool>* cancel) {
  const Config& c = config_;
  const int64_t V = c.vocab_size, L = c.num_hidden_layers, kvd = c.kv_dim();
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
      throw_arg(where,
                "prompt + maxNewTokens <= max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")",
                std::to_string(q.prompt.size()) + " + " + std::to_string(s.max_new_tokens), ErrorKind::Range);
    if (c.sliding_window > 0 && need > c.sliding_window)
      throw_arg(where,
                "prompt + maxNewTokens <= sliding_window (" + std::to_string(c.sliding_window) +
                    "; genrm does not compute windowed attention, which differs from full attention only beyond it)",
                std::to_string(q.prompt.size()) + " + " + std::to_string(s.max_new_tokens), ErrorKind::Range);
    samples += q.n;
    longest = std::max(longest, need);
    prompts.ids.insert(prompts.ids.end(), q.prompt.begin(), q.prompt.end());
    prompts.cu_seqlens.push_back(static_cast<int32_t>(prompts.ids.size()));
  }
  validate_batch(c, prompts);  // token ids in the vocabulary, lengths

  const int64_t slots = s.max_batch > 0 ? std::min(s.max_batch, samples) : samples;
  const double bytes = 2.0 * slots * L * longest * kvd * static_cast<double>(backend_->cache_value_bytes());
  if (bytes > 16.0 * (1ull << 30))
    throw Error(ErrorKind::Range, "generation: the key/value cache would need " +
                                      std::to_string(static_cast<int64_t>(bytes / (1 << 20))) +
                                      " MiB (over the 16 GiB limit); set maxBatch to decode fewer samples at once");

  // Prefill every prompt once; a sample starting to decode takes its prompt's
  // keys and values into a cache slot.
  std::vector<float> first_logits;
  struct EndOnExit {
    Backend& b;
    ~EndOnExit() { b.end(); }
  } end_on_exit{*backend_};
  backend_->prefill(prompts, slots, longest, first_logits);
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
        take(smp, first_logits.data() + r * V);  // the first token comes from the prefill
        if (done[smp]) continue;                 // finished at once: the slot stays free
        backend_->start(sl, r);
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
    if (backend_->samples() && !s.return_logits) {
      // The draws where the logits are (a device): one token id and log-prob
      // per row come back instead of the rows' logits. Each row's uniform comes from its own
      // sample's stream, in slot order, as the host's draws take them.
      std::vector<double> u(static_cast<size_t>(M), 0.0);
      if (s.filter.temperature != 0.0)
        for (int64_t i = 0; i < M; ++i) u[i] = rngs[slot_sample[active[i]]].uniform();
      backend_->step_sample(active, last, s.filter, u, drawn, drawn_lp);
    } else {
      backend_->step(active, last, logits);
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
