// `genrm demo`: the paper's experiment on the built-in world. Per seed: write
// the world and read it back, pretrain (or reuse) the base model, then train
// and evaluate every judge on the same pairs - zero-shot (direct, and CoT with
// self-consistency), Bradley-Terry, the pairwise baseline, GenRM, STaR-SFT,
// STaR-DPO and STaR-Rationalizer - in distribution and on the four
// RewardBench-like sections. Nothing here knows the answers it reports: every
// number comes from a judge's output scored against the labels.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PreferencePair } from '../data/index.js';
import { accuracy, scoreBenchmark, type Judgement } from '../eval/index.js';
import { judgeDirect, type JudgeContext } from '../genrm/judge.js';
import { runTrainJob } from '../genrm/jobs.js';
import { sampleRationales, type PairSamples } from '../genrm/rationales.js';
import { runStar, type StarMode } from '../genrm/star.js';
import { majorityVote } from '../genrm/verdict.js';
import { loadLanguageModel, type LanguageModel } from '../model/language-model.js';
import { evaluateBradleyTerry } from '../train/bt.js';
import { readJsonl } from '../util/jsonl.js';
import { isFaithful } from '../world/index.js';
import { baseModel } from './base.js';
import { demoData, type DemoData } from './data.js';
import type { DemoPreset } from './presets.js';
import { probeChecks, type CheckProbe } from './probe.js';
import { WORLD_TEMPLATE } from './render.js';

export interface DemoEvent {
  seed: number;
  stage: string;
  done: number;
  total: number;
  loss?: number;
}

