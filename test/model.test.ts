// The Model API: determinism, save/load/resume bitwise, queueing of overlapping
// calls, disposal, and clear errors for bad batches, objectives and checkpoints.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model, packSequences, packageRoot, resolvePrecision, type PackedBatch } from '../lib/index.js';
import { rng } from './helpers.js';

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
  tie_word_embeddings: false,
  reward_head: true,
};
const optim = { lr: 1e-2, beta1: 0.9, beta2: 0.95, weightDecay: 0.1, maxGradNorm: 1, warmupSteps: 2, totalSteps: 8 };

function batches(count: number, seed: number): PackedBatch[] {
  const pick = rng(seed);
  return Array.from({ length: count }, () =>
    packSequences(
      Array.from({ length: 4 }, () => {
        const len = pick(3, 20);
        return { ids: Array.from({ length: len }, () => pick(0, 49)), promptLength: pick(1, 2) };
      }),
    ),
  );
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'genrm-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('same seed: bitwise-identical loss curves; another seed differs', async (t) => {
  // One batch four times: its loss must fall as the model fits it.
  const data = Array.from({ length: 4 }, () => batches(1, 1)[0]!);
  const curve = async (seed: number) => {
    const m = Model.create(config, { seed });
    const out: number[] = [];
    for (const b of data) out.push((await m.trainStep({ type: 'sft' }, b, optim)).loss!);
    m.dispose();
    return out;
  };
  const a = await curve(3),
    b = await curve(3),
    c = await curve(4);
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  t.true(a[3]! < a[0]!, `the loss falls: ${a.join(', ')}`);
});

test('save, load and continue: the same loss curve, bitwise, as a run that never stopped', async (t) => {
  const dir = tmp(t);
  const data = batches(8, 2);
  const straight = Model.create(config, { seed: 9 });
  const full: number[] = [];
  for (const b of data) full.push((await straight.trainStep({ type: 'sft' }, b, optim)).loss!);
  straight.dispose();

  const first = Model.create(config, { seed: 9 });
  const resumed: number[] = [];
  for (const b of data.slice(0, 3)) resumed.push((await first.trainStep({ type: 'sft' }, b, optim)).loss!);
  await first.save(dir, { optimizer: true });
  first.dispose();
  const second = await Model.load(dir, { optimizer: true });
  t.is(second.step, 3);
  for (const b of data.slice(3)) resumed.push((await second.trainStep({ type: 'sft' }, b, optim)).loss!);
  second.dispose();
  t.deepEqual(resumed, full);
});

test('a saved checkpoint reloads with identical parameters and outputs', async (t) => {
  const dir = tmp(t);
  const m = Model.create({ ...config, tie_word_embeddings: true }, { seed: 5 });
  await m.save(dir);
  const back = await Model.load(dir);
  for (const p of m.parameters) t.deepEqual(back.parameter(p.name), m.parameter(p.name), p.name);
  const [b] = batches(1, 3);
  t.deepEqual((await back.forward(b!)).seqLogps, (await m.forward(b!)).seqLogps);
  m.dispose();
  back.dispose();
});

test('overlapping calls on one model queue instead of corrupting it', async (t) => {
  const data = batches(3, 4);
  const serial = Model.create(config, { seed: 1 });
  const want: number[] = [];
  for (const b of data) want.push((await serial.trainStep({ type: 'sft' }, b, optim)).loss!);
  serial.dispose();
  const m = Model.create(config, { seed: 1 });
  // Fire everything at once: gradients, steps and forwards interleave only in call order.
  const got = await Promise.all(data.map((b) => m.trainStep({ type: 'sft' }, b, optim)));
  t.deepEqual(
    got.map((x) => x.loss),
    want,
  );
  m.dispose();
});

test('the native handle refuses a second call while one runs', async (t) => {
  const m = Model.create(config);
  const [b] = batches(1, 5);
  const handle = m as unknown as Record<string, unknown>;
  // Reach the raw handle the way a careless embedder might, through the binding.
  const { native } = await import('../lib/native.js');
  const Raw = native().binding.Model;
  const raw = new Raw(config, 1);
  const first = raw.run(b!, { type: 'sft', lossScale: 1 }, { backward: true });
  t.throws(() => raw.run(b!, { type: 'sft', lossScale: 1 }, {}), {
    message: /run: the model is busy with another call; await it first/,
  });
  t.throws(() => raw.dispose(), { message: /dispose: the model is busy/ });
  await first;
  raw.dispose();
  t.truthy(handle);
  m.dispose();
});

