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
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DPO_DEFAULTS } from '../defaults.js';
import type { ProtocolRecord } from '../eval/provenance.js';
import { loadLanguageModel, type LanguageModel } from '../model/language-model.js';
import type { PairLike, Skipped } from '../train/bt.js';
import { scoreSequences } from '../train/forward.js';
import {
  trainUnits,
  type BatchSummary,
  type TrainOutcome,
  type TrainProgress,
  type TrainSettings,
  type TrainUnit,
} from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readJsonl } from '../util/jsonl.js';
import { deriveSeed, shuffled } from '../util/random.js';
import type { JudgeContext } from './judge.js';
import { MT_BENCH_PAIRWISE_MULTI_TURN, templateByName, type JudgeTemplate } from './prompt.js';
import { protocolRecord, resolveProtocol, type MultiTurnRule, type ProtocolName } from './protocol.js';
import { sampleRationales, type RationaleSample, type SamplingOptions } from './rationales.js';
import {
  assertUniqueIds,
  claimRunFolder,
  exists,
  partialHistory,
  runFingerprint,
  saveCheckpoint,
  savePartial,
  utf8,
} from './runs.js';

export type StarMode = 'sft' | 'dpo' | 'rationalizer';
export const STAR_MODES: readonly StarMode[] = ['sft', 'dpo', 'rationalizer'];

export type StarSampling = Pick<
  SamplingOptions,
  'k' | 'positions' | 'temperature' | 'topP' | 'maxNewTokens' | 'maxBatch' | 'minNewTokens' | 'verdictRule'
>;

export interface StarOptions {
  mode: StarMode;
  /** Checkpoint folder of the starting judge (config.json, model.safetensors, tokenizer.json). */
  baseDir: string;
  /** Where iterations, rationales, checkpoints and metrics go; also what a resumed run reads. */
  outDir: string;
  pairs: readonly PairLike[];
  /**
   * The named protocol whose settings apply: 'genrm' (default) or 'paper'
   * ('rewardbench' defines evaluation only and is refused). The options below
   * override its values; metrics.json records the protocol and each difference.
   */
  protocol?: ProtocolName;
  /** Default: the protocol's (MT_BENCH_PAIRWISE for both). */
  template?: JudgeTemplate;
  /** Default: the protocol's ('flatten' for genrm, 'template' for paper). */
  multiTurn?: MultiTurnRule;
  /** Default 3 (the paper's); the pairs are split into this many disjoint parts. */
  iterations?: number;
  seed?: number;
  /**
   * Rationale sampling; defaults from the protocol: k 4 (the paper does not
   * give its number), temperature 1, top-p 0.95, positions 'random'; verdicts
   * by the last tag and maxNewTokens 512 (genrm) or RewardBench's rule and
   * 2,048 (paper).
   */
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
  /** The training batches: pairs (dpo) or sequences (sft) and tokens per step. */
  batches?: BatchSummary;
  /** How the iteration's rationales and training were made. */
  protocol?: ProtocolRecord;
}

