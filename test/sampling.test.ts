// The sampling filter (temperature, top-k, top-p) kernel by kernel: exactly the
// right token set survives, at ties (broken by id), at a top-p boundary hit
// exactly by the cumulative probability, and with top-k beyond the vocabulary;
// and generation draws only from the set the kernel keeps.
import test from 'ava';
import { kernels, Model } from '../lib/index.js';

const filter = (logits: number[], o: { temperature?: number; topK?: number; topP?: number } = {}) => {
  const r = kernels.samplingFilter({ logits: Float32Array.from(logits), ...o });
  return { ids: Array.from(r.ids), probs: Array.from(r.probs) };
};

test('top-k keeps the k highest logits, equal logits by lower id; k at or beyond the vocabulary keeps all', (t) => {
  const logits = [2, 5, 5, 1, 5, -3];
  t.deepEqual(filter(logits, { topK: 1 }).ids, [1]);
  t.deepEqual(filter(logits, { topK: 2 }).ids, [1, 2]);
  t.deepEqual(filter(logits, { topK: 3 }).ids, [1, 2, 4]);
  t.deepEqual(filter(logits, { topK: 4 }).ids, [0, 1, 2, 4]);
  t.deepEqual(filter(logits, { topK: 6 }).ids, [0, 1, 2, 3, 4, 5]);
  t.deepEqual(filter(logits, { topK: 1000 }).ids, [0, 1, 2, 3, 4, 5]);
  t.deepEqual(filter(logits).ids, [0, 1, 2, 3, 4, 5]);
  const three = filter(logits, { topK: 3 }).probs;
  t.deepEqual(three, [1 / 3, 1 / 3, 1 / 3]);
});

test('top-p keeps the smallest most-likely prefix whose mass reaches p, the boundary included', (t) => {
  // Four equal logits: probabilities 1/4 each, cumulative 0.25, 0.5, 0.75, 1 exactly.
  const flat = [0, 0, 0, 0];
  t.deepEqual(filter(flat, { topP: 0.25 }).ids, [0]);
  t.deepEqual(filter(flat, { topP: 0.5 }).ids, [0, 1]);
  t.deepEqual(filter(flat, { topP: 0.5 + 1e-12 }).ids, [0, 1, 2]);
  t.deepEqual(filter(flat, { topP: 0.75 }).ids, [0, 1, 2]);
  t.deepEqual(filter(flat, { topP: 0.75 + 1e-12 }).ids, [0, 1, 2, 3]);
  t.deepEqual(filter(flat, { topP: 1 }).ids, [0, 1, 2, 3]);
  t.deepEqual(filter(flat, { topP: 0.5 }).probs, [0.5, 0.5]);
  // Order is by probability, not id: the two likely tokens come first.
  t.deepEqual(filter([-20, 3, -20, 3, -20], { topP: 0.9 }).ids, [1, 3]);
  t.deepEqual(filter([-20, 3, -20, 3, -20], { topP: 0.49 }).ids, [1]);
  // A dominant token alone reaches p.
  t.deepEqual(filter([0, 12, 0, 0], { topP: 0.99 }).ids, [1]);
});

test('top-p applies after top-k, renormalised over what top-k kept; temperature comes first', (t) => {
  const eight = new Array(8).fill(1.5);
  t.deepEqual(filter(eight, { topK: 4, topP: 0.5 }).ids, [0, 1]);
  t.deepEqual(filter(eight, { topK: 4, topP: 0.5 + 1e-12 }).ids, [0, 1, 2]);
  // p = (0.75, 0.25) at temperature 1; a high temperature flattens it past 0.7.
  const two = [Math.log(3), 0];
  t.deepEqual(filter(two, { topP: 0.7 }).ids, [0]);
  t.deepEqual(filter(two, { topP: 0.7, temperature: 10 }).ids, [0, 1]);
  const hot = filter(two, { temperature: 10 }).probs;
  t.true(Math.abs(hot[0]! - 1 / (1 + Math.exp(-Math.log(3) / 10))) < 1e-7);
  // Temperature 0 is greedy: the first maximum only.
  t.deepEqual(filter([1, 4, 4, 2], { temperature: 0 }), { ids: [1], probs: [1] });
});

test('bad filter arguments are named', (t) => {
  t.throws(() => filter([1, 2], { topP: 0 }), { message: /topP: expected a number in \(0, 1\], got 0/ });
  t.throws(() => filter([1, 2], { topK: -1 }), { message: /topK: expected an integer in \[0, / });
  t.throws(() => filter([1, 2], { temperature: -1 }), {
    message: /temperature: expected a finite number >= 0, got -1/,
  });
  t.throws(() => filter([]), { message: /logits\.length: expected at least 1, got 0/ });
  t.throws(() => filter([1, Number.NaN]), { message: /logits\[1\]: expected a finite number/ });
});

test('generation draws only from the tokens the filter keeps', async (t) => {
  const model = Model.create(
    {
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 50,
      max_position_embeddings: 32,
      initializer_range: 0.5,
    },
    { seed: 3 },
  );
  t.teardown(() => model.dispose());
  for (const o of [{ topK: 3 }, { topP: 0.6 }, { topK: 10, topP: 0.5, temperature: 0.7 }]) {
    const { results } = await model.generate([{ ids: [1, 2, 3], n: 400, seed: 5 }], {
      maxNewTokens: 1,
      returnLogits: true,
      ...o,
    });
    const kept = filter(Array.from(results[0]![0]!.logits!), o).ids;
    const seen = [...new Set(results[0]!.map((s) => s.tokens[0]!))].sort((a, b) => a - b);
    t.true(
      seen.every((id) => kept.includes(id)),
      `${JSON.stringify(o)}: drew ${seen}, kept ${kept}`,
    );
    if (kept.length > 1) t.true(seen.length > 1, `${JSON.stringify(o)}: 400 draws from ${kept} all gave ${seen}`);
  }
});