test('dispose frees the model; later calls say so', async (t) => {
  const m = Model.create(config);
  m.dispose();
  m.dispose();
  t.true(m.disposed);
  const [b] = batches(1, 6);
  await t.throwsAsync(() => m.forward(b!), { message: /the model was disposed/ });
  t.throws(() => m.parameter('model.norm.weight'), { message: /the model was disposed/ });
});

test('bad batches are clear errors naming the field', async (t) => {
  const m = Model.create(config);
  t.teardown(() => m.dispose());
  const ok = packSequences([
    { ids: [1, 2, 3], promptLength: 1 },
    { ids: [4, 5], promptLength: 1 },
  ]);
  const cases: Array<[Partial<PackedBatch> & Record<string, unknown>, RegExp]> = [
    [{ ids: Int32Array.of(1, 2, 50, 4, 5) }, /ids\[2\]: expected a token id in \[0, 50\), got 50/],
    [{ ids: new Int32Array(0), cuSeqlens: Int32Array.of(0) }, /ids: expected at least one token, got an empty batch/],
    [{ cuSeqlens: Int32Array.of(0, 4, 2, 5) }, /cuSeqlens\[2\]: expected >= cuSeqlens\[1\] \(4\), got 2/],
    [{ cuSeqlens: Int32Array.of(0, 3, 6) }, /cuSeqlens\[2\]: expected the token count 5, got 6/],
    [
      { lossMask: Uint8Array.of(1, 0, 1, 0, 1) },
      /lossMask\[0\]: expected 0 \(the first token of sequence 0 has no prediction\), got 1/,
    ],
    [{ lossMask: Uint8Array.of(0, 1) }, /lossMask\.length: expected 5, got 2/],
    [
      { ids: Float32Array.of(1, 2, 3, 4, 5) as unknown as Int32Array },
      /ids: expected an Int32Array, got a Float32Array/,
    ],
  ];
  for (const [patch, message] of cases)
    await t.throwsAsync(() => m.forward({ ...ok, ...patch } as PackedBatch), { message }, String(message));
  const long = packSequences([{ ids: Array.from({ length: 65 }, () => 1) }]);
  await t.throwsAsync(() => m.forward(long), {
    message: /sequence 0 length: expected at most max_position_embeddings \(64\), got 65/,
  });
});

test('bad objectives and optimizer settings are clear errors; a NaN-free model stays unchanged', async (t) => {
  const m = Model.create(config);
  t.teardown(() => m.dispose());
  const b = packSequences([
    { ids: [1, 2, 3], promptLength: 1 },
    { ids: [4, 5, 6], promptLength: 1 },
  ]);
  const before = m.parameter('model.embed_tokens.weight');
  await t.throwsAsync(() => m.computeGradients({ type: 'dpo', pairs: [[0, 2]], refLogps: [0, 0] }, b), {
    message: /pairs\[0\]\.rejected: expected a sequence index in \[0, 2\), got 2/,
  });
  await t.throwsAsync(() => m.computeGradients({ type: 'dpo', pairs: [[0, 1]], refLogps: [0, Number.NaN] }, b), {
    message: /refLogps\[1\]: expected a finite number, got nan/i,
  });
  await t.throwsAsync(() => m.computeGradients({ type: 'dpo', pairs: [[0, 1]], refLogps: [0] }, b), {
    message: /refLogps\.length: expected 2, got 1/,
  });
  await t.throwsAsync(() => m.computeGradients({ type: 'dpo', pairs: [[0, 1]], refLogps: [0, 0], beta: -1 }, b), {
    message: /beta: expected a positive number, got -1/,
  });
  await t.throwsAsync(() => m.optimizerStep({ lr: Number.NaN }), { message: /lr: expected a number in/ });
  await t.throwsAsync(() => m.optimizerStep({ beta2: 1 }), { message: /beta1, beta2: expected numbers in \[0, 1\)/ });
  const noMask = packSequences([{ ids: [1, 2, 3] }]);
  await t.throwsAsync(() => m.computeGradients({ type: 'sft' }, noMask), {
    message: /lossMask: this objective needs target tokens/,
  });
  t.deepEqual(m.parameter('model.embed_tokens.weight'), before);
  t.true(m.gradient('model.embed_tokens.weight').every((x) => x === 0));
});

