// The GenRM commands end to end through the compiled CLI, on the tiny judge and
// files in the datasets' own layouts: train-bt (and --pairwise) and train-genrm
// learn a preference that holds on held-out questions, star, eval (RewardBench
// scoring) and judge run; Ctrl-C saves, and the same command resumes; bad input
// is a clear error.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePreferencesJsonl, type PreferencePair } from '../lib/data/index.js';
import { REWARDBENCH } from '../lib/eval/index.js';
import { cliPath } from './helpers.js';
import { makePairs, verdictJudge } from './judge-fixture.js';

let root = '';
let model = '';
let uf = '';
let rb = '';
// A preference the tiny judge can learn and then apply to questions it never saw:
// the preferred answer states the sum, the other hedges between two numbers.
let learn = '';
let heldOut = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'genrm-cli-'));
  const { ctx, dir } = await verdictJudge(3);
  ctx.model.dispose();
  model = dir;
  const asPairs = (n: number, prefix: string, subsets?: string[]): PreferencePair[] =>
    makePairs(n, prefix).map((p, i) => {
      const { subset: _, ...rest } = p;
      return subsets
        ? { ...rest, prompt: [...p.prompt], source: 'test', subset: subsets[i % subsets.length]! }
        : { ...rest, prompt: [...p.prompt], source: 'test', group: p.id, scores: { chosen: 8, rejected: 4 } };
    });
  uf = join(root, 'train_prefs.jsonl');
  await writePreferencesJsonl(uf, asPairs(24, 'u'), 'ultrafeedback');
  const hedged = (from: number, n: number, prefix: string): PreferencePair[] =>
    Array.from({ length: n }, (_, k) => {
      const i = from + k;
      return {
        id: `${prefix}${i}`,
        prompt: [{ role: 'user', content: `add ${i} and ${i + 1}` }],
        chosen: `it is ${2 * i + 1}.`,
        rejected: `it is ${2 * i + 1} or so, maybe ${2 * i + 4}?`,
        source: 'test',
        group: `${prefix}${i}`,
        scores: { chosen: 8, rejected: 4 },
      };
    });
  learn = join(root, 'learn.jsonl');
  await writePreferencesJsonl(learn, hedged(0, 48, 'l'), 'ultrafeedback');
  heldOut = join(root, 'held_out.jsonl');
  await writePreferencesJsonl(heldOut, hedged(100, 48, 'h'), 'ultrafeedback');
  rb = join(root, 'filtered.jsonl');
  const all = Object.values(REWARDBENCH.sections).flatMap((s) => Object.keys(s.subsets));
  await writePreferencesJsonl(rb, asPairs(all.length * 2, 'r', all), 'rewardbench');
});
test.after.always(async () => {
  if (model) await rm(model, { recursive: true, force: true });
  if (root) await rm(root, { recursive: true, force: true });
});

function cli(args: string[]) {
  return spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GENRM_THREADS: '1' },
  });
}
const fast = ['--lr', '1e-3', '--batch-tokens', '400', '--template', 'compact-pairwise'];
// Three passes over the 48 pairs: enough to overturn the fixture judge's own leaning,
// which (depending on its seed) can be to prefer the hedging answer in every pair.
const learnEpochs = ['--epochs', '3'];

/** eval --json's accuracy of one judge on one file: { accuracy, count, low, high } (a 95% Wilson interval). */
function heldOutAccuracy(t: ExecutionContext, args: string[]) {
  const e = cli(['eval', ...args, '--data', heldOut, '--json', '--template', 'compact-pairwise']);
  t.is(e.status, 0, e.stderr);
  const [res] = JSON.parse(e.stdout);
  t.is(res.accuracy.count, 48);
  return res.accuracy as { accuracy: number; low: number; high: number };
}

test.serial('train-bt and train-bt --pairwise learn a preference that holds on held-out questions', (t) => {
  for (const [name, extra] of [
    ['bt', []],
    ['pairwise', ['--pairwise']],
  ] as const) {
    const out = join(root, name);
    const r = cli(['train-bt', '--model', model, '--data', learn, '--out', out, ...fast, ...learnEpochs, ...extra]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /ultrafeedback format, 48 rows, 48 pairs/);
    t.regex(r.stderr, /done: \d+ steps, last loss/);
    t.true(existsSync(join(out, 'model.safetensors')) && existsSync(join(out, 'tokenizer.json')));
    // Chance is 0.5; the 95% interval's lower end must clear it on 48 pairs of new questions.
    const acc = heldOutAccuracy(t, ['--model', out, '--judge', name]);
    t.true(acc.low > 0.5, `${name}: held-out accuracy ${acc.accuracy} (95% interval from ${acc.low})`);
  }
});

