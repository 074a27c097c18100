// The demo: `genrm demo --quick` end to end through the CLI (the table, the
// report folder and its charts, the base-model cache reused by a second run),
// the cache rebuilt when it is corrupt, and bad options refused clearly.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseModel, baseKey, type BaseSpec } from '../lib/demo/base.js';
import { QUICK_PRESET, presetForBudget } from '../lib/demo/presets.js';
import { chartData, findings, summarize, summaryTable } from '../lib/demo/report.js';
import { cliPath } from './helpers.js';

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'genrm-demo-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const cli = (args: string[]) =>
  spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, GENRM_THREADS: '2' } });

test.serial(
  'demo --quick prints the paper-shaped table and writes the report; a second run reuses the base model',
  async (t) => {
    const runs = join(root, 'runs');
    const r = cli(['demo', '--quick', '--runs', runs]);
    t.is(r.status, 0, r.stderr);
    const rows = [
      'Zero-shot (direct)',
      'Zero-shot CoT',
      'Bradley-Terry',
      'GenRM',
      'STaR-SFT',
      'STaR-DPO',
      'STaR-Rationalizer',
      'STaR-DPO + vote@3',
    ];
    for (const row of rows)
      t.regex(r.stdout, new RegExp(`\\| ${row.replace(/[()+]/g, '\\$&')} \\|( [\\d.-]+ \\|){6}`), row);
    t.regex(r.stdout, /\| Method \| In distribution \| Chat \| Chat Hard \| Safety \| Reasoning \| OOD overall \|/);
    t.regex(r.stderr, /pretrained the base model/);
    t.regex(
      r.stdout,
      /The base model's own checks \(greedy, 150 answers .*\): the judgement is right \d+\.\d% of the time \(/,
    );
    const dir = /report: (.+)\/report\.md/.exec(r.stdout)![1]!;
    const charts = (await readdir(join(dir, 'charts'))).sort();
    t.deepEqual(charts, [
      'accuracy-by-method.svg',
      'bt-surface-feature.svg',
      'star-iterations-in-distribution.svg',
      'star-iterations-ood.svg',
      'star-keep-rate.svg',
    ]);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    const probe = report.seeds[0].baseChecks;
    t.is(probe.count, 150);
    t.is(
      Object.values(probe.byFamily as Record<string, { count: number }>).reduce((n, f) => n + f.count, 0),
      150,
    );
    t.true(probe.judgement >= 0 && probe.judgement <= 1);
    t.true(probe.exact <= probe.quote, 'a check identical to the reference also quotes the reply right');
    t.true(probe.exact <= probe.solve, 'a check identical to the reference also solves right');
    // The seed's own result file holds the same numbers as the report.
    const own = JSON.parse(await readFile(join(dir, 'seed-1', 'result.json'), 'utf8'));
    t.deepEqual(own.methods, report.seeds[0].methods);
    for (const m of report.seeds[0].methods) {
      t.true(m.id >= 0 && m.id <= 1, `${m.method} in distribution ${m.id}`);
      for (const v of Object.values(m.sections) as number[]) t.true(v >= 0 && v <= 1);
    }
    // Something learned: the Bradley-Terry model, trained on the world's pairs,
    // beats a coin on its held-out pairs by more than two standard errors of a
    // coin's accuracy over that many pairs (the surface feature alone gives it that).
    const heldOut = QUICK_PRESET.world.testSize;
    const bt = report.seeds[0].methods.find((m: { method: string }) => m.method === 'Bradley-Terry');
    t.true(bt.id > 0.5 + 2 * Math.sqrt(0.25 / heldOut), `Bradley-Terry in distribution ${bt.id} on ${heldOut} pairs`);
    // Every STaR iteration left its rationales, checkpoint and metrics.
    for (const mode of ['sft', 'dpo', 'rationalizer'])
      for (let it = 1; it <= QUICK_PRESET.star.iterations; it++)
        t.true(existsSync(join(dir, 'seed-1', `star-${mode}`, `iter-${it}`, 'rationales.jsonl')), `${mode} ${it}`);
    const again = cli(['demo', '--quick', '--runs', runs]);
    t.is(again.status, 0, again.stderr);
    t.regex(again.stderr, /base model from the cache/);
  },
);

test('a corrupt cached base model is pretrained again, not trusted', async (t) => {
  const cache = join(root, 'cache');
  const spec: BaseSpec = {
    seed: 3,
    hiddenSize: 32,
    layers: 1,
    vocabSize: 300,
    maxPositions: 1024,
    tokens: 20_000,
    batchTokens: 4096,
    lr: 1e-3,
  };
  const first = await baseModel(spec, cache);
  t.false(first.cached);
  t.is(first.dir, join(cache, baseKey(spec)));
  t.true((await baseModel(spec, cache)).cached);
  await writeFile(join(first.dir, 'model.safetensors'), 'not a safetensors file');
  const lines: string[] = [];
  const rebuilt = await baseModel(spec, cache, { log: (l) => lines.push(l) });
  t.false(rebuilt.cached);
  t.regex(lines.join('\n'), /does not load .*pretraining it again/);
  t.true((await baseModel(spec, cache)).cached);
  t.not(baseKey({ ...spec, seed: 4 }), baseKey(spec));
  t.not(baseKey({ ...spec, exclude: new Set(['x']) }), baseKey(spec));
});