test('a loss that overflows stops the step and leaves parameters and gradients untouched', async (t) => {
  const m = Model.create(config, { seed: 2 });
  t.teardown(() => m.dispose());
  // A huge norm weight makes the logits overflow to inf in float32.
  await m.setParameter('model.norm.weight', new Float32Array(config.hidden_size).fill(3e38));
  const b = packSequences([{ ids: [1, 2, 3, 4], promptLength: 1 }]);
  const before = m.parameter('lm_head.weight');
  await t.throwsAsync(() => m.computeGradients({ type: 'sft' }, b), {
    message: /loss is (NaN|infinite); the step was stopped/,
  });
  t.deepEqual(m.parameter('lm_head.weight'), before);
  t.true(m.gradient('lm_head.weight').every((x) => x === 0));
});

test('config problems are reported before anything is allocated', (t) => {
  t.throws(() => Model.create({ ...config, num_attention_heads: 5 }), { message: /num_attention_heads/ });
  t.throws(() => Model.create({ ...config, num_key_value_heads: 3 }), { message: /num_key_value_heads/ });
  t.throws(() => Model.create({ ...config, hidden_size: 0 }), { message: /hidden_size/ });
});

test('checkpoints whose tensors disagree with the config are refused by name', async (t) => {
  const dir = tmp(t);
  const m = Model.create(config);
  await m.save(dir);
  m.dispose();
  const cfg = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 40 }));
  await t.throwsAsync(() => Model.load(dir), {
    message: /model\.layers\.0\.mlp\.gate_proj\.weight: expected shape \[40, 32\] from the config, got \[48, 32\]/,
  });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: true }));
  // As in transformers, a tied model ignores a stored lm_head.weight.
  const tied = await Model.load(dir);
  t.false(tied.parameters.some((p) => p.name === 'lm_head.weight'));
  tied.dispose();
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, reward_head: false }));
  await t.throwsAsync(() => Model.load(dir), { message: /unexpected tensor score\.weight/ });
});

