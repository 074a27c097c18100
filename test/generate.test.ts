// Generation with the key/value cache: cached decoding agrees with full
// recomputation at every step, greedy follows the argmax path, seeds make
// samples reproducible whatever else shares the batch, sampled frequencies
// follow the model's distribution, and bad requests are clear errors.
import test from 'ava';
import { Model, configure, info, packSequences } from '../lib/index.js';

const config = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 50,
  max_position_embeddings: 64,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  initializer_range: 0.5,
};
const model = Model.create(config, { seed: 3 });
const plain = model;
test.after.always(() => model.dispose());

// A Llama 3.x-shaped model too: llama3 RoPE scaling whose three frequency bands
// all fall within these positions, and a head dimension apart from hidden / heads.
const scaled = Model.create(
  {
    ...config,
    head_dim: 12,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    },
  },
  { seed: 4 },
);
test.after.always(() => scaled.dispose());

// Qwen2: biases on q, k and v, added in the cached decode step as in the forward.
const qwen2 = Model.create({ ...config, model_type: 'qwen2' }, { seed: 5 });
test.after.always(() => qwen2.dispose());
// Llama's attention_bias (q, k, v, o) and mlp_bias (gate, up, down).
const llamaBiases = Model.create({ ...config, extra: { attention_bias: true, mlp_bias: true } }, { seed: 7 });
test.after.always(() => llamaBiases.dispose());
// Qwen3: each head of q and k RMS-normalised before RoPE, in the decode step as in the forward.
const qwen3 = Model.create({ ...config, model_type: 'qwen3', head_dim: 12 }, { seed: 6 });
test.after.always(() => qwen3.dispose());
test.before(async () => {
  // A new model's biases are zero (as transformers initialises them): give them values to carry.
  for (const m of [qwen2, llamaBiases])
    for (const p of m.parameters.filter((x) => x.name.endsWith('.bias')))
      await m.setParameter(
        p.name,
        Float32Array.from({ length: p.size }, (_, i) => Math.sin(i + p.size)),
      );
});
for (const [name, model] of [
  ['plain', () => plain],
  ['llama3-scaled, head_dim 12', () => scaled],
  ['qwen2, q/k/v biases', () => qwen2],
  ['llama, attention and MLP biases', () => llamaBiases],
  ['qwen3, q/k norms', () => qwen3],
] as const)
  test(`${name}: cached decoding gives the logits of a full forward at every step; greedy takes their argmax`, async (t) => {
    const prompts = [{ ids: [1, 7, 3, 9, 4] }, { ids: [2, 5] }];
    const { results } = await model().generate(prompts, { maxNewTokens: 8, temperature: 0, returnLogits: true });
    for (const [i, p] of prompts.entries()) {
      const s = results[i]![0]!;
      t.is(s.tokens.length, 8);
      t.is(s.finishReason, 'length');
      const full = [...p.ids, ...s.tokens];
      const out = await model().forward(packSequences([{ ids: full }]), {
        logits: { row0: p.ids.length - 1, rows: s.tokens.length },
      });
      let worst = 0,
        scale = 0;
      for (let k = 0; k < out.logits!.length; k++) {
        worst = Math.max(worst, Math.abs(out.logits![k]! - s.logits![k]!));
        scale = Math.max(scale, Math.abs(out.logits![k]!));
      }
      t.true(worst <= 1e-5 * scale, `prompt ${i}: max difference ${worst} (scale ${scale})`);
      for (let step = 0; step < s.tokens.length; step++) {
        const row = out.logits!.subarray(step * 50, (step + 1) * 50);
        t.is(s.tokens[step], row.indexOf(Math.max(...row)), `prompt ${i} step ${step}`);
      }
    }
  });

test('samples are the same whatever the engine thread count (tokens are drawn in parallel)', async (t) => {
  const before = info().threads;
  t.teardown(() => configure({ threads: before }));
  const prompts = [
    { ids: [4, 4, 8], n: 6, seed: 11 },
    { ids: [9, 1], n: 5, seed: 2 },
  ];
  for (const options of [
    { maxNewTokens: 12, temperature: 0.9, topP: 0.8 },
    { maxNewTokens: 12, temperature: 1.2, topK: 30, topP: 0.95 },
  ]) {
    const tokens = async (threads: number) => {
      configure({ threads });
      const { results } = await model.generate(prompts, options);
      return results.map((r) => r.map((s) => Array.from(s.tokens)));
    };
    const one = await tokens(1);
    t.deepEqual(await tokens(3), one);
    t.deepEqual(await tokens(2), one);
  }
});

