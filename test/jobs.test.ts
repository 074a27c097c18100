// Training jobs as the CLI runs them: each kind writes a checkpoint folder; one
// interrupted and started again ends with the weights and train.json of one
// that never stopped; a finished job returns at once; bad input is refused.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateJudge, runTrainJob, type TrainJob } from '../lib/genrm/jobs.js';
import { COMPACT_PAIRWISE } from '../lib/genrm/prompt.js';
import { loadLanguageModel } from '../lib/model/language-model.js';
import { makePairs, verdictJudge } from './judge-fixture.js';

const judge = verdictJudge(4);
let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'genrm-jobs-'));
});
test.after.always(async () => {
  const { ctx, dir } = await judge;
  ctx.model.dispose();
  await rm(dir, { recursive: true, force: true });
  if (root) await rm(root, { recursive: true, force: true });
});

const job = (modelDir: string, outDir: string, kind: TrainJob['kind'], over: Partial<TrainJob> = {}): TrainJob => ({
  kind,
  modelDir,
  outDir,
  pairs: makePairs(16),
  template: COMPACT_PAIRWISE,
  settings: { lr: 1e-3, batchTokens: 300, epochs: 3, seed: 2 },
  ...over,
});

for (const kind of ['bt', 'pairwise', 'genrm'] as const) {
  test.serial(
    `${kind}: stopped after 3 steps and run again, it ends bitwise where an uninterrupted job ends`,
    async (t) => {
      const { dir } = await judge;
      const straight = await runTrainJob(job(dir, join(root, `${kind}-straight`), kind));
      t.false(straight.aborted);
      const ac = new AbortController();
      const first = await runTrainJob(
        job(dir, join(root, `${kind}-resumed`), kind, {
          signal: ac.signal,
          onProgress: (p) => p.step === 3 && ac.abort(),
        }),
      );
      t.true(first.aborted);
      t.is(first.outcome!.step, 3);
      const second = await runTrainJob(job(dir, join(root, `${kind}-resumed`), kind));
      t.false(second.aborted);
      const files = async (d: string) => [
        await readFile(join(d, 'model.safetensors')),
        await readFile(join(d, 'train.json'), 'utf8'),
      ];
      t.deepEqual(await files(join(root, `${kind}-resumed`)), await files(join(root, `${kind}-straight`)));
      t.is(second.outcome!.history.length, second.outcome!.totalSteps);
      // Finished: the same call returns the saved outcome without training.
      const again = await runTrainJob(
        job(dir, join(root, `${kind}-straight`), kind, { onProgress: () => t.fail('trained again') }),
      );
      t.deepEqual(again.outcome, straight.outcome);
      if (kind !== 'genrm') {
        const lm = await loadLanguageModel(join(root, `${kind}-straight`));
        t.true(lm.model.config.reward_head);
        const r = await evaluateJudge(lm, makePairs(4, 'e'), { kind, template: COMPACT_PAIRWISE });
        t.is(r.judgements.length, 4);
        lm.model.dispose();
      }
    },
  );
}

test('refused: duplicate ids, every pair too long, another run in the folder, an unknown kind', async (t) => {
  const { dir } = await judge;
  await t.throwsAsync(runTrainJob(job(dir, join(root, 'dup'), 'bt', { pairs: [...makePairs(3), makePairs(1)[0]!] })), {
    message: /pair ids occur more than once \("p0"\)/,
  });
  const long = makePairs(2).map((p) => ({ ...p, chosen: 'it is 7 '.repeat(100) }));
  await t.throwsAsync(runTrainJob(job(dir, join(root, 'long'), 'genrm', { pairs: long })), {
    message: /trainGenRM: all 2 pairs were skipped, e\.g\. p0: \d+ tokens exceed the model's 160 positions/,
  });
  await runTrainJob(job(dir, join(root, 'taken'), 'genrm', { settings: { lr: 1e-3, batchTokens: 300 } }));
  await t.throwsAsync(
    runTrainJob(job(dir, join(root, 'taken'), 'genrm', { settings: { lr: 2e-3, batchTokens: 300 } })),
    { message: /holds a training run with other options or data/ },
  );
  await t.throwsAsync(runTrainJob(job(dir, join(root, 'kind'), 'ppo' as 'bt')), {
    message: /kind: expected one of bt, pairwise, genrm, got "ppo"/,
  });
});

// kill -9 a child running the same job at random moments (while it loads,
// trains, or saves the final checkpoint), several times over; then the job run
// to its end gives the files of a job that was never interrupted.
test.serial(
  'bt: killed with SIGKILL at random moments and run again, it ends with the files of an uninterrupted job',
  async (t) => {
    const { dir } = await judge;
    const out = join(root, 'bt-killed');
    const script = join(root, 'job.mts');
    const here = (f: string) => JSON.stringify(fileURLToPath(new URL(f, import.meta.url)));
    await writeFile(
      script,
      `
    import { runTrainJob } from ${here('../lib/genrm/jobs.js')};
    import { COMPACT_PAIRWISE } from ${here('../lib/genrm/prompt.js')};
    import { makePairs } from ${here('./judge-fixture.js')};
    const r = await runTrainJob({ kind: 'bt', modelDir: ${JSON.stringify(dir)}, outDir: ${JSON.stringify(out)}, pairs: makePairs(16),
      template: COMPACT_PAIRWISE, settings: { lr: 1e-3, batchTokens: 300, epochs: 3, seed: 2 } });
    process.stdout.write(r.aborted ? 'aborted' : 'done');
  `,
    );
    let finished = 0;
    for (let k = 0; k < 6; k++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      let said = '';
      child.stdout.on('data', (d: Buffer) => {
        said += String(d);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 600 + Math.random() * 2400);
      const code = await closed;
      clearTimeout(timer);
      if (code === 0) t.is(said, 'done');
      if (said === 'done') finished++;
    }
    const last = await runTrainJob(job(dir, out, 'bt'));
    t.false(last.aborted);
    const straight = join(root, 'bt-straight');
    if (!(await readFile(join(straight, 'train.json')).catch(() => undefined)))
      await runTrainJob(job(dir, straight, 'bt'));
    const files = async (d: string) => [
      await readFile(join(d, 'model.safetensors')),
      await readFile(join(d, 'train.json'), 'utf8'),
    ];
    t.deepEqual(await files(out), await files(straight));
    t.log(`${6 - finished} of 6 runs killed before they finished`);
  },
);
