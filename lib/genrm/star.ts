// The STaR loop of the GenRM paper. Each iteration takes a fresh part of the
// training pairs (thirds for 3 iterations), samples k rationales per pair from
// the current judge, keeps those whose verdict agrees with the human label, and
// trains on them:
//   sft           SFT on the kept rationales (STaR-SFT);
//   dpo           DPO of a rationale with the right verdict against one with the
//                 wrong verdict for the same prompt (STaR-DPO), reference
//                 log-probs computed once per iteration from its starting model;
//   rationalizer  SFT on the kept rationales plus, where no sample was right,
//                 rationales sampled with the right verdict as a hint, trained
//                 without the hint (STaR-Rationalizer).
// Every iteration writes rationales.jsonl (kept and dropped, with why), a
// checkpoint and metrics.json. Work is resumable at chunk (sampling) and step
// (training) granularity: an interrupted run, started again with the same
// options, produces the same files as one that never stopped.
import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLanguageModel, saveLanguageModel, type LanguageModel } from '../model/language-model.js';
import type { PairLike, Skipped } from '../train/bt.js';
import { scoreSequences } from '../train/forward.js';
import { trainUnits, type TrainOutcome, type TrainProgress, type TrainSettings, type TrainUnit } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { deriveSeed, hash32, shuffled } from '../util/random.js';
import type { JudgeContext } from './judge.js';
import { MT_BENCH_PAIRWISE, type JudgeTemplate } from './prompt.js';
import { sampleRationales, type RationaleSample, type SamplingOptions } from './rationales.js';

export type StarMode = 'sft' | 'dpo' | 'rationalizer';
export const STAR_MODES: readonly StarMode[] = ['sft', 'dpo', 'rationalizer'];

export type StarSampling = Pick<SamplingOptions, 'k' | 'positions' | 'temperature' | 'topP' | 'maxNewTokens' | 'maxBatch' | 'minNewTokens'>;

export interface StarOptions {
  mode: StarMode;
  /** Checkpoint folder of the starting judge (config.json, model.safetensors, tokenizer.json). */
  baseDir: string;
  /** Where iterations, rationales, checkpoints and metrics go; also what a resumed run reads. */
  outDir: string;
  pairs: readonly PairLike[];
  /** Default MT_BENCH_PAIRWISE. */
  template?: JudgeTemplate;
  /** Default 3 (the paper's); the pairs are split into this many disjoint parts. */
  iterations?: number;
  seed?: number;
  /** Rationale sampling; defaults k 4, temperature 1, top-p 0.95, maxNewTokens 512, positions 'random'. */
  sampling?: StarSampling;
  /** Hint samples per pair that had no right rationale (rationalizer). Default 1. */
  rationalizerSamples?: number;
  /** Defaults as trainUnits (lr 1e-6), but lr 2e-5 for the rationalizer (the paper's). */
  train?: TrainSettings;
  /** DPO beta (default 1.0, the paper's) and loss type (default sigmoid). */
  dpo?: { beta?: number; lossType?: 'sigmoid' | 'ipo' | 'hinge' | 'robust' };
  /** Pairs per sampling chunk (progress, abort and resume granularity). Default 16. */
  chunkPairs?: number;
  /** Run after each iteration's training; its result is stored in metrics.json. */
  evaluate?: (ctx: JudgeContext, iteration: number) => Promise<Record<string, unknown>>;
  /** Extra fields for each rationale's JSONL record (e.g. whether its reasoning is faithful). */
  annotate?: (pair: PairLike, sample: RationaleSample) => Record<string, unknown>;
  onProgress?: (p: StarProgress) => void;
  signal?: AbortSignal;
}

export type StarPhase = 'sample' | 'reference' | 'train' | 'evaluate';

export interface StarProgress {
  iteration: number;
  iterations: number;
  phase: StarPhase;
  done: number;
  total: number;
  train?: TrainProgress;
}

export interface StarIteration {
  iteration: number;
  pairs: number;
  samples: number;
  /** Samples whose verdict agrees with the label (and that finished). */
  agreeing: number;
  /** Samples used for training (SFT targets, or both sides of DPO pairs). */
  kept: number;
  keepRate: number;
  pairsWithAgreeing: number;
  noVerdict: number;
  cutOff: number;
  /** rationalizer: pairs that needed a hint, and those it rescued. */
  rationalized?: { attempted: number; rescued: number };
  /** dpo: preference pairs of rationales. */
  dpoPairs?: number;
  trainUnits: number;
  trainSteps: number;
  trainLoss: number | null;
  skipped: Skipped[];
  eval?: Record<string, unknown>;
  checkpoint: string;
}