test('a seed gives the same samples alone or in a crowded batch; samples of one prompt differ', async (t) => {
  const alone = await model.generate([{ ids: [4, 4, 8], n: 3, seed: 11 }], { maxNewTokens: 10 });
  const crowd = await model.generate(
    [
      { ids: [9, 1], n: 5, seed: 2 },
      { ids: [4, 4, 8], n: 3, seed: 11 },
      { ids: [3], seed: 5 },
    ],
    { maxNewTokens: 10 },
  );
  t.deepEqual(
    crowd.results[1]!.map((s) => Array.from(s.tokens)),
    alone.results[0]!.map((s) => Array.from(s.tokens)),
  );
  const texts = new Set(alone.results[0]!.map((s) => s.tokens.join(',')));
  t.is(texts.size, 3);
});

test('top-k 1 and a tiny top-p are greedy; stop tokens end a sample', async (t) => {
  const greedy = await model.generate([{ ids: [5, 6, 7] }], { maxNewTokens: 6, temperature: 0 });
  const k1 = await model.generate([{ ids: [5, 6, 7], seed: 3 }], { maxNewTokens: 6, topK: 1 });
  const p0 = await model.generate([{ ids: [5, 6, 7], seed: 4 }], { maxNewTokens: 6, topP: 1e-6 });
  t.deepEqual(k1.results[0]![0]!.tokens, greedy.results[0]![0]!.tokens);
  t.deepEqual(p0.results[0]![0]!.tokens, greedy.results[0]![0]!.tokens);
  const first = greedy.results[0]![0]!.tokens[1]!;
  const stopped = await model.generate([{ ids: [5, 6, 7] }], { maxNewTokens: 6, temperature: 0, stopTokens: [first] });
  const s = stopped.results[0]![0]!;
  t.is(s.finishReason, 'stop');
  t.is(s.tokens[s.tokens.length - 1], first);
  t.true(s.tokens.length <= 2);
});

test('sampled first tokens follow the model distribution (chi-square, 3000 samples)', async (t) => {
  const n = 3000;
  const { results } = await model.generate([{ ids: [1, 2, 3], n, seed: 99 }], { maxNewTokens: 1, returnLogits: true });
  const logits = results[0]![0]!.logits!;
  const mx = Math.max(...logits);
  const w = Array.from(logits, (x) => Math.exp(x - mx));
  const z = w.reduce((a, b) => a + b, 0);
  const counts = new Array(50).fill(0);
  for (const s of results[0]!) counts[s.tokens[0]!]++;
  // Pool rare tokens so every expected count is at least 5.
  let chi = 0,
    df = -1,
    poolE = 0,
    poolO = 0;
  for (let i = 0; i < 50; i++) {
    const e = (n * w[i]!) / z;
    if (e < 5) {
      poolE += e;
      poolO += counts[i];
      continue;
    }
    chi += (counts[i] - e) ** 2 / e;
    df++;
  }
  if (poolE > 0) {
    chi += (poolO - poolE) ** 2 / poolE;
    df++;
  }
  // 99.9th percentile of chi-square is below df + 3.1 sqrt(2 df) + 10 for these df.
  t.true(chi < df + 3.1 * Math.sqrt(2 * df) + 10, `chi-square ${chi.toFixed(1)} with ${df} degrees of freedom`);
  // Each sample's logprob is the model's log-probability of its token.
  const s0 = results[0]![0]!;
  t.true(Math.abs(s0.logprob - (logits[s0.tokens[0]!]! - mx - Math.log(z))) < 1e-4);
});

