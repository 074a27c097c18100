// Batches counted in units (pairs or sequences) as well as tokens: a step
// never holds more than batchSize units, and each step's count is reported.
import test from 'ava';
import { Model } from '../lib/index.js';
import { packByBudget, planEpochs } from '../lib/train/batches.js';
import { resolveSettings, trainUnits, type TrainProgress, type TrainUnit } from '../lib/train/trainer.js';
import { fixtureTokenizer } from './judge-fixture.js';

const tokenizer = fixtureTokenizer();

test('a batch closes at batchSize units or at the token budget, whichever comes first', (t) => {
  t.deepEqual(packByBudget([0, 1, 2, 3, 4], [1, 1, 1, 1, 1], 100, 2), [[0, 1], [2, 3], [4]]);
  t.deepEqual(packByBudget([0, 1, 2, 3], [5, 5, 5, 5], 10, 3), [
    [0, 1],
    [2, 3],
  ]);
  // 0 leaves only the tokens to decide, as before.
  t.deepEqual(packByBudget([0, 1, 2, 3], [1, 1, 1, 1], 100, 0), [[0, 1, 2, 3]]);
  const plan = planEpochs([3, 4, 5, 6, 7, 8, 9], { budget: 1000, epochs: 2, seed: 1, maxUnits: 3 });
  t.deepEqual(
    plan.map((b) => b.length),
    [3, 3, 1, 3, 3, 1],
  );
  t.throws(() => resolveSettings({ batchSize: -1 }), {
    message: 'batchSize: expected an integer >= 0 (0 = no limit), got -1',
  });
  t.is(resolveSettings().batchSize, 0);
});

test('every step reports the pairs and tokens it held; the outcome summarizes the plan', async (t) => {
  const model = Model.create(
    {
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: 128,
      reward_head: true,
    },
    { seed: 2 },
  );
  t.teardown(() => model.dispose());
  const pair = (n: number): TrainUnit => ({
    sequences: [
      { ids: Int32Array.from({ length: n }, (_, i) => i + 1) },
      { ids: Int32Array.from({ length: n + 1 }, (_, i) => i + 2) },
    ],
  });
  const units = [pair(4), pair(5), pair(6), pair(7), pair(8)];
  const seen: TrainProgress[] = [];
  const out = await trainUnits(
    model,
    units,
    { type: 'bt' },
    { batchSize: 2, batchTokens: 1000 },
    {
      onProgress: (p) => seen.push(p),
    },
  );
  t.deepEqual(
    seen.map((p) => p.batch.units),
    [2, 2, 1],
  );
  seen.forEach((p) => {
    t.is(p.batch.sequences, 2 * p.batch.units);
    t.is(p.batches.unit, 'pair');
  });
  t.deepEqual(
    out.history.map((h) => h.batch_units),
    [2, 2, 1],
  );
  t.is(
    out.history.reduce((n, h) => n + h.batch_tokens!, 0),
    units.reduce((n, u) => n + u.sequences[0]!.ids.length + u.sequences[1]!.ids.length, 0),
  );
  t.like(out.batches, { unit: 'pair', batchSize: 2, batchTokens: 1000, steps: 3 });
  t.deepEqual(out.batches.unitsPerStep, { min: 1, mean: 5 / 3, max: 2 });
});