export interface StarResult {
  aborted: boolean;
  iterations: StarIteration[];
  /** The latest finished checkpoint (baseDir when none finished). */
  finalDir: string;
}

/** One line of rationales.jsonl. */
export interface RationaleRecord {
  pair_id: string;
  subset?: string;
  chosen_at: 'A' | 'B';
  hint?: 'A' | 'B';
  verdict: 'A' | 'B' | null;
  agrees: boolean | null;
  finish_reason: string;
  kept: boolean;
  /** sft targets; dpo 'chosen' | 'rejected'. */
  role?: 'target' | 'chosen' | 'rejected';
  why: string;
  text: string;
  prompt_ids: number[];
  tokens: number[];
  [extra: string]: unknown;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** The disjoint part of the pairs that iteration `i` (1-based) trains on. */
export function starPart<T extends { id: string }>(pairs: readonly T[], iterations: number, i: number, seed: number): T[] {
  const order = shuffled(pairs, deriveSeed(seed, 'star-split'));
  const size = Math.ceil(order.length / iterations);
  return order.slice((i - 1) * size, i * size);
}

/** Decides, per pair, which samples train and why the others do not. Pure, so it is tested on scripted samples. */
export function selectRationales(mode: StarMode, pair: PairLike, samples: readonly RationaleSample[], hinted: readonly RationaleSample[] = []): RationaleRecord[] {
  const record = (s: RationaleSample, kept: boolean, why: string, role?: RationaleRecord['role']): RationaleRecord => ({
    pair_id: pair.id, ...(pair.subset === undefined ? {} : { subset: pair.subset }), chosen_at: s.chosenAt, ...(s.hint ? { hint: s.hint } : {}),
    verdict: s.verdict, agrees: s.agrees, finish_reason: s.finishReason, kept, ...(role ? { role } : {}), why, text: s.text,
    prompt_ids: Array.from(s.promptIds), tokens: Array.from(s.tokens),
  });
  const cut = (s: RationaleSample) => s.finishReason !== 'stop';
  const dropWhy = (s: RationaleSample) =>
    cut(s) ? 'cut off before the end of turn (maxNewTokens)' : s.verdict === null ? 'no verdict' : s.agrees ? '' : 'verdict disagrees with the label';
  if (mode !== 'dpo') {
    const out = samples.map((s) => (!cut(s) && s.agrees ? record(s, true, 'verdict agrees with the label', 'target') : record(s, false, dropWhy(s))));
    for (const s of hinted) out.push(!cut(s) && s.agrees ? record(s, true, 'rationalized: verdict agrees with the hint; trained without the hint', 'target') : record(s, false, `rationalization dropped: ${dropWhy(s)}`));
    return out;
  }
  // DPO pairs a right and a wrong rationale shown the same way (same prompt): the j-th of each, in sample order.
  const out = new Map<RationaleSample, RationaleRecord>();
  for (const at of ['A', 'B'] as const) {
    const here = samples.filter((s) => s.chosenAt === at);
    const right = here.filter((s) => !cut(s) && s.agrees === true);
    const wrong = here.filter((s) => !cut(s) && s.agrees === false);
    const n = Math.min(right.length, wrong.length);
    right.forEach((s, j) => out.set(s, j < n ? record(s, true, 'DPO chosen: verdict agrees with the label', 'chosen') : record(s, false, 'verdict agrees, but no wrong rationale is left to pair it with')));
    wrong.forEach((s, j) => out.set(s, j < n ? record(s, true, 'DPO rejected: verdict disagrees with the label', 'rejected') : record(s, false, 'verdict disagrees, but no right rationale is left to pair it with')));
  }
  return samples.map((s) => out.get(s) ?? record(s, false, dropWhy(s)));
}

function fingerprint(o: StarOptions): string {
  const { mode, iterations, seed, sampling, rationalizerSamples, train, dpo, chunkPairs } = o;
  return JSON.stringify({
    version: 1, mode, baseDir: o.baseDir, template: (o.template ?? MT_BENCH_PAIRWISE).name, iterations: iterations ?? 3, seed: seed ?? 0,
    sampling: sampling ?? {}, rationalizerSamples: rationalizerSamples ?? 1, train: train ?? {}, dpo: dpo ?? {}, chunkPairs: chunkPairs ?? 16,
    pairs: o.pairs.length, pairIds: hash32(o.pairs.map((p) => p.id).join('\n')),
  });
}

async function readRecords(file: string): Promise<RationaleRecord[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n');
  const out: RationaleRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as RationaleRecord);
    } catch (e) {
      // A torn last line is what an interrupted append leaves; anything else is corruption.
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) throw new Error(`${file} line ${i + 1}: not JSON (${(e as Error).message}); delete the file to redo this iteration's sampling`);
    }
  });
  return out;
}