test.serial('train-genrm learns to judge: held-out accuracy clears the untrained judge', (t) => {
  const before = heldOutAccuracy(t, ['--model', model, '--judge', 'direct']);
  const out = join(root, 'genrm-learn');
  const r = cli(['train-genrm', '--model', model, '--data', learn, '--out', out, ...fast, ...learnEpochs]);
  t.is(r.status, 0, r.stderr);
  const after = heldOutAccuracy(t, ['--model', out, '--judge', 'direct']);
  // The intervals do not overlap: the difference is learning, not the draw of pairs.
  t.true(
    after.low > before.high,
    `held-out accuracy ${before.accuracy} [${before.low}, ${before.high}] -> ${after.accuracy} [${after.low}, ${after.high}]`,
  );
});

test.serial(
  'train-genrm, then eval on RewardBench-format data reports every section, the overall and a report folder',
  async (t) => {
    const out = join(root, 'genrm');
    const r = cli(['train-genrm', '--model', model, '--data', uf, '--out', out, ...fast]);
    t.is(r.status, 0, r.stderr);
    const report = join(root, 'report');
    const e = cli(['eval', '--model', out, '--data', rb, '--template', 'compact-pairwise', '--out', report]);
    t.is(e.status, 0, e.stderr);
    for (const section of ['Chat', 'Chat Hard', 'Safety', 'Reasoning']) t.true(e.stdout.includes(section), section);
    // RewardBench's subsets: its official protocol by default, one order per pair.
    t.regex(e.stdout, /judge: direct; protocol: rewardbench; positions: one order per pair drawn from seed 0/);
    const json = JSON.parse(await readFile(join(report, 'report.json'), 'utf8'));
    t.is(typeof json[0].benchmark.overall, 'number');
    // The record names the protocol, why it was chosen, and the one setting given that differs from it.
    t.is(json[0].protocol.name, 'rewardbench');
    t.is(json[0].protocol.chosenBy, "the default for RewardBench's subsets");
    t.deepEqual(json[0].protocol.differences, [
      { setting: 'template', protocol: 'mt-bench-pairwise', used: 'compact-pairwise' },
    ]);
    t.deepEqual(json[0].benchmark.protocol, json[0].protocol);
    const md = await readFile(join(report, 'report.md'), 'utf8');
    t.regex(md, /Protocol: rewardbench/);
    t.regex(md, /Differs from rewardbench: template compact-pairwise \(protocol: mt-bench-pairwise\)/);
    // Another protocol, named, judges both orders.
    const g = cli([
      'eval',
      '--model',
      out,
      '--data',
      rb,
      '--template',
      'compact-pairwise',
      '--protocol',
      'genrm',
      '--json',
    ]);
    t.is(g.status, 0, g.stderr);
    const [res] = JSON.parse(g.stdout);
    t.is(res.protocol.name, 'genrm');
    t.is(res.protocol.chosenBy, 'given with --protocol');
    t.is(res.positions, 'both orders, log-prob margins summed');
    t.deepEqual(res.protocol.settings, { template: 'compact-pairwise', multiTurn: 'flatten', directPositions: 'both' });
    // An explicit order on the official protocol is recorded as a difference.
    const both = cli([
      'eval',
      '--model',
      out,
      '--data',
      rb,
      '--template',
      'compact-pairwise',
      '--positions',
      'both',
      '--json',
    ]);
    t.is(both.status, 0, both.stderr);
    t.deepEqual(JSON.parse(both.stdout)[0].protocol.differences, [
      { setting: 'template', protocol: 'mt-bench-pairwise', used: 'compact-pairwise' },
      { setting: 'directPositions', protocol: 'random', used: 'both' },
    ]);
    const lines = (await readFile(join(report, 'judgements.jsonl'), 'utf8')).trim().split('\n');
    t.is(lines.length, Object.values(REWARDBENCH.sections).flatMap((s) => Object.keys(s.subsets)).length * 2);
    t.true(existsSync(join(report, 'charts', 'sections-1.svg')));
  },
);

test.serial("eval --benchmark takes a built-in world's world.json and scores its sections", async (t) => {
  const { generateWorld, writeWorld } = await import('../lib/world/index.js');
  const dir = join(root, 'world');
  const world = generateWorld({ seed: 2, trainSize: 20, testSize: 20, subsetSize: 2 });
  await writeWorld(dir, world, { fsync: false });
  // The world's subsets on short pairs the tiny test judge can read.
  const subsets = Object.values(world.info.sections).flatMap((s) => Object.keys(s));
  const short = join(root, 'world-short.jsonl');
  await writePreferencesJsonl(
    short,
    makePairs(subsets.length * 2, 'w').map((p, i) => ({
      id: p.id,
      prompt: [...p.prompt],
      chosen: p.chosen,
      rejected: p.rejected,
      source: 'test',
      subset: subsets[i % subsets.length]!,
    })),
    'rewardbench',
  );
  const e = cli([
    'eval',
    '--model',
    model,
    '--data',
    short,
    '--benchmark',
    join(dir, 'world.json'),
    '--json',
    '--template',
    'compact-pairwise',
  ]);
  t.is(e.status, 0, e.stderr);
  const [res] = JSON.parse(e.stdout);
  t.deepEqual(Object.keys(res.benchmark.sections), ['Chat', 'Chat Hard', 'Safety', 'Reasoning']);
  t.is(typeof res.benchmark.overall, 'number');
  const bad = cli(['eval', '--model', model, '--data', uf, '--benchmark', uf]);
  t.is(bad.status, 1, bad.stdout + bad.stderr);
  t.regex(bad.stderr, /--benchmark .*train_prefs\.jsonl/);
});

