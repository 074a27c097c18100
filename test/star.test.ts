// The STaR loop: the keep/drop/pair rules on scripted rationales, whole runs of
// each mode on a tiny real judge (files, counts, training), and resumption: a
// run interrupted while sampling and again while training, then restarted,
// leaves the same rationales and the same weights as one that never stopped.
import test from 'ava';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RationaleSample } from '../lib/genrm/rationales.js';
import { runStar, selectRationales, starPart, type RationaleRecord, type StarOptions } from '../lib/genrm/star.js';
import { COMPACT_PAIRWISE, judgePromptIds } from '../lib/genrm/prompt.js';
import { makePairs, verdictJudge } from './judge-fixture.js';

const judge = verdictJudge(2);
let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'genrm-star-'));
});
test.after.always(async () => {
  const { ctx, dir } = await judge;
  ctx.model.dispose();
  await rm(dir, { recursive: true, force: true });
  if (root) await rm(root, { recursive: true, force: true });
});

const pair = makePairs(1)[0]!;
function sample(
  chosenAt: 'A' | 'B',
  verdict: 'A' | 'B' | null,
  finishReason: 'stop' | 'length' = 'stop',
  hint?: 'A' | 'B',
): RationaleSample {
  return {
    chosenAt,
    ...(hint ? { hint } : {}),
    promptIds: Int32Array.of(1, 2),
    tokens: Int32Array.of(3, verdict === 'A' ? 4 : 5),
    text: verdict ? `[[${verdict}]]` : 'none',
    verdict,
    agrees: verdict === null ? null : verdict === chosenAt,
    finishReason,
    logprob: -1,
  };
}
const summary = (rs: RationaleRecord[]) => rs.map((r) => [r.kept, r.role ?? '-', r.why]);

test('sft keeps finished rationales whose verdict agrees, and says why each other one is dropped', (t) => {
  const recs = selectRationales('sft', pair, [
    sample('A', 'A'),
    sample('A', 'B'),
    sample('A', null),
    sample('A', 'A', 'length'),
  ]);
  t.deepEqual(summary(recs), [
    [true, 'target', 'verdict agrees with the label'],
    [false, '-', 'verdict disagrees with the label'],
    [false, '-', 'no verdict'],
    [false, '-', 'cut off before the end of turn (maxNewTokens)'],
  ]);
  t.deepEqual(recs[0]!.prompt_ids, [1, 2]);
  t.is(recs[0]!.pair_id, pair.id);
});

test('dpo pairs the j-th right with the j-th wrong rationale of the same order; leftovers are dropped with the reason', (t) => {
  const recs = selectRationales('dpo', pair, [
    sample('B', 'B'),
    sample('B', 'B'),
    sample('B', 'A'),
    sample('A', 'B'),
    sample('A', null),
    sample('A', 'A', 'length'),
  ]);
  t.deepEqual(summary(recs), [
    [true, 'chosen', 'DPO chosen: verdict agrees with the label'],
    [false, '-', 'verdict agrees, but no wrong rationale is left to pair it with'],
    [true, 'rejected', 'DPO rejected: verdict disagrees with the label'],
    [false, '-', 'verdict disagrees, but no right rationale is left to pair it with'],
    [false, '-', 'no verdict'],
    [false, '-', 'cut off before the end of turn (maxNewTokens)'],
  ]);
});

test('the rationalizer keeps hinted rationales that reach the hinted verdict, marked as rationalized', (t) => {
  const recs = selectRationales(
    'rationalizer',
    pair,
    [sample('A', 'B')],
    [sample('A', 'A', 'stop', 'A'), sample('A', 'B', 'stop', 'A')],
  );
  t.deepEqual(summary(recs), [
    [false, '-', 'verdict disagrees with the label'],
    [true, 'target', 'rationalized: verdict agrees with the hint; trained without the hint'],
    [false, '-', 'rationalization dropped: verdict disagrees with the label'],
  ]);
  t.is(recs[1]!.hint, 'A');
});

test('iterations take disjoint parts that cover every pair, sizes differing by at most one', (t) => {
  for (const [n, k] of [
    [10, 3],
    [4, 3],
    [5, 4],
    [9, 6],
    [3, 3],
  ] as const) {
    const pairs = makePairs(n);
    const parts = Array.from({ length: k }, (_, i) => starPart(pairs, k, i + 1, 4).map((p) => p.id));
    const sizes = parts.map((p) => p.length);
    t.true(Math.max(...sizes) - Math.min(...sizes) <= 1 && Math.min(...sizes) >= 1, `${n} pairs, ${k} parts: ${sizes}`);
    t.deepEqual(parts.flat().sort(), pairs.map((p) => p.id).sort());
  }
});

