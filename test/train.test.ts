// The shared trainer and the reward-model baselines: batches by token budget,
// schedule and settings checks, bitwise resumption mid-run, a Bradley-Terry
// model and the pairwise model learning a rule they were not shown verbatim.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../lib/index.js';
import { packByBudget, planEpochs } from '../lib/train/batches.js';
import { evaluateBradleyTerry, trainBradleyTerry, type PairLike } from '../lib/train/bt.js';
import { resolveSettings, trainUnits, type TrainUnit } from '../lib/train/trainer.js';
import { evaluatePairwise, trainPairwise } from '../lib/genrm/pairwise.js';
import { COMPACT_PAIRWISE } from '../lib/genrm/prompt.js';
import { fixtureTokenizer } from './judge-fixture.js';
import { rng } from './helpers.js';

const tokenizer = fixtureTokenizer();
const config = (over: Record<string, unknown> = {}) => ({
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: tokenizer.vocabSize,
  max_position_embeddings: 128,
  ...over,
});

test('batches never exceed the budget unless one unit alone does; every unit appears once per epoch', (t) => {
  const pick = rng(9);
  const sizes = Array.from({ length: 200 }, () => pick(1, 60));
  sizes[17] = 500;
  const plan = planEpochs(sizes, { budget: 128, epochs: 2, seed: 4 });
  const seen = new Array(200).fill(0);
  for (const b of plan) {
    const total = b.reduce((n, i) => n + sizes[i]!, 0);
    t.true(total <= 128 || b.length === 1, `batch of ${total} tokens with ${b.length} units`);
    for (const i of b) seen[i]++;
  }
  t.deepEqual(seen, new Array(200).fill(2));
  t.deepEqual(planEpochs(sizes, { budget: 128, epochs: 2, seed: 4 }), plan);
  t.notDeepEqual(planEpochs(sizes, { budget: 128, epochs: 2, seed: 5 }), plan);
  t.deepEqual(packByBudget([0, 1, 2, 3], [5, 5, 5, 20], 10), [[0, 1], [2], [3]]);
});

test('settings default to the paper and bad ones name the field', (t) => {
  t.like(resolveSettings(), { lr: 1e-6, beta1: 0.9, beta2: 0.95, weightDecay: 0.1, warmupRatio: 0.1 });
  t.throws(() => resolveSettings({ lr: 0 }), { message: 'lr: expected a positive number, got 0' });
  t.throws(() => resolveSettings({ epochs: 1.5 }), { message: 'epochs: expected an integer >= 1, got 1.5' });
  t.throws(() => resolveSettings({ beta2: 1 }), { message: /beta2/ });
});

function sftUnits(n: number, seed: number): TrainUnit[] {
  const pick = rng(seed);
  return Array.from({ length: n }, () => {
    const ids = Int32Array.from({ length: pick(4, 30) }, () => pick(0, tokenizer.vocabSize - 1));
    return { sequences: [{ ids, promptLength: 2 }] };
  });
}

test('bad units are refused before any step, naming the unit', async (t) => {
  const model = Model.create(config(), { seed: 1 });
  t.teardown(() => model.dispose());
  await t.throwsAsync(trainUnits(model, [], { type: 'sft' }), { message: /no training units/ });
  const long = { sequences: [{ ids: new Int32Array(129) }] };
  await t.throwsAsync(trainUnits(model, [...sftUnits(2, 1), long], { type: 'sft' }), {
    message: 'units[2].sequences[0]: 129 tokens; expected 1 to 128 (max_position_embeddings)',
  });
  await t.throwsAsync(trainUnits(model, sftUnits(2, 1), { type: 'bt' }), {
    message: /a bt unit is \[chosen, rejected\], got 1 sequences/,
  });
  await t.throwsAsync(trainUnits(model, [{ sequences: [{ ids: [1] }, { ids: [2] }] }], { type: 'dpo' }), {
    message: /refLogps/,
  });
  t.is(model.step, 0);
});