function unitsFrom(records: readonly RationaleRecord[], mode: StarMode): { sft: TrainUnit[]; dpo: Array<{ chosen: RationaleRecord; rejected: RationaleRecord }> } {
  const seq = (r: RationaleRecord) => ({ ids: Int32Array.from([...r.prompt_ids, ...r.tokens]), promptLength: r.prompt_ids.length });
  if (mode !== 'dpo') return { sft: records.filter((r) => r.role === 'target').map((r) => ({ sequences: [seq(r)] })), dpo: [] };
  const dpo: Array<{ chosen: RationaleRecord; rejected: RationaleRecord }> = [];
  const byKey = new Map<string, { c: RationaleRecord[]; r: RationaleRecord[] }>();
  for (const r of records) {
    if (r.role !== 'chosen' && r.role !== 'rejected') continue;
    const key = `${r.pair_id}\u0000${r.chosen_at}`;
    const slot = byKey.get(key) ?? { c: [], r: [] };
    (r.role === 'chosen' ? slot.c : slot.r).push(r);
    byKey.set(key, slot);
  }
  for (const { c, r } of byKey.values()) c.forEach((chosen, j) => dpo.push({ chosen, rejected: r[j]! }));
  return { sft: [], dpo };
}

/** Runs (or resumes) the STaR loop. On abort it saves what it has and resolves with aborted: true. */
export async function runStar(options: StarOptions): Promise<StarResult> {
  const iterations = options.iterations ?? 3;
  if (!(STAR_MODES as readonly string[]).includes(options.mode)) throw new RangeError(`mode: expected one of ${STAR_MODES.join(', ')}, got ${JSON.stringify(options.mode)}`);
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations: expected an integer >= 1, got ${iterations}`);
  if (options.pairs.length < iterations) throw new RangeError(`pairs: ${options.pairs.length} pairs cannot be split into ${iterations} iterations`);
  const seed = options.seed ?? 0;
  const template = options.template ?? MT_BENCH_PAIRWISE;
  const train: TrainSettings = { lr: options.mode === 'rationalizer' ? 2e-5 : 1e-6, seed, ...options.train };
  await mkdir(options.outDir, { recursive: true });
  const runFile = join(options.outDir, 'run.json');
  const print = fingerprint(options);
  if (await exists(runFile)) {
    const previous = await readFile(runFile, 'utf8');
    if (previous.trim() !== print) throw new Error(`${runFile}: ${options.outDir} holds a STaR run with other options or pairs; use another output folder (or delete it to start over).\n  saved: ${previous.trim()}\n  now:   ${print}`);
  } else await writeFileAtomic(runFile, new TextEncoder().encode(print + '\n'));

  const done: StarIteration[] = [];
  let current = options.baseDir;
  for (let it = 1; it <= iterations; it++) {
    const dir = join(options.outDir, `iter-${it}`);
    const checkpoint = join(dir, 'checkpoint');
    const metricsFile = join(dir, 'metrics.json');
    if (await exists(metricsFile)) {
      done.push(JSON.parse(await readFile(metricsFile, 'utf8')) as StarIteration);
      current = checkpoint;
      continue;
    }
    await mkdir(dir, { recursive: true });
    const progress = (phase: StarPhase, d: number, total: number, t?: TrainProgress) =>
      options.onProgress?.({ iteration: it, iterations, phase, done: d, total, ...(t ? { train: t } : {}) });
    const part = starPart(options.pairs, iterations, it, seed);
    const partial = join(dir, 'checkpoint.partial');
    const resumingTrain = await exists(join(partial, 'optimizer.safetensors'));
    const lm: LanguageModel = resumingTrain ? await loadLanguageModel(partial, { optimizer: true }) : await loadLanguageModel(current);
    const ctx: JudgeContext = { ...lm, template };
    try {
      // 1. Sampling, chunk by chunk, appended to rationales.partial.jsonl.
      const rationales = join(dir, 'rationales.jsonl');
      const skipped: Skipped[] = [];
      if (!(await exists(rationales))) {
        const partFile = join(dir, 'rationales.partial.jsonl');
        const have = await readRecords(partFile);
        const finished = new Set(have.map((r) => r.pair_id));
        const skipFile = join(dir, 'skipped.partial.jsonl');
        for (const s of await readRecords(skipFile) as unknown as Skipped[]) finished.add(s.id);
        const chunk = options.chunkPairs ?? 16;
        for (let at = 0; at < part.length; at += chunk) {
          const pairs = part.slice(at, at + chunk).filter((p) => !finished.has(p.id));
          progress('sample', at, part.length);
          if (pairs.length === 0) continue;
          if (options.signal?.aborted) return { aborted: true, iterations: done, finalDir: current };
          let lines: RationaleRecord[] = [];
          try {
            const sampled = await sampleRationales(ctx, pairs, { ...options.sampling, seed: deriveSeed(seed, 'iteration', it), signal: options.signal });
            let hinted = new Map<string, RationaleSample[]>();
            if (options.mode === 'rationalizer') {
              const failed = sampled.results.filter((r) => !r.samples.some((s) => s.agrees && s.finishReason === 'stop')).map((r) => r.pair);
              const h = await sampleRationales(ctx, failed, { ...options.sampling, k: options.rationalizerSamples ?? 1, hint: true, seed: deriveSeed(seed, 'iteration', it), signal: options.signal });
              hinted = new Map(h.results.map((r) => [r.pair.id, r.samples]));
            }
            for (const { pair, samples } of sampled.results) {
              const recs = selectRationales(options.mode, pair, samples, hinted.get(pair.id));
              const extra = options.annotate;
              if (extra) recs.forEach((r, j) => Object.assign(r, extra(pair, j < samples.length ? samples[j]! : hinted.get(pair.id)![j - samples.length]!)));
              lines.push(...recs);
            }
            if (sampled.skipped.length) await appendFile(skipFile, sampled.skipped.map((s) => JSON.stringify(s) + '\n').join(''));
          } catch (e) {
            if ((e as Error).name === 'AbortError') return { aborted: true, iterations: done, finalDir: current };
            throw e;
          }
          await appendFile(partFile, lines.map((r) => JSON.stringify(r) + '\n').join(''));
          lines = [];
        }
        progress('sample', part.length, part.length);
        // Order records as the part lists the pairs, so the file does not depend on where a run was resumed.
        const all = await readRecords(partFile);
        const rank = new Map(part.map((p, i) => [p.id, i]));
        all.sort((a, b) => rank.get(a.pair_id)! - rank.get(b.pair_id)!);
        await writeFileAtomic(rationales, new TextEncoder().encode(all.map((r) => JSON.stringify(r) + '\n').join('')));
        const sk = (await readRecords(skipFile)) as unknown as Skipped[];
        await writeFileAtomic(join(dir, 'skipped.json'), new TextEncoder().encode(JSON.stringify(sk, null, 1) + '\n'));
        await rm(partFile, { force: true });
        await rm(skipFile, { force: true });
      }
      const records = await readRecords(rationales);
      skipped.push(...(JSON.parse(await readFile(join(dir, 'skipped.json'), 'utf8')) as Skipped[]));

      // 2. Training data; DPO reference log-probs from the iteration's starting model, saved before any step.
      const { sft, dpo } = unitsFrom(records, options.mode);
      let units: TrainUnit[] = sft;
      if (options.mode === 'dpo' && dpo.length > 0) {
        const refFile = join(dir, 'reference.json');
        let ref: number[];
        if (await exists(refFile)) ref = JSON.parse(await readFile(refFile, 'utf8')) as number[];
        else {
          const seqs = dpo.flatMap(({ chosen, rejected }) => [chosen, rejected].map((r) => ({ ids: Int32Array.from([...r.prompt_ids, ...r.tokens]), promptLength: r.prompt_ids.length })));
          progress('reference', 0, seqs.length);
          const { logps } = await scoreSequences(lm.model, seqs, { onProgress: (d, t) => progress('reference', d, t) });
          ref = Array.from(logps);
          await writeFileAtomic(refFile, new TextEncoder().encode(JSON.stringify(ref) + '\n'));
        }
        units = dpo.map(({ chosen, rejected }, i) => ({
          sequences: [chosen, rejected].map((r) => ({ ids: Int32Array.from([...r.prompt_ids, ...r.tokens]), promptLength: r.prompt_ids.length })),
          refLogps: [ref[2 * i]!, ref[2 * i + 1]!] as const,
        }));
      }

      // 3. Training (resumable), then the checkpoint, written whole before it is renamed into place.
      let outcome: TrainOutcome | null = null;
      if (!(await exists(checkpoint))) {
        if (units.length > 0) {
          const objective = options.mode === 'dpo' ? { type: 'dpo' as const, beta: options.dpo?.beta ?? 1.0, lossType: options.dpo?.lossType ?? 'sigmoid' } : { type: 'sft' as const };
          outcome = await trainUnits(lm.model, units, objective, train, {
            resume: resumingTrain, signal: options.signal, onProgress: (t) => progress('train', t.step, t.totalSteps, t),
          });
          if (outcome.aborted) {
            await rm(partial, { recursive: true, force: true });
            await saveLanguageModel(partial + '.tmp', lm, { optimizer: true });
            await rename(partial + '.tmp', partial);
            return { aborted: true, iterations: done, finalDir: current };
          }
        }
        await rm(checkpoint + '.tmp', { recursive: true, force: true });
        await saveLanguageModel(checkpoint + '.tmp', lm);
        await writeFileAtomic(join(checkpoint + '.tmp', 'train.json'), new TextEncoder().encode(JSON.stringify({ units: units.length, ...(outcome ?? { totalSteps: 0, history: [] }) }) + '\n'));
        await rename(checkpoint + '.tmp', checkpoint);
        await rm(partial, { recursive: true, force: true });
      }
      const trainLog = JSON.parse(await readFile(join(checkpoint, 'train.json'), 'utf8')) as { units: number; totalSteps: number; history: Array<Record<string, number>> };

      // 4. Evaluation and the iteration's summary.
      let evaluation: Record<string, unknown> | undefined;
      if (options.evaluate) {
        progress('evaluate', 0, 1);
        evaluation = await options.evaluate(ctx, it);
        progress('evaluate', 1, 1);
      }
      const plain = records.filter((r) => r.hint === undefined);
      const hinted = records.filter((r) => r.hint !== undefined);
      const losses = trainLog.history.map((h) => h.loss!).filter(Number.isFinite);
      const summary: StarIteration = {
        iteration: it, pairs: part.length, samples: plain.length,
        agreeing: plain.filter((r) => r.agrees && r.finish_reason === 'stop').length,
        kept: records.filter((r) => r.kept).length,
        keepRate: plain.length ? plain.filter((r) => r.kept).length / plain.length : 0,
        pairsWithAgreeing: new Set(plain.filter((r) => r.agrees && r.finish_reason === 'stop').map((r) => r.pair_id)).size,
        noVerdict: plain.filter((r) => r.verdict === null).length,
        cutOff: plain.filter((r) => r.finish_reason !== 'stop').length,
        ...(options.mode === 'rationalizer' ? { rationalized: { attempted: new Set(hinted.map((r) => r.pair_id)).size, rescued: new Set(hinted.filter((r) => r.kept).map((r) => r.pair_id)).size } } : {}),
        ...(options.mode === 'dpo' ? { dpoPairs: units.length } : {}),
        trainUnits: trainLog.units, trainSteps: trainLog.totalSteps,
        trainLoss: losses.length ? losses.slice(-Math.max(1, Math.ceil(losses.length / 10))).reduce((a, b) => a + b, 0) / Math.max(1, Math.ceil(losses.length / 10)) : null,
        skipped, ...(evaluation ? { eval: evaluation } : {}), checkpoint,
      };
      await writeFileAtomic(metricsFile, new TextEncoder().encode(JSON.stringify(summary, null, 1) + '\n'));
      done.push(summary);
      current = checkpoint;
    } finally {
      lm.model.dispose();
    }
  }
  return { aborted: false, iterations: done, finalDir: current };
}