test('bad generation requests are clear errors', async (t) => {
  const cases: Array<[Parameters<Model['generate']>, RegExp]> = [
    [[[{ ids: [] }], {}], /requests\[0\]\.prompt\.length: expected at least 1, got 0/],
    [[[{ ids: [1], n: 0 }], {}], /n: expected an integer in \[1, 4096\], got 0/],
    [[[{ ids: [1, 50] }], {}], /ids\[1\]: expected a token id in \[0, 50\), got 50/],
    [
      [[{ ids: new Array(60).fill(1) }], { maxNewTokens: 5 }],
      /requests\[0\]: expected prompt \+ maxNewTokens <= max_position_embeddings \(64\), got 60 \+ 5/,
    ],
    [[[{ ids: [1] }], { temperature: -1 }], /temperature: expected a finite number >= 0, got -1/],
    [[[{ ids: [1] }], { temperature: Number.NaN }], /temperature: expected a finite number >= 0/],
    [[[{ ids: [1] }], { topP: 0 }], /topP: expected a number in \(0, 1\], got 0/],
    [[[{ ids: [1] }], { topP: 1.5 }], /topP: expected a number in \(0, 1\]/],
    [[[{ ids: [1] }], { stopTokens: [77] }], /stopTokens: expected token ids in \[0, 50\), got 77/],
    [[[], {}], /requests: expected at least one prompt, got none/],
  ];
  for (const [args, message] of cases) await t.throwsAsync(() => model.generate(...args), { message }, String(message));
});

test('tokens stream to onToken while generating, in order per sample', async (t) => {
  const seen = new Map<string, number[]>();
  const { results } = await model.generate([{ ids: [1, 2], n: 2, seed: 1 }, { ids: [3] }], {
    maxNewTokens: 5,
    onToken: ({ prompt, sample, token }) => {
      const key = `${prompt}/${sample}`;
      seen.set(key, [...(seen.get(key) ?? []), token]);
    },
  });
  for (const [p, samples] of results.entries())
    for (const [s, sample] of samples.entries()) t.deepEqual(seen.get(`${p}/${s}`), Array.from(sample.tokens));
});

test('an AbortSignal stops generation cleanly; the model stays usable', async (t) => {
  const big = Model.create({ ...config, max_position_embeddings: 512 }, { seed: 5 });
  t.teardown(() => big.dispose());
  const controller = new AbortController();
  let streamed = 0;
  const run = big.generate([{ ids: [1, 2, 3], n: 4 }], {
    maxNewTokens: 500,
    onToken: () => {
      if (++streamed === 8) controller.abort();
    },
    signal: controller.signal,
  });
  const { results } = await run;
  const lengths = results[0]!.map((s) => s.tokens.length);
  t.true(
    results[0]!.every((s) => s.finishReason === 'abort'),
    JSON.stringify(results[0]!.map((s) => s.finishReason)),
  );
  t.true(Math.max(...lengths) < 500, `stopped early: ${lengths}`);
  await t.throwsAsync(() => big.generate([{ ids: [1] }], { signal: controller.signal }), { name: 'AbortError' });
  const after = await big.generate([{ ids: [1] }], { maxNewTokens: 3 });
  t.is(after.results[0]![0]!.tokens.length, 3);
});

test('an exception thrown by onToken rejects the call and leaves the model usable', async (t) => {
  await t.throwsAsync(
    () =>
      model.generate([{ ids: [1] }], {
        maxNewTokens: 4,
        onToken: () => {
          throw new Error('listener broke');
        },
      }),
    { message: 'listener broke' },
  );
  const ok = await model.generate([{ ids: [1] }], { maxNewTokens: 2 });
  t.is(ok.results[0]![0]!.tokens.length, 2);
});

test('a bounded batch refills finished slots and gives the same samples as an unbounded one', async (t) => {
  const prompts = [
    { ids: [1, 2, 3], n: 5, seed: 8 },
    { ids: [4], n: 3, seed: 9 },
  ];
  const options = { maxNewTokens: 12, stopTokens: [7, 13] };
  const all = await model.generate(prompts, options);
  const two = await model.generate(prompts, { ...options, maxBatch: 2 });
  const one = await model.generate(prompts, { ...options, maxBatch: 1 });
  const flat = (r: typeof all) => r.results.flat().map((s) => [Array.from(s.tokens), s.finishReason, s.logprob]);
  t.deepEqual(flat(two), flat(all));
  t.deepEqual(flat(one), flat(all));
  t.true(two.cacheBytes * 4 === all.cacheBytes, `${two.cacheBytes} x 4 vs ${all.cacheBytes}`);
});