export interface StarResult {
  aborted: boolean;
  iterations: StarIteration[];
  /** The protocol and every setting the run depended on. */
  protocol: ProtocolRecord;
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

/** The disjoint part of the pairs that iteration `i` (1-based) trains on; part sizes differ by at most one. */
export function starPart<T extends { id: string }>(
  pairs: readonly T[],
  iterations: number,
  i: number,
  seed: number,
): T[] {
  const order = shuffled(pairs, deriveSeed(seed, 'star-split'));
  return order.slice(Math.floor(((i - 1) * order.length) / iterations), Math.floor((i * order.length) / iterations));
}

/** Decides, per pair, which samples train and why the others do not. Pure, so it is tested on scripted samples. */
export function selectRationales(
  mode: StarMode,
  pair: PairLike,
  samples: readonly RationaleSample[],
  hinted: readonly RationaleSample[] = [],
): RationaleRecord[] {
  const record = (s: RationaleSample, kept: boolean, why: string, role?: RationaleRecord['role']): RationaleRecord => ({
    pair_id: pair.id,
    ...(pair.subset === undefined ? {} : { subset: pair.subset }),
    chosen_at: s.chosenAt,
    ...(s.hint ? { hint: s.hint } : {}),
    verdict: s.verdict,
    agrees: s.agrees,
    finish_reason: s.finishReason,
    kept,
    ...(role ? { role } : {}),
    why,
    text: s.text,
    prompt_ids: Array.from(s.promptIds),
    tokens: Array.from(s.tokens),
  });
  const cut = (s: RationaleSample) => s.finishReason !== 'stop';
  const dropWhy = (s: RationaleSample) =>
    cut(s)
      ? 'cut off before the end of turn (maxNewTokens)'
      : s.verdict === null
        ? 'no verdict'
        : s.agrees
          ? ''
          : 'verdict disagrees with the label';
  if (mode !== 'dpo') {
    const out = samples.map((s) =>
      !cut(s) && s.agrees ? record(s, true, 'verdict agrees with the label', 'target') : record(s, false, dropWhy(s)),
    );
    for (const s of hinted)
      out.push(
        !cut(s) && s.agrees
          ? record(s, true, 'rationalized: verdict agrees with the hint; trained without the hint', 'target')
          : record(s, false, `rationalization dropped: ${dropWhy(s)}`),
      );
    return out;
  }
  // DPO pairs a right and a wrong rationale shown the same way (same prompt): the j-th of each, in sample order.
  const out = new Map<RationaleSample, RationaleRecord>();
  for (const at of ['A', 'B'] as const) {
    const here = samples.filter((s) => s.chosenAt === at);
    const right = here.filter((s) => !cut(s) && s.agrees === true);
    const wrong = here.filter((s) => !cut(s) && s.agrees === false);
    const n = Math.min(right.length, wrong.length);
    right.forEach((s, j) =>
      out.set(
        s,
        j < n
          ? record(s, true, 'DPO chosen: verdict agrees with the label', 'chosen')
          : record(s, false, 'verdict agrees, but no wrong rationale is left to pair it with'),
      ),
    );
    wrong.forEach((s, j) =>
      out.set(
        s,
        j < n
          ? record(s, true, 'DPO rejected: verdict disagrees with the label', 'rejected')
          : record(s, false, 'verdict disagrees, but no right rationale is left to pair it with'),
      ),
    );
  }
  return samples.map((s) => out.get(s) ?? record(s, false, dropWhy(s)));
}

// A rationale as a training sequence: its prompt, then the sampled tokens as targets.
const recordSequence = (r: RationaleRecord) => ({
  ids: Int32Array.from([...r.prompt_ids, ...r.tokens]),
  promptLength: r.prompt_ids.length,
});

function unitsFrom(
  records: readonly RationaleRecord[],
  mode: StarMode,
): { sft: TrainUnit[]; dpo: Array<{ chosen: RationaleRecord; rejected: RationaleRecord }> } {
  if (mode !== 'dpo')
    return {
      sft: records.filter((r) => r.role === 'target').map((r) => ({ sequences: [recordSequence(r)] })),
      dpo: [],
    };
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

interface Chunk {
  records: RationaleRecord[];
  skipped: Skipped[];
}

const aborted = (e: unknown) => (e as Error)?.name === 'AbortError';

/** Runs (or resumes) the STaR loop. On abort it saves what it has and resolves with aborted: true. */
export async function runStar(options: StarOptions): Promise<StarResult> {
  const protocolName = options.protocol ?? 'genrm';
  const resolved = resolveProtocol(protocolName, {
    template: options.template?.name,
    multiTurn: options.multiTurn,
    cotPositions: options.sampling?.positions,
    verdictRule: options.sampling?.verdictRule,
    starK: options.sampling?.k,
    temperature: options.sampling?.temperature,
    topP: options.sampling?.topP,
    maxNewTokens: options.sampling?.maxNewTokens,
    [options.mode === 'rationalizer' ? 'rationalizerLr' : 'lr']: options.train?.lr,
    dpoBeta: options.dpo?.beta,
    iterations: options.iterations,
  });
  if (!resolved.protocol.star)
    throw new RangeError(
      `protocol: ${JSON.stringify(protocolName)} defines evaluation only; a STaR run takes 'paper' or 'genrm'`,
    );
  const ps = resolved.settings;
  const iterations = ps.iterations;
  const chunkSize = options.chunkPairs ?? 16;
  if (!(STAR_MODES as readonly string[]).includes(options.mode))
    throw new RangeError(`mode: expected one of ${STAR_MODES.join(', ')}, got ${JSON.stringify(options.mode)}`);
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new RangeError(`iterations: expected an integer >= 1, got ${iterations}`);
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError(`chunkPairs: expected an integer >= 1, got ${chunkSize}`);
  if (options.pairs.length < iterations)
    throw new RangeError(`pairs: ${options.pairs.length} pairs cannot be split into ${iterations} iterations`);
  assertUniqueIds(options.pairs, 'runStar: pairs');
  const seed = options.seed ?? 0;
  const template = options.template ?? templateByName(ps.template);
  const train: TrainSettings = {
    seed,
    ...options.train,
    lr: options.mode === 'rationalizer' ? ps.rationalizerLr : ps.lr,
  };
  const signal = options.signal;
  await mkdir(options.outDir, { recursive: true });
  const { mode, sampling, rationalizerSamples, dpo } = options;
  const draw: SamplingOptions = {
    k: ps.starK,
    positions: ps.cotPositions,
    temperature: ps.temperature,
    topP: ps.topP,
    maxNewTokens: ps.maxNewTokens,
    verdictRule: ps.verdictRule,
    maxBatch: sampling?.maxBatch,
    minNewTokens: sampling?.minNewTokens,
  };
  const batchNote =
    `training batches: at most ${train.batchTokens ?? 'the default'} tokens` +
    (train.batchSize ? ` and ${train.batchSize} units` : '') +
    ' per step; each iteration reports the pairs or sequences its steps held' +
    (protocolName === 'paper' ? ' (the paper does not give its batch size)' : '');
  const record = protocolRecord(resolved, 'star', options.protocol ? 'given' : 'the default', [batchNote]);
  await claimRunFolder(
    options.outDir,
    runFingerprint(
      {
        kind: 'star',
        mode,
        template: template.name,
        iterations,
        seed,
        sampling: sampling ?? {},
        // Present only off the default, so folders of runs made before protocols existed still resume.
        ...(protocolName !== 'genrm' ? { protocol: protocolName } : {}),
        ...(options.multiTurn ? { multiTurn: options.multiTurn } : {}),
        rationalizerSamples: rationalizerSamples ?? 1,
        train: options.train ?? {},
        dpo: dpo ?? {},
        chunkPairs: chunkSize,
      },
      options.pairs,
      options.baseDir,
    ),
    'STaR run',
  );

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
    const trained = await exists(checkpoint);
    const resumingTrain = !trained && (await exists(join(partial, 'optimizer.safetensors')));
    // The model this iteration works with: its own checkpoint once trained (evaluation), else where training stands.
    const lm: LanguageModel = trained
      ? await loadLanguageModel(checkpoint)
      : resumingTrain
        ? await loadLanguageModel(partial, { optimizer: true })
        : await loadLanguageModel(current);
    const ctx: JudgeContext = {
      ...lm,
      template,
      ...(ps.multiTurn === 'template' ? { multiTurnTemplate: MT_BENCH_PAIRWISE_MULTI_TURN } : {}),
    };
    try {
      // 1. Sampling, a chunk of pairs at a time, each chunk committed as a file of its own.
      const rationales = join(dir, 'rationales.jsonl');
      const skippedFile = join(dir, 'skipped.json');
      if (!(await exists(rationales))) {
        const chunks = join(dir, 'chunks');
        await mkdir(chunks, { recursive: true });
        const iterSeed = deriveSeed(seed, 'iteration', it);
        const all: Chunk[] = [];
        for (let at = 0, c = 0; at < part.length; at += chunkSize, c++) {
          progress('sample', at, part.length);
          const file = join(chunks, `${String(c).padStart(6, '0')}.json`);
          if (await exists(file)) {
            all.push(JSON.parse(await readFile(file, 'utf8')) as Chunk);
            continue;
          }
          if (signal?.aborted) return { aborted: true, iterations: done, finalDir: current, protocol: record };
          const pairs = part.slice(at, at + chunkSize);
          const chunk: Chunk = { records: [], skipped: [] };
          try {
            const sampled = await sampleRationales(ctx, pairs, { ...draw, seed: iterSeed, signal });
            chunk.skipped.push(...sampled.skipped);
            let hinted = new Map<string, RationaleSample[]>();
            if (options.mode === 'rationalizer') {
              const failed = sampled.results
                .filter((r) => !r.samples.some((x) => x.agrees && x.finishReason === 'stop'))
                .map((r) => r.pair);
              const h = await sampleRationales(ctx, failed, {
                ...draw,
                k: rationalizerSamples ?? 1,
                hint: true,
                seed: iterSeed,
                signal,
              });
              hinted = new Map(h.results.map((r) => [r.pair.id, r.samples]));
              chunk.skipped.push(
                ...h.skipped.map((x) => ({ id: x.id, reason: `rationalization skipped: ${x.reason}` })),
              );
            }
            for (const { pair, samples } of sampled.results) {
              const hs = hinted.get(pair.id) ?? [];
              const recs = selectRationales(options.mode, pair, samples, hs);
              if (options.annotate)
                recs.forEach((r, j) =>
                  Object.assign(r, options.annotate!(pair, j < samples.length ? samples[j]! : hs[j - samples.length]!)),
                );
              chunk.records.push(...recs);
            }
          } catch (e) {
            if (aborted(e)) return { aborted: true, iterations: done, finalDir: current, protocol: record };
            throw e;
          }
          await writeFileAtomic(file, utf8(JSON.stringify(chunk) + '\n'));
          all.push(chunk);
        }
        progress('sample', part.length, part.length);
        // skipped.json first: rationales.jsonl, written last, marks the sampling as finished.
        await writeFileAtomic(
          skippedFile,
          utf8(
            JSON.stringify(
              all.flatMap((c) => c.skipped),
              null,
              1,
            ) + '\n',
          ),
        );
        await writeFileAtomic(
          rationales,
          utf8(
            all
              .flatMap((c) => c.records)
              .map((r) => JSON.stringify(r) + '\n')
              .join(''),
          ),
        );
        await rm(chunks, { recursive: true, force: true });
      }
      const records = await readJsonl<RationaleRecord>(rationales, "delete the file to redo this iteration's sampling");
      const skipped = JSON.parse(await readFile(skippedFile, 'utf8')) as Skipped[];

      // 2. Training data; DPO reference log-probs from the iteration's starting model, saved before any step.
      const { sft, dpo: dpoPairs } = unitsFrom(records, options.mode);
      let units: TrainUnit[] = sft;
      if (options.mode === 'dpo' && dpoPairs.length > 0) {
        const refFile = join(dir, 'reference.json');
        let ref: number[];
        if (await exists(refFile)) ref = JSON.parse(await readFile(refFile, 'utf8')) as number[];
        else {
          const seqs = dpoPairs.flatMap(({ chosen, rejected }) => [recordSequence(chosen), recordSequence(rejected)]);
          progress('reference', 0, seqs.length);
          try {
            ref = Array.from(
              (await scoreSequences(lm.model, seqs, { signal, onProgress: (d, t) => progress('reference', d, t) }))
                .logps,
            );
          } catch (e) {
            if (aborted(e)) return { aborted: true, iterations: done, finalDir: current, protocol: record };
            throw e;
          }
          await writeFileAtomic(refFile, utf8(JSON.stringify(ref) + '\n'));
        }
        units = dpoPairs.map(({ chosen, rejected }, i) => ({
          sequences: [recordSequence(chosen), recordSequence(rejected)],
          refLogps: [ref[2 * i]!, ref[2 * i + 1]!] as const,
        }));
      }

      // 3. Training (resumable), then the checkpoint, written whole before it is renamed into place.
      if (!trained) {
        let outcome: TrainOutcome | null = null;
        if (units.length > 0) {
          const objective =
            options.mode === 'dpo'
              ? {
                  type: 'dpo' as const,
                  beta: ps.dpoBeta,
                  lossType: dpo?.lossType ?? DPO_DEFAULTS.lossType,
                }
              : { type: 'sft' as const };
          const before = resumingTrain ? await partialHistory(partial) : [];
          outcome = await trainUnits(lm.model, units, objective, train, {
            resume: resumingTrain,
            signal,
            onProgress: (t) => progress('train', t.step, t.totalSteps, t),
          });
          outcome = { ...outcome, history: [...before, ...outcome.history] };
          if (outcome.aborted) {
            await savePartial(partial, lm, outcome.history);
            return { aborted: true, iterations: done, finalDir: current, protocol: record };
          }
        }
        await saveCheckpoint(checkpoint, lm, {
          'train.json': {
            units: units.length,
            ...(outcome ?? { totalSteps: 0, step: 0, aborted: false, history: [] }),
          },
        });
        await rm(partial, { recursive: true, force: true });
      }
      const trainLog = JSON.parse(await readFile(join(checkpoint, 'train.json'), 'utf8')) as TrainLog;

      // 4. Evaluation (of this iteration's checkpoint) and the iteration's summary.
      let evaluation: Record<string, unknown> | undefined;
      if (options.evaluate) {
        progress('evaluate', 0, 1);
        try {
          evaluation = await options.evaluate(ctx, it);
        } catch (e) {
          if (aborted(e)) return { aborted: true, iterations: done, finalDir: current, protocol: record };
          throw e;
        }
        progress('evaluate', 1, 1);
      }
      const summary = {
        ...summarize(it, part.length, records, options.mode, trainLog, skipped, checkpoint, evaluation),
        protocol: record,
      };
      await writeFileAtomic(metricsFile, utf8(JSON.stringify(summary, null, 1) + '\n'));
      done.push(summary);
      current = checkpoint;
    } finally {
      lm.model.dispose();
    }
  }
  return { aborted: false, iterations: done, finalDir: current, protocol: record };
}

interface TrainLog {
  units: number;
  totalSteps: number;
  history: Array<Record<string, number>>;
  batches?: BatchSummary;
}

function summarize(
  iteration: number,
  pairs: number,
  records: readonly RationaleRecord[],
  mode: StarMode,
  trainLog: TrainLog,
  skipped: Skipped[],
  checkpoint: string,
  evaluation?: Record<string, unknown>,
): StarIteration {
  const plain = records.filter((r) => r.hint === undefined);
  const hinted = records.filter((r) => r.hint !== undefined);
  const agreeing = plain.filter((r) => r.agrees && r.finish_reason === 'stop');
  const losses = trainLog.history.map((h) => h.loss!).filter(Number.isFinite);
  // The mean loss of the last tenth of the steps: the end of training, less noisy than the last step.
  const tail = losses.slice(-Math.max(1, Math.ceil(losses.length / 10)));
  const hintSkipped = skipped.filter((s) => s.reason.startsWith('rationalization skipped')).length;
  return {
    iteration,
    pairs,
    samples: plain.length,
    agreeing: agreeing.length,
    kept: records.filter((r) => r.kept).length,
    keepRate: plain.length ? plain.filter((r) => r.kept).length / plain.length : 0,
    pairsWithAgreeing: new Set(agreeing.map((r) => r.pair_id)).size,
    noVerdict: plain.filter((r) => r.verdict === null).length,
    cutOff: plain.filter((r) => r.finish_reason !== 'stop').length,
    ...(mode === 'rationalizer'
      ? {
          rationalized: {
            attempted: new Set(hinted.map((r) => r.pair_id)).size + hintSkipped,
            rescued: new Set(hinted.filter((r) => r.kept).map((r) => r.pair_id)).size,
          },
        }
      : {}),
    ...(mode === 'dpo' ? { dpoPairs: trainLog.units } : {}),
    trainUnits: trainLog.units,
    trainSteps: trainLog.totalSteps,
    trainLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : null,
    skipped,
    ...(evaluation ? { eval: evaluation } : {}),
    checkpoint,
    ...(trainLog.batches ? { batches: trainLog.batches } : {}),
  };
}