test('a run stopped mid-way, saved with its optimizer and resumed, ends bitwise where an uninterrupted run ends', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'genrm-train-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const units = sftUnits(40, 3);
  const settings = { lr: 1e-3, batchTokens: 100, epochs: 2, seed: 6 };
  const straight = Model.create(config(), { seed: 2 });
  const full = await trainUnits(straight, units, { type: 'sft' }, settings);
  t.false(full.aborted);
  t.is(straight.step, full.totalSteps);
  const lrs = full.history.map((h) => h.learning_rate!);
  t.true(lrs[0]! < lrs[Math.round(full.totalSteps * 0.1)]!, 'warmup');
  t.true(lrs.at(-1)! < 1e-4, 'cosine decays to 0');

  const first = Model.create(config(), { seed: 2 });
  const ac = new AbortController();
  const part = await trainUnits(first, units, { type: 'sft' }, settings, {
    signal: ac.signal,
    onProgress: (p) => p.step === 5 && ac.abort(),
  });
  t.true(part.aborted);
  t.is(part.step, 5);
  await first.save(dir, { optimizer: true });
  first.dispose();
  const second = await Model.load(dir, { optimizer: true });
  const rest = await trainUnits(second, units, { type: 'sft' }, settings, { resume: true });
  t.is(rest.history[0]!.step, 6);
  t.deepEqual(
    rest.history.map((h) => h.loss),
    full.history.slice(5).map((h) => h.loss),
  );
  for (const p of straight.parameters) t.deepEqual(second.parameter(p.name), straight.parameter(p.name), p.name);
  // Without resume, a new schedule starts from step 0 on the trained weights.
  const again = await trainUnits(second, units.slice(0, 4), { type: 'sft' }, { ...settings, epochs: 1 });
  t.is(again.history[0]!.step, 1);
  straight.dispose();
  second.dispose();
});

// Preference pairs where the better answer follows a hidden rule (it names a
// number that is even); the held-out pairs use numbers never seen in training.
function rulePairs(from: number, n: number): PairLike[] {
  return Array.from({ length: n }, (_, i) => {
    const x = from + 2 * i;
    return {
      id: `r${from}-${i}`,
      prompt: [{ role: 'user' as const, content: 'pick one' }],
      chosen: `it is ${x}`,
      rejected: `it is ${x + 1}`,
      subset: i % 2 ? 'odd' : 'even',
    };
  });
}

test('the Bradley-Terry model learns the rule and carries it to new numbers; a model without a head is refused', async (t) => {
  const model = Model.create(config({ reward_head: true }), { seed: 3 });
  t.teardown(() => model.dispose());
  const before = await evaluateBradleyTerry(model, tokenizer, rulePairs(1000, 40));
  const run = await trainBradleyTerry(model, tokenizer, rulePairs(0, 120), {
    lr: 3e-3,
    epochs: 6,
    batchTokens: 600,
    warmupRatio: 0,
  });
  t.deepEqual(run.skipped, []);
  const after = await evaluateBradleyTerry(model, tokenizer, rulePairs(1000, 40));
  const acc = (js: { score: number }[]) => js.reduce((s, j) => s + j.score, 0) / js.length;
  t.true(
    acc(after.judgements) >= 0.9,
    `held-out accuracy ${acc(after.judgements)} (before: ${acc(before.judgements)})`,
  );
  for (const j of after.judgements) t.is(j.score, j.rewardChosen > j.rewardRejected ? 1 : 0);
  const plain = Model.create(config(), { seed: 3 });
  t.teardown(() => plain.dispose());
  await t.throwsAsync(trainBradleyTerry(plain, tokenizer, rulePairs(0, 2)), { message: /no reward head/ });
});

test('the pairwise model is antisymmetric by construction and learns the rule', async (t) => {
  const model = Model.create(config({ reward_head: true, max_position_embeddings: 160 }), { seed: 4 });
  t.teardown(() => model.dispose());
  const ctx = { model, tokenizer, template: COMPACT_PAIRWISE };
  await trainPairwise(ctx, rulePairs(0, 120), { lr: 3e-3, epochs: 6, batchTokens: 1200, warmupRatio: 0 });
  const held = rulePairs(1000, 40);
  const { judgements } = await evaluatePairwise(ctx, held);
  const acc = judgements.reduce((s, j) => s + j.score, 0) / judgements.length;
  t.true(acc >= 0.9, `held-out accuracy ${acc}`);
  // Swapping chosen and rejected swaps the two orders: the judgement flips exactly.
  const swapped = await evaluatePairwise(
    ctx,
    held.map((p) => ({ ...p, chosen: p.rejected, rejected: p.chosen })),
  );
  swapped.judgements.forEach((j, i) => {
    t.is(j.rewardChosen, judgements[i]!.rewardRejected);
    t.is(j.score, 1 - judgements[i]!.score);
  });
});