const base = (
  dir: string,
  outDir: string,
  mode: StarOptions['mode'],
  over: Partial<StarOptions> = {},
): StarOptions => ({
  mode,
  baseDir: dir,
  outDir,
  pairs: makePairs(12),
  template: COMPACT_PAIRWISE,
  iterations: 2,
  seed: 3,
  chunkPairs: 2,
  sampling: { k: 4, maxNewTokens: 12 },
  train: { lr: 1e-3, batchTokens: 400 },
  ...over,
});

const jsonl = async (file: string) =>
  (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RationaleRecord);

for (const mode of ['sft', 'dpo', 'rationalizer'] as const) {
  test.serial(
    `star ${mode}: every sample is recorded with a reason, the kept ones train, each iteration checkpoints`,
    async (t) => {
      const { dir } = await judge;
      const out = join(root, `run-${mode}`);
      const events: string[] = [];
      const result = await runStar(
        base(dir, out, mode, {
          rationalizerSamples: 2,
          evaluate: async (_ctx, it) => ({ seen: it }),
          onProgress: (p) => events.push(`${p.iteration}:${p.phase}`),
        }),
      );
      t.false(result.aborted);
      t.is(result.iterations.length, 2);
      t.is(result.finalDir, join(out, 'iter-2', 'checkpoint'));
      for (const it of result.iterations) {
        const recs = await jsonl(join(out, `iter-${it.iteration}`, 'rationales.jsonl'));
        const plain = recs.filter((r) => r.hint === undefined);
        t.is(plain.length, it.pairs * 4, 'k samples per pair');
        t.is(it.samples, plain.length);
        t.true(recs.every((r) => typeof r.why === 'string' && r.why.length > 0));
        t.is(it.kept, recs.filter((r) => r.kept).length);
        t.deepEqual(it.eval, { seen: it.iteration });
        const right = plain.filter((r) => r.agrees && r.finish_reason === 'stop');
        t.is(it.agreeing, right.length);
        if (mode === 'sft') t.is(it.kept, right.length);
        if (mode === 'dpo') {
          t.is(it.kept, 2 * it.dpoPairs!);
          t.is(recs.filter((r) => r.role === 'chosen').length, it.dpoPairs!);
        }
        if (mode === 'rationalizer') {
          const failed = new Set(plain.map((r) => r.pair_id).filter((id) => !right.some((r) => r.pair_id === id)));
          const hinted = recs.filter((r) => r.hint !== undefined);
          t.deepEqual(new Set(hinted.map((r) => r.pair_id)), failed, 'hints only where no sample was right');
          t.is(hinted.length, failed.size * 2);
          t.is(it.rationalized!.attempted, failed.size);
        }
        t.is(it.trainUnits, mode === 'dpo' ? it.dpoPairs! : it.kept);
        t.true(it.trainUnits > 0, 'the tiny judge is right sometimes, so something trains');
        t.true(it.trainSteps > 0);
        t.true((await readdir(it.checkpoint)).includes('model.safetensors'));
      }
      t.true(events.includes('1:sample') && events.includes('2:train') && events.includes('2:evaluate'));
      // A finished run started again does no work and reports the same.
      const again = await runStar(
        base(dir, out, mode, {
          rationalizerSamples: 2,
          evaluate: async () => {
            throw new Error('must not run');
          },
        }),
      );
      t.deepEqual(again.iterations, result.iterations);
    },
  );
}

test.serial('a run with other options in the same folder is refused, naming the folder', async (t) => {
  const { dir } = await judge;
  const out = join(root, 'run-sft');
  await t.throwsAsync(runStar(base(dir, out, 'sft', { seed: 99 })), { message: /holds a STaR run with other options/ });
});

async function filesOf(out: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const it of ['iter-1', 'iter-2']) {
    for (const name of ['rationales.jsonl', 'skipped.json', 'checkpoint/train.json'])
      files[`${it}/${name}`] = await readFile(join(out, it, name), 'utf8');
    files[`${it}/weights`] = (await readFile(join(out, it, 'checkpoint', 'model.safetensors'))).toString('base64');
    const m = JSON.parse(await readFile(join(out, it, 'metrics.json'), 'utf8'));
    delete m.checkpoint;
    files[`${it}/metrics`] = JSON.stringify(m);
  }
  return files;
}