test.serial(
  'star --mode dpo writes its iterations; eval --judge cot votes; judge prints rationales and a verdict',
  (t) => {
    const out = join(root, 'star');
    const r = cli([
      'star',
      '--mode',
      'dpo',
      '--model',
      model,
      '--data',
      uf,
      '--out',
      out,
      '--iterations',
      '2',
      '--k',
      '4',
      '--max-new-tokens',
      '12',
      ...fast,
    ]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /iteration 2: 12 pairs, 48 rationales/);
    t.true(existsSync(join(out, 'iter-2', 'checkpoint', 'model.safetensors')));
    const e = cli([
      'eval',
      '--model',
      join(out, 'iter-2', 'checkpoint'),
      '--judge',
      'cot',
      '--k',
      '3',
      '--max-new-tokens',
      '12',
      '--data',
      uf,
      '--template',
      'compact-pairwise',
    ]);
    t.is(e.status, 0, e.stderr);
    t.regex(e.stdout, /samples gave no verdict/);
    // Not RewardBench's data: genrm's protocol, with the two options given recorded as differences.
    t.regex(e.stdout, /protocol: genrm/);
    t.regex(
      e.stdout,
      /Differs from genrm: template compact-pairwise \(protocol: mt-bench-pairwise\); k 3 \(protocol: 7\); maxNewTokens 12 \(protocol: 512\)/,
    );
    const j = cli([
      'judge',
      '--model',
      model,
      '--question',
      'add 1 and 2',
      '--a',
      'it is 3',
      '--b',
      'it is 5',
      '--k',
      '2',
      '--max-new-tokens',
      '12',
      '--template',
      'compact-pairwise',
    ]);
    t.is(j.status, 0, j.stderr);
    t.regex(j.stdout, /--- rationale 1 \((stop|length)\) ---/);
    t.regex(j.stdout, /verdict: (\[\[A\]\]|\[\[B\]\]|tie) \(\d for A, \d for B/);
    t.regex(j.stdout, /protocol: genrm; differs: template compact-pairwise \(protocol: mt-bench-pairwise\); k 2/);
    const d = cli([
      'judge',
      '--model',
      model,
      '--question',
      'q',
      '--a',
      'x',
      '--b',
      'y',
      '--direct',
      '--template',
      'compact-pairwise',
    ]);
    t.regex(d.stdout, /p\(A \| A or B\) = 0\.\d{4}/);
    t.regex(d.stdout, /mean over both orders/);
    // The official protocol shows one order, drawn from the seed.
    const o = cli([
      ...['judge', '--model', model, '--question', 'q', '--a', 'x', '--b', 'y', '--direct'],
      '--protocol',
      'rewardbench',
      '--template',
      'compact-pairwise',
    ]);
    t.is(o.status, 0, o.stderr);
    t.regex(o.stdout, /with the answers shown (as given|swapped), log p/);
    t.regex(o.stdout, /protocol: rewardbench/);
  },
);

test.serial('star --protocol paper records the protocol, what it leaves open and the pairs per step', async (t) => {
  const out = join(root, 'star-paper');
  const r = cli([
    'star',
    '--mode',
    'dpo',
    '--protocol',
    'paper',
    '--model',
    model,
    '--data',
    uf,
    '--out',
    out,
    '--iterations',
    '1',
    '--k',
    '4',
    '--max-new-tokens',
    '12',
    '--batch-size',
    '2',
    ...fast,
  ]);
  t.is(r.status, 0, r.stderr);
  t.regex(
    r.stderr,
    /protocol: paper; differs: template compact-pairwise \(protocol: mt-bench-pairwise\); maxNewTokens 12 \(protocol: 2048\); lr 0\.001 \(protocol: 0\.000001\); iterations 1 \(protocol: 3\); not stated by the source: multiTurn, cotPositions, verdictRule, starK$/m,
  );
  const metrics = JSON.parse(await readFile(join(out, 'iter-1', 'metrics.json'), 'utf8'));
  t.is(metrics.protocol.name, 'paper');
  t.true(metrics.protocol.unstated.some((u: { setting: string }) => u.setting === 'starK'));
  t.true(metrics.protocol.notes.some((n: string) => /does not give its batch size/.test(n)));
  if (metrics.trainSteps > 0) {
    t.is(metrics.batches.unit, 'pair');
    t.true(metrics.batches.unitsPerStep.max <= 2);
    t.regex(r.stderr, /batches: \d-\d pairs per step/);
  }
  const rb = cli([
    'star',
    '--mode',
    'sft',
    '--protocol',
    'rewardbench',
    '--model',
    model,
    '--data',
    uf,
    '--out',
    join(root, 'no'),
  ]);
  t.is(rb.status, 1);
  t.regex(rb.stderr, /argument 'rewardbench' is invalid. Allowed choices are paper, genrm/);
});

test.serial('train-genrm --batch-size caps the sequences of a step and says what steps held', async (t) => {
  const out = join(root, 'batched');
  const r = cli([
    'train-genrm',
    '--model',
    model,
    '--data',
    uf,
    '--out',
    out,
    ...fast,
    '--batch-tokens',
    '100000',
    '--batch-size',
    '5',
  ]);
  t.is(r.status, 0, r.stderr);
  // 24 pairs, both orders: 48 sequences, five a step.
  t.regex(r.stderr, /done: 10 steps/);
  t.regex(r.stderr, /batches: 3-5 sequences per step \(mean 4\.8\)/);
  const log = JSON.parse(await readFile(join(out, 'train.json'), 'utf8'));
  t.deepEqual(
    log.outcome.history.map((h: { batch_units: number }) => h.batch_units),
    [5, 5, 5, 5, 5, 5, 5, 5, 5, 3],
  );
  t.is(log.outcome.batches.unit, 'sequence');
});

test.serial('Ctrl-C during training saves a checkpoint; the same command resumes and finishes', async (t) => {
  const out = join(root, 'interrupted');
  const args = [cliPath, 'train-genrm', '--model', model, '--data', uf, '--out', out, ...fast, '--epochs', '80'];
  const child = spawn(process.execPath, args, { env: { ...process.env, GENRM_THREADS: '1' } });
  let stderr = '';
  // The Ctrl-C handler is in place once the data is read; stop a second later, mid-training.
  const ready = new Promise<void>((resolve) =>
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/24 pairs/.test(stderr)) resolve();
    }),
  );
  await ready;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(code, 130, stderr);
  t.regex(stderr, /stopped at step \d+ of \d+; run the same command again to resume/);
  t.true(existsSync(join(out, 'partial', 'optimizer.safetensors')));
  const again = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, GENRM_THREADS: '1' } });
  t.is(again.status, 0, again.stderr);
  t.false(existsSync(join(out, 'partial')));
  const log = JSON.parse(await readFile(join(out, 'train.json'), 'utf8'));
  t.is(log.outcome.step, log.outcome.totalSteps);
  const stoppedAt = Number(/stopped at step (\d+)/.exec(stderr)![1]);
  t.true(stoppedAt >= 1 && stoppedAt < log.outcome.totalSteps, `stopped at ${stoppedAt}`);
  // One history across both runs: every step once, in order.
  t.deepEqual(
    log.outcome.history.map((h: { step: number }) => h.step),
    Array.from({ length: log.outcome.totalSteps }, (_, i) => i + 1),
  );
});