export interface DemoHooks {
  onEvent?: (e: DemoEvent) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** One method's scores on one seed: in distribution and per OOD section (null when not run). */
export interface MethodScore {
  method: string;
  id: number;
  sections: Record<string, number | null>;
  ood: number | null;
  /** Pairs scored 0.5 (no verdict or a tie), in and out of distribution. */
  ties: number;
  seconds: number;
}

export interface StarCurve {
  mode: StarMode;
  iteration: number;
  id: number;
  ood: number | null;
  keepRate: number;
  /** Kept rationales whose checks and verdict are true to the world (what the filter cannot see). */
  faithful: number | null;
}

export interface SeedResult {
  seed: number;
  methods: MethodScore[];
  curves: StarCurve[];
  /** BT accuracy on held-out pairs, split by whether the surface feature points to the labelled answer. */
  btSurface: Array<{ split: string; accuracy: number; count: number }>;
  base: { dir: string; cached: boolean; seconds: number };
  /** The base model's own checks of answers (greedy), before any judge training. */
  baseChecks: CheckProbe;
  ceiling: number;
  seconds: Record<string, number>;
}

const now = () => performance.now() / 1000;

function scoreSplit(data: DemoData, judgements: readonly Judgement[], method: string, seconds: number): MethodScore {
  const isOod = (id: string) => id.startsWith('ood:');
  const id = accuracy(judgements.filter((j) => !isOod(j.id)));
  const ood = judgements.filter((j) => isOod(j.id));
  const bench = ood.length ? scoreBenchmark(ood, data.benchmark) : null;
  const sections: Record<string, number | null> = {};
  for (const [name, s] of Object.entries(bench?.sections ?? {})) sections[name] = s.score;
  return {
    method,
    id: id.accuracy,
    sections,
    ood: bench?.overall ?? null,
    ties: judgements.filter((j) => j.score === 0.5).length,
    seconds,
  };
}

/** CoT judgements from samples: the first sample alone, and the vote of all. */
function cotScores(results: readonly PairSamples[]): { single: Judgement[]; vote: Judgement[] } {
  const single: Judgement[] = [];
  const vote: Judgement[] = [];
  for (const { pair, samples } of results) {
    const sub = pair.subset === undefined ? {} : { subset: pair.subset };
    single.push({ id: pair.id, ...sub, score: majorityVote(samples.slice(0, 1).map((s) => s.agrees)).score });
    vote.push({ id: pair.id, ...sub, score: majorityVote(samples.map((s) => s.agrees)).score });
  }
  return { single, vote };
}

export async function runSeed(
  seed: number,
  preset: DemoPreset,
  dirs: { out: string; cache: string },
  hooks: DemoHooks = {},
): Promise<SeedResult> {
  const log = hooks.log ?? (() => {});
  const ev = (stage: string, done: number, total: number, loss?: number) =>
    hooks.onEvent?.({ seed, stage, done, total, ...(loss === undefined ? {} : { loss }) });
  const out = join(dirs.out, `seed-${seed}`);
  await mkdir(out, { recursive: true });
  const seconds: Record<string, number> = {};
  let t = now();
  const data = await demoData(join(out, 'world'), { seed, ...preset.world });
  const evalPairs: PreferencePair[] = [...data.test, ...data.ood];
  seconds.world = now() - t;
  log(
    `seed ${seed}: world with ${data.train.length} training, ${data.test.length} held-out and ${data.ood.length} out-of-distribution pairs`,
  );

  t = now();
  const base = await baseModel({ ...preset.base, seed, exclude: data.questions }, dirs.cache, {
    log,
    signal: hooks.signal,
    onProgress: (p) => ev(p.phase === 'pretrain' ? 'pretrain base model' : 'train tokenizer', p.done, p.total, p.loss),
  });
  seconds.base = now() - t;
  log(
    base.cached
      ? `seed ${seed}: base model from the cache (${base.dir})`
      : `seed ${seed}: pretrained the base model in ${seconds.base.toFixed(0)} s`,
  );

  const withModel = async <T>(dir: string, fn: (lm: LanguageModel) => Promise<T>) => {
    const lm = await loadLanguageModel(dir);
    try {
      return await fn(lm);
    } finally {
      lm.model.dispose();
    }
  };
  const baseChecks = await withModel(base.dir, (lm) => probeChecks(lm, { exclude: data.questions }));
  log(
    `seed ${seed}: the base model's checks of ${baseChecks.count} answers end in the right judgement ${(100 * baseChecks.judgement).toFixed(1)}% of the time`,
  );

  const methods: MethodScore[] = [];
  const sampling = { maxNewTokens: preset.maxNewTokens, maxBatch: 256, positions: 'random' as const, seed };
  const ctxOf = (lm: LanguageModel): JudgeContext => ({ ...lm, template: WORLD_TEMPLATE });
  const direct = (name: string, dir: string) =>
    withModel(dir, async (lm) => {
      const t0 = now();
      const r = await judgeDirect(ctxOf(lm), evalPairs, {
        positions: 'both',
        signal: hooks.signal,
        onProgress: (p) => ev(`${name}: judge`, p.done, p.total),
      });
      methods.push(scoreSplit(data, r.judgements, name, now() - t0));
    });
  const cot = (name: string, dir: string) =>
    withModel(dir, async (lm) => {
      const t0 = now();
      const r = await sampleRationales(ctxOf(lm), evalPairs, {
        ...sampling,
        k: preset.voteK,
        signal: hooks.signal,
        onProgress: (p) => ev(`${name}: judge`, p.done, p.total),
      });
      const { single, vote } = cotScores(r.results);
      const dt = now() - t0;
      methods.push(scoreSplit(data, single, name, dt), scoreSplit(data, vote, `${name} + vote@${preset.voteK}`, dt));
    });

  // Zero-shot: the base model as a judge.
  t = now();
  await direct('Zero-shot (direct)', base.dir);
  await cot('Zero-shot CoT', base.dir);
  seconds.zeroShot = now() - t;

  // The reward-model baselines and GenRM, trained on the in-distribution pairs.
  const train = async (kind: 'bt' | 'pairwise' | 'genrm', lr: number, epochs: number) => {
    const r = await runTrainJob({
      kind,
      modelDir: base.dir,
      outDir: join(out, kind),
      pairs: data.train,
      template: WORLD_TEMPLATE,
      seed,
      settings: { lr, epochs, batchTokens: preset.batchTokens, seed },
      signal: hooks.signal,
      onProgress: (p) => ev(`train ${kind}`, p.step, p.totalSteps, p.metrics.loss),
    });
    if (r.aborted) throw Object.assign(new Error('demo aborted'), { name: 'AbortError' });
    return r.outDir;
  };
  t = now();
  const btDir = await train('bt', preset.bt.lr, preset.bt.epochs);
  const btSurface: SeedResult['btSurface'] = [];
  await withModel(btDir, async (lm) => {
    const t0 = now();
    const r = await evaluateBradleyTerry(lm.model, lm.tokenizer, evalPairs, { signal: hooks.signal });
    methods.push(scoreSplit(data, r.judgements, 'Bradley-Terry', now() - t0));
    const held = r.judgements.filter((j) => !j.id.startsWith('ood:'));
    for (const [split, want] of [
      ['surface feature agrees with the label', true],
      ['surface feature disagrees', false],
      ['no surface difference', null],
    ] as const) {
      const part = held.filter((j) => data.facts.get(j.id)!.surfaceAgrees === want);
      if (part.length) btSurface.push({ split, accuracy: accuracy(part).accuracy, count: part.length });
    }
  });
  seconds.bt = now() - t;
  t = now();
  await direct('GenRM', await train('genrm', preset.genrm.lr, preset.genrm.epochs));
  seconds.genrm = now() - t;

  // STaR, three ways, each from the base model.
  const curves: StarCurve[] = [];
  for (const mode of ['sft', 'dpo', 'rationalizer'] as const) {
    t = now();
    const faithfulOf = (pairId: string, chosenAt: 'A' | 'B', text: string) => {
      const f = data.facts.get(pairId)!;
      return isFaithful({ question: f.question, chosen: f.chosen, rejected: f.rejected }, chosenAt, text);
    };
    const r = await runStar({
      mode,
      baseDir: base.dir,
      outDir: join(out, `star-${mode}`),
      pairs: data.train,
      template: WORLD_TEMPLATE,
      iterations: preset.star.iterations,
      seed,
      sampling: { k: preset.star.k, maxNewTokens: preset.maxNewTokens, maxBatch: 256, positions: 'random' },
      train: {
        lr: mode === 'rationalizer' ? preset.star.rationalizerLr : mode === 'dpo' ? preset.star.dpoLr : preset.star.lr,
        epochs: preset.star.epochs,
        batchTokens: preset.batchTokens,
      },
      dpo: { beta: 1.0 },
      annotate: (pair, s) => ({ faithful: faithfulOf(pair.id, s.chosenAt, s.text) }),
      evaluate: async (ctx, it) => {
        if (it === preset.star.iterations) return {};
        const e = await sampleRationales(ctx, evalPairs, {
          ...sampling,
          k: 1,
          signal: hooks.signal,
          onProgress: (p) => ev(`STaR-${mode} iteration ${it}: judge`, p.done, p.total),
        });
        const s = scoreSplit(data, cotScores(e.results).single, mode, 0);
        return { id: s.id, ood: s.ood };
      },
      signal: hooks.signal,
      onProgress: (p) => ev(`STaR-${mode} iteration ${p.iteration} ${p.phase}`, p.done, p.total, p.train?.metrics.loss),
    });
    if (r.aborted) throw Object.assign(new Error('demo aborted'), { name: 'AbortError' });
    const name = mode === 'sft' ? 'STaR-SFT' : mode === 'dpo' ? 'STaR-DPO' : 'STaR-Rationalizer';
    const before = methods.length;
    await cot(name, r.finalDir);
    const last = methods[before]!;
    for (const it of r.iterations) {
      const recs = await readJsonl<{ kept: boolean; faithful?: boolean }>(
        join(out, `star-${mode}`, `iter-${it.iteration}`, 'rationales.jsonl'),
      );
      const kept = recs.filter((x) => x.kept);
      const e = (it.eval ?? {}) as { id?: number; ood?: number | null };
      curves.push({
        mode,
        iteration: it.iteration,
        keepRate: it.keepRate,
        faithful: kept.length ? kept.filter((x) => x.faithful).length / kept.length : null,
        id: it.iteration === preset.star.iterations ? last.id : e.id!,
        ood: it.iteration === preset.star.iterations ? last.ood : (e.ood ?? null),
      });
    }
    seconds[`star-${mode}`] = now() - t;
  }
  return { seed, methods, curves, btSurface, base, baseChecks, ceiling: 1 - data.labelNoise, seconds };
}