test('native models are freed by dispose() at once and by the garbage collector once dropped', (t) => {
  // Counted by the engine, not read off the resident size: freed pages need not
  // go back to the OS (transparent huge pages, malloc arenas). In a child with
  // --expose-gc: 25 models, odd ones disposed, even ones dropped.
  const script = `
    import { Model, info } from './lib/index.ts';
    const cfg = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4, vocab_size: 300 };
    const live = () => info().liveModels;
    const start = live();
    const counts = [];
    (function churn() {
      for (let i = 0; i < 25; i++) {
        const m = Model.create(cfg);
        if (i % 2) { m.dispose(); counts.push(live()); }
      }
    })();
    for (let i = 0; i < 20 && live() > start; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ start, counts, end: live() }));
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '--import=tsx', '--input-type=module', '-e', script], {
    cwd: packageRoot(),
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    start: number;
    counts: number[];
    end: number;
  };
  t.is(got.start, 0);
  // After disposing model 2k+1, at most the k+1 dropped ones 0, 2, ..., 2k are alive.
  got.counts.forEach((c, k) => t.true(c <= k + 1, `after ${k + 1} disposals ${c} models are alive`));
  t.is(got.end, 0, 'every dropped model is freed once collected');
});

test('gradient accumulation: two half-scaled passes equal one full pass', async (t) => {
  const [b] = batches(1, 7);
  const once = Model.create(config, { seed: 4 });
  const twice = Model.create(config, { seed: 4 });
  await once.computeGradients({ type: 'sft' }, b!);
  await twice.computeGradients({ type: 'sft' }, b!, { lossScale: 0.5 });
  await twice.computeGradients({ type: 'sft' }, b!, { lossScale: 0.5 });
  for (const p of once.parameters) {
    const g1 = once.gradient(p.name),
      g2 = twice.gradient(p.name);
    let worst = 0,
      scale = 0;
    for (let i = 0; i < g1.length; i++) {
      worst = Math.max(worst, Math.abs(g1[i]! - g2[i]!));
      scale = Math.max(scale, Math.abs(g1[i]!));
    }
    t.true(worst <= 1e-6 * Math.max(scale, 1e-3), `${p.name}: ${worst}`);
  }
  once.dispose();
  twice.dispose();
});

test('learning rate follows linear warmup then cosine decay (HF schedule, step counted from 0)', async (t) => {
  const m = Model.create(config);
  t.teardown(() => m.dispose());
  const [b] = batches(1, 8);
  const lr = 1e-3,
    warmupSteps = 2,
    totalSteps = 6,
    minLrRatio = 0.1;
  const want = (s: number) =>
    s < warmupSteps
      ? (lr * s) / warmupSteps
      : lr *
        (minLrRatio +
          (1 - minLrRatio) *
            0.5 *
            (1 + Math.cos(Math.PI * Math.min(1, (s - warmupSteps) / (totalSteps - warmupSteps)))));
  for (let s = 0; s < 8; s++) {
    const r = await m.trainStep({ type: 'sft' }, b!, { lr, warmupSteps, totalSteps, minLrRatio });
    t.true(Math.abs(r.learning_rate! - want(s)) < 1e-12, `step ${s}: ${r.learning_rate} vs ${want(s)}`);
    t.is(r.step, s + 1);
  }
});

test('training runs off the event loop: timers keep firing during a step', async (t) => {
  const m = Model.create({
    ...config,
    hidden_size: 128,
    intermediate_size: 256,
    num_hidden_layers: 4,
    vocab_size: 2000,
  });
  t.teardown(() => m.dispose());
  const b = packSequences(
    Array.from({ length: 8 }, (_, i) => ({
      ids: Array.from({ length: 64 }, (_, j) => (i * 31 + j * 7) % 2000),
      promptLength: 1,
    })),
  );
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const start = performance.now();
  await m.trainStep({ type: 'sft' }, b, optim);
  await m.trainStep({ type: 'sft' }, b, optim);
  const elapsed = performance.now() - start;
  clearInterval(timer);
  t.true(ticks >= Math.min(5, elapsed / 10), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
});

test('BF16 checkpoints load, converted to float32, and save as BF16 unless asked for F32', async (t) => {
  const dir = tmp(t);
  const m = Model.create(config, { seed: 6 });
  await m.save(dir);
  const { float32ToBf16, bf16ToFloat32 } = await import('../lib/model/safetensors.js');
  const { writeSafetensors } = await import('../lib/index.js');
  await writeSafetensors(
    join(dir, 'model.safetensors'),
    m.parameters.map((p) => ({
      name: p.name,
      dtype: 'BF16' as const,
      shape: p.shape,
      data: float32ToBf16(m.parameter(p.name)),
    })),
  );
  // Weights from another writer beside genrm's manifest are refused until the manifest goes.
  await t.throwsAsync(Model.load(dir), {
    message: /the folder mixes two checkpoints \(delete checkpoint\.json to load the files as they are\)/,
  });
  rmSync(join(dir, 'checkpoint.json'));
  const back = await Model.load(dir);
  for (const p of m.parameters)
    t.deepEqual(back.parameter(p.name), bf16ToFloat32(float32ToBf16(m.parameter(p.name))), p.name);
  // Saved again, a bf16 checkpoint stays bf16 (losslessly: its values are bf16's), unless asked otherwise;
  // a resumable save (with the optimizer) stores the F32 master weights.
  const { openSafetensors } = await import('../lib/index.js');
  const stored = async (d: string) => {
    const r = await openSafetensors(join(d, 'model.safetensors'));
    const dtypes = new Set(r.tensors.map((x) => x.dtype));
    await r.close();
    const torch = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')).torch_dtype;
    return [...dtypes, torch].join(' ');
  };
  const [bf, f32, resumable] = [tmp(t), tmp(t), tmp(t)];
  await back.save(bf);
  t.is(await stored(bf), 'BF16 bfloat16');
  const again = await Model.load(bf);
  for (const p of m.parameters) t.deepEqual(again.parameter(p.name), back.parameter(p.name), p.name);
  await back.save(f32, { dtype: 'F32' });
  t.is(await stored(f32), 'F32 float32');
  await back.save(resumable, { optimizer: true });
  t.is(await stored(resumable), 'F32 float32');
  await t.throwsAsync(back.save(resumable, { optimizer: true, dtype: 'BF16' }), {
    message: /a save with the optimizer resumes from its weights bitwise, so it stores them as F32, not BF16/,
  });
  await m.save(dir);
  t.is(await stored(dir), 'F32 float32', 'a created model saves F32');
  again.dispose();
  back.dispose();
  m.dispose();
});

test('precision: bf16 or fp32 from the option or GENRM_PRECISION; other values are errors naming the source', (t) => {
  const saved = process.env.GENRM_PRECISION;
  t.teardown(() => {
    if (saved === undefined) delete process.env.GENRM_PRECISION;
    else process.env.GENRM_PRECISION = saved;
  });
  delete process.env.GENRM_PRECISION;
  t.is(resolvePrecision(undefined), 'bf16');
  t.is(resolvePrecision('FP32'), 'fp32');
  process.env.GENRM_PRECISION = 'fp32';
  t.is(resolvePrecision(undefined), 'fp32');
  t.is(resolvePrecision('bf16'), 'bf16');
  process.env.GENRM_PRECISION = 'fp16';
  t.throws(() => resolvePrecision(undefined), { message: /GENRM_PRECISION: expected one of bf16, fp32, got "fp16"/ });
  t.throws(() => Model.create(config, { precision: 'tf32' as 'fp32' }), {
    message: /precision: expected one of bf16, fp32, got "tf32"/,
  });
  // A model reports where it runs and the arithmetic in effect (always fp32 on the CPU).
  delete process.env.GENRM_PRECISION;
  const m = Model.create(config, { precision: 'bf16' });
  t.is(m.precision, m.device === 'cuda' ? 'bf16' : 'fp32');
  m.dispose();
});

test('deterministic: a boolean option, reported by the model (always true on the CPU); other values are errors', (t) => {
  t.throws(() => Model.create(config, { deterministic: 'no' as unknown as boolean }), {
    instanceOf: TypeError,
    message: /deterministic: expected a boolean, got "no"/,
  });
  t.true(Model.create(config).deterministic);
  const fast = Model.create(config, { deterministic: false });
  t.is(fast.deterministic, fast.device !== 'cuda');
  fast.dispose();
});

test('the native layer has no defaults: a missing objective or optimizer value is a named error', async (t) => {
  const { native } = await import('../lib/native.js');
  const Raw = native().binding.Model;
  // What a caller outside the typed API could pass: fields missing on purpose.
  type Loose = Parameters<InstanceType<typeof Raw>['run']>[1] & Parameters<InstanceType<typeof Raw>['step']>[0];
  const loose = (o: object) => o as Loose;
  const raw = new Raw(config, 1);
  const [b] = batches(1, 5);
  try {
    t.throws(() => raw.run(b!, loose({ type: 'sft' }), {}), { message: /lossScale: expected a number, got undefined/ });
    t.throws(() => raw.run(b!, loose({ lossScale: 1 }), {}), { message: /type: expected a string, got undefined/ });
    const dpo = {
      type: 'dpo',
      pairs: Int32Array.of(0, 1),
      refLogps: Float32Array.of(0, 0),
      lossScale: 1,
      lossType: 'sigmoid',
      labelSmoothing: 0,
    };
    t.throws(() => raw.run(b!, loose(dpo), {}), { message: /beta: expected a number, got undefined/ });
    const optim = {
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0,
      maxGradNorm: 1,
      warmupSteps: 0,
      totalSteps: 0,
      minLrRatio: 0,
    };
    for (const key of Object.keys(optim)) {
      const partial: Record<string, number> = { ...optim };
      delete partial[key];
      t.throws(() => raw.step(loose(partial)), { message: new RegExp(`${key}: expected`) }, key);
    }
  } finally {
    raw.dispose();
  }
});

test('a Mistral model with a sliding window runs sequences up to the window and refuses longer ones by name', async (t) => {
  const m = Model.create({ ...config, model_type: 'mistral', sliding_window: 8 });
  t.teardown(() => m.dispose());
  t.is(m.config.model_type, 'mistral');
  const fits = await m.forward(packSequences([{ ids: [1, 2, 3, 4, 5, 6, 7, 8] }]), { logits: { row0: 0, rows: 8 } });
  t.is(fits.logits!.length, 8 * config.vocab_size);
  await t.throwsAsync(() => m.forward(packSequences([{ ids: [1, 2, 3, 4, 5, 6, 7, 8, 9] }])), {
    message: /sequence 0 length: expected at most sliding_window \(8; genrm does not compute windowed attention/,
  });
  await t.throwsAsync(() => m.generate([{ ids: [1, 2, 3, 4, 5] }], { maxNewTokens: 4 }), {
    message: /requests\[0\]: expected prompt \+ maxNewTokens <= sliding_window \(8;.*got 5 \+ 4/,
  });
  const { results } = await m.generate([{ ids: [1, 2, 3, 4, 5] }], { maxNewTokens: 3, temperature: 0 });
  t.is(results[0]![0]!.tokens.length, 3);
});