for (const mode of ['sft', 'dpo', 'rationalizer'] as const) {
  test.serial(
    `star ${mode}: interrupted while sampling and while training, then resumed, gives the files of an uninterrupted run`,
    async (t) => {
      const { dir } = await judge;
      const straight = join(root, `straight-${mode}`);
      await runStar(base(dir, straight, mode));
      const resumed = join(root, `resumed-${mode}`);
      // Stop in iteration 1's sampling (after 2 chunks), then in iteration 2's training (after 1 step).
      const stops = [
        (p: { iteration: number; phase: string; done: number }) =>
          p.iteration === 1 && p.phase === 'sample' && p.done >= 4,
        (p: { iteration: number; phase: string; done: number }) =>
          p.iteration === 2 && p.phase === 'train' && p.done >= 1,
      ];
      for (const stopAt of stops) {
        const ac = new AbortController();
        const r = await runStar(
          base(dir, resumed, mode, { signal: ac.signal, onProgress: (p) => stopAt(p) && ac.abort() }),
        );
        t.true(r.aborted);
      }
      t.true((await readdir(join(resumed, 'iter-2'))).includes('checkpoint.partial'));
      const done = await runStar(base(dir, resumed, mode));
      t.false(done.aborted);
      t.deepEqual(await filesOf(resumed), await filesOf(straight));
    },
  );
}

test.serial(
  'an iteration trained but not yet evaluated is evaluated on its own checkpoint after a restart',
  async (t) => {
    const { dir } = await judge;
    const out = join(root, 'eval-restart');
    const seen: number[] = [];
    const evaluate = async (ctx: { model: { parameter(n: string): Float32Array } }, it: number) => {
      seen.push(ctx.model.parameter('model.norm.weight')[0]!);
      if (it === 1 && seen.length === 1) throw new Error('evaluation crashed');
      return {};
    };
    await t.throwsAsync(runStar(base(dir, out, 'sft', { iterations: 2, evaluate })), { message: 'evaluation crashed' });
    const r = await runStar(base(dir, out, 'sft', { iterations: 2, evaluate }));
    t.false(r.aborted);
    const { loadLanguageModel } = await import('../lib/model/language-model.js');
    const trained = await loadLanguageModel(join(out, 'iter-1', 'checkpoint'));
    t.is(seen[1], trained.model.parameter('model.norm.weight')[0]);
    trained.model.dispose();
    t.is(seen[0], seen[1], 'both evaluations saw the trained weights');
  },
);

test.serial('pairs with the same id are refused before any work, naming the id', async (t) => {
  const { dir } = await judge;
  const pairs = [...makePairs(4), { ...makePairs(1)[0]!, chosen: 'another answer' }];
  await t.throwsAsync(runStar(base(dir, join(root, 'dup'), 'sft', { pairs })), {
    message: /1 pair ids occur more than once \("p0"\)/,
  });
});

test.serial('rationalizer: a pair whose hinted prompt does not fit is listed as skipped, not lost', async (t) => {
  const { dir, ctx } = await judge;
  // Padding such that the plain prompt leaves room for 12 new tokens but the hinted one does not.
  const room = 160 - 12;
  const lengths = (p: ReturnType<typeof makePairs>[number], hint: boolean) =>
    (['A', 'B'] as const).map((at) => {
      const [a, b] = at === 'A' ? [p.chosen, p.rejected] : [p.rejected, p.chosen];
      return judgePromptIds(ctx.tokenizer, COMPACT_PAIRWISE, p.prompt[0]!.content, a, b, hint ? at : undefined).length;
    });
  const long = makePairs(6).map((p) => {
    for (let n = 0; n < 200; n++) {
      const q = { ...p, chosen: `${p.chosen}${' 7'.repeat(n)}` };
      if (Math.max(...lengths(q, false)) <= room && Math.min(...lengths(q, true)) > room) return q;
    }
    throw new Error('no padding fits');
  });
  const r = await runStar(
    base(dir, join(root, 'hint-skip'), 'rationalizer', {
      pairs: long,
      iterations: 1,
      sampling: { k: 2, maxNewTokens: 12, minNewTokens: 12 },
    }),
  );
  const it = r.iterations[0]!;
  const hintSkips = it.skipped.filter((s) => s.reason.startsWith('rationalization skipped'));
  t.true(hintSkips.length > 0, JSON.stringify(it.skipped));
  t.is(
    it.rationalized!.attempted,
    it.pairs - it.pairsWithAgreeing - it.skipped.filter((s) => !s.reason.startsWith('rationalization')).length,
  );
});