test('bad options: unknown ones, a budget too small, quick with a budget', (t) => {
  const u = cli(['demo', '--fast']);
  t.is(u.status, 1);
  t.regex(u.stderr, /unknown option '--fast'/);
  const small = cli(['demo', '--budget', '0.05', '--runs', join(root, 'x')]);
  t.is(small.status, 1);
  t.regex(small.stderr, /budget: 0\.05 minutes is too small to train anything meaningful: .*pretraining gets/);
  const both = cli(['demo', '--quick', '--budget', '5', '--runs', join(root, 'x')]);
  t.is(both.status, 1);
  t.regex(both.stderr, /quick and budget exclude each other/);
  t.throws(() => presetForBudget(-1), { message: /expected a positive number of minutes/ });
  t.is(presetForBudget(20).world.trainSize, 2 * presetForBudget(10).world.trainSize);
});

test("the report checks the paper's findings against the numbers, whichever way they come out", (t) => {
  const row = (method: string, id: number, ood: number) => ({
    method,
    mean: { 'In distribution': id, 'OOD overall': ood },
    spread: {},
  });
  const paperLike = [
    row('Zero-shot (direct)', 0.52, 0.6),
    row('Zero-shot CoT + vote@5', 0.68, 0.75),
    row('Bradley-Terry', 0.74, 0.7),
    row('GenRM', 0.73, 0.72),
    row('STaR-SFT', 0.67, 0.77),
    row('STaR-SFT + vote@5', 0.68, 0.79),
    row('STaR-DPO', 0.74, 0.8),
    row('STaR-DPO + vote@5', 0.75, 0.82),
    row('STaR-Rationalizer', 0.7, 0.76),
    row('STaR-Rationalizer + vote@5', 0.71, 0.77),
  ];
  const f = findings(paperLike, 5);
  t.is(f.length, 4);
  t.true(
    f.every((x) => x.endsWith(': reproduces.')),
    f.join('\n'),
  );
  t.regex(f[2]!, /best STaR-DPO \+ vote 82\.0% vs BT 70\.0%/);
  const flat = paperLike.map((r) => ({ ...r, mean: { 'In distribution': 0.5, 'OOD overall': 0.5 } }));
  const g = findings(flat, 5);
  t.deepEqual(
    g.map((x) => x.split(': ').at(-1)),
    ['does not reproduce.', 'reproduces.', 'does not reproduce.', 'does not reproduce.'],
  );
});

test('several seeds: the table shows mean ± standard deviation per column', (t) => {
  const seed = (s: number, id: number) => ({
    seed: s,
    methods: [
      {
        method: 'Bradley-Terry',
        id,
        sections: { Chat: 0.5, 'Chat Hard': 0.25, Safety: 1, Reasoning: 0.75 },
        ood: 0.625,
        ties: 0,
        seconds: 1,
      },
    ],
    curves: [],
    btSurface: [],
    base: { dir: '', cached: true, seconds: 0 },
    ceiling: 0.9,
    seconds: {},
    baseChecks: { judgement: 0.5, solve: 0.5, quote: 0.5, exact: 0, count: 2, byFamily: {} },
  });
  const summary = summarize([seed(1, 0.7), seed(2, 0.8)]);
  t.is(summary[0]!.mean['In distribution']!.toFixed(4), '0.7500');
  t.is(summary[0]!.spread['In distribution']!.toFixed(4), Math.sqrt(0.005).toFixed(4));
  t.is(summary[0]!.spread.Chat, 0);
  const table = summaryTable(summary, 2);
  t.regex(
    table,
    /\| Bradley-Terry \| 75\.0 ± 7\.1 \| 50\.0 ± 0\.0 \| 25\.0 ± 0\.0 \| 100\.0 ± 0\.0 \| 75\.0 ± 0\.0 \| 62\.5 ± 0\.0 \|/,
  );
});

test('the charts follow the runs: as many STaR iterations as they had, no bar for a split nobody measured', (t) => {
  const curve = (mode: 'sft' | 'dpo' | 'rationalizer', iteration: number, id: number) => ({
    mode,
    iteration,
    id,
    ood: id - 0.1,
    keepRate: 0.5,
    faithful: null,
  });
  const seed = (s: number, surface: Array<{ split: string; accuracy: number; count: number }>) => ({
    seed: s,
    methods: [],
    btSurface: surface,
    base: { dir: '', cached: true, seconds: 0 },
    ceiling: 0.9,
    seconds: {},
    baseChecks: { judgement: 0.5, solve: 0.5, quote: 0.5, exact: 0, count: 2, byFamily: {} },
    curves: [1, 2, 3, 4, 5].map((it) => curve('dpo', it, 0.5 + it / 100)),
  });
  const seeds = [
    seed(1, [{ split: 'feature agrees', accuracy: 0.9, count: 10 }]),
    seed(2, [{ split: 'feature agrees', accuracy: 0.7, count: 10 }]),
  ];
  const data = chartData(seeds, summarize(seeds));
  t.deepEqual(
    data.inDistribution.map((p) => p.x),
    [1, 2, 3, 4, 5],
    'a five-iteration preset charts five iterations',
  );
  t.is(data.inDistribution.at(-1)!.value, 0.55);
  t.deepEqual(
    data.keep.map((p) => p.x),
    [1, 2, 3, 4, 5],
  );
  t.deepEqual(
    data.btSurface.map((b) => b.group),
    ['feature agrees'],
    'the split that no seed measured gets no 0% bar',
  );
  t.is(data.btSurface[0]!.value.toFixed(2), '0.80');
});