test('bad input: unknown options, missing files and a run folder with other options are clear errors', (t) => {
  const u = cli(['star', '--mode', 'ppo', '--model', model, '--data', uf, '--out', join(root, 'x')]);
  t.is(u.status, 1);
  t.regex(u.stderr, /argument 'ppo' is invalid. Allowed choices are sft, dpo, rationalizer/);
  const m = cli(['train-genrm', '--model', model, '--data', join(root, 'missing.jsonl'), '--out', join(root, 'y')]);
  t.is(m.status, 1);
  t.regex(m.stderr, /missing\.jsonl/);
  const lr = cli(['train-genrm', '--model', model, '--data', uf, '--out', join(root, 'z'), '--lr', 'fast']);
  t.is(lr.status, 1);
  t.regex(lr.stderr, /--lr <lr>' argument 'fast' is invalid. expected a number/);
  const other = cli([
    'train-genrm',
    '--model',
    model,
    '--data',
    uf,
    '--out',
    join(root, 'genrm'),
    ...fast,
    '--lr',
    '2e-3',
  ]);
  t.is(other.status, 1);
  t.regex(other.stderr, /holds a training run with other options or data; use another output folder/);
  const nomodel = cli(['eval', '--model', join(root, 'nothing'), '--data', uf]);
  t.is(nomodel.status, 1);
  t.regex(nomodel.stderr, /nothing/);
});
