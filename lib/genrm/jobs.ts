// What the CLI runs, as typed functions for scripts: train a reward model or a
// judge into a folder (resumable: an interrupted job saves its optimizer state
// and the same call continues it), and judge pairs with any of the judges.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLanguageModel, saveLanguageModel, type LanguageModel } from '../model/language-model.js';
import type { ProtocolRecord } from '../eval/provenance.js';
import { evaluateBradleyTerry, trainBradleyTerry, type PairLike, type Skipped, type TieRule } from '../train/bt.js';
import type { TrainOutcome, TrainProgress, TrainSettings } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { judgeDirect, type JudgeContext, type JudgeProgress } from './judge.js';
import type { PositionMode } from './pairs.js';
import { evaluatePairwise, trainPairwise } from './pairwise.js';
import { MT_BENCH_PAIRWISE, MT_BENCH_PAIRWISE_MULTI_TURN, templateByName, type JudgeTemplate } from './prompt.js';
import {
  protocolRecord,
  resolveProtocol,
  type MultiTurnRule,
  type ProtocolName,
  type ProtocolSettings,
} from './protocol.js';
import { judgeCot, type PairSamples, type SamplingOptions } from './rationales.js';
import type { VerdictRule } from './verdict.js';
import { assertUniqueIds, claimRunFolder, exists, partialHistory, runFingerprint, savePartial, utf8 } from './runs.js';
import { trainGenRM } from './train-verdict.js';

export type TrainKind = 'bt' | 'pairwise' | 'genrm';
export const TRAIN_KINDS: readonly TrainKind[] = ['bt', 'pairwise', 'genrm'];

export interface TrainJob {
  kind: TrainKind;
  /** Starting checkpoint (config.json, model.safetensors, tokenizer.json). */
  modelDir: string;
  /** The trained checkpoint goes here, with train.json (settings, per-step metrics, skipped pairs). */
  outDir: string;
  pairs: readonly PairLike[];
  /** Judge prompt of the pairwise and genrm models. Default MT_BENCH_PAIRWISE. */
  template?: JudgeTemplate;
  settings?: TrainSettings;
  /** Seed of a new reward head. Default 0. */
  seed?: number;
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
}

export interface TrainJobResult {
  aborted: boolean;
  outDir: string;
  outcome: TrainOutcome | null;
  skipped: Skipped[];
}

/** Trains, or resumes an interrupted run in the same outDir, or returns at once when outDir holds the finished run. */
export async function runTrainJob(job: TrainJob): Promise<TrainJobResult> {
  if (!(TRAIN_KINDS as readonly string[]).includes(job.kind))
    throw new RangeError(`kind: expected one of ${TRAIN_KINDS.join(', ')}, got ${JSON.stringify(job.kind)}`);
  assertUniqueIds(job.pairs, 'runTrainJob: pairs');
  await mkdir(job.outDir, { recursive: true });
  await claimRunFolder(
    job.outDir,
    runFingerprint(
      {
        kind: job.kind,
        template: (job.template ?? MT_BENCH_PAIRWISE).name,
        settings: job.settings ?? {},
        seed: job.seed ?? 0,
      },
      job.pairs,
      job.modelDir,
    ),
    'training run',
  );
  const log = join(job.outDir, 'train.json');
  if (await exists(log)) {
    const done = JSON.parse(await readFile(log, 'utf8')) as { outcome: TrainOutcome; skipped: Skipped[] };
    return { aborted: false, outDir: job.outDir, outcome: done.outcome, skipped: done.skipped };
  }
  const partial = join(job.outDir, 'partial');
  const resume = await exists(join(partial, 'optimizer.safetensors'));
  const head = job.kind !== 'genrm';
  const lm = resume
    ? await loadLanguageModel(partial, { optimizer: true })
    : await loadLanguageModel(job.modelDir, { rewardHead: head, seed: job.seed ?? 0 });
  try {
    const ctx: JudgeContext = { ...lm, template: job.template ?? MT_BENCH_PAIRWISE };
    const hooks = { resume, onProgress: job.onProgress, signal: job.signal };
    const settings = job.settings ?? {};
    const before = resume ? await partialHistory(partial) : [];
    const run =
      job.kind === 'bt'
        ? await trainBradleyTerry(lm.model, lm.tokenizer, job.pairs, settings, hooks)
        : job.kind === 'pairwise'
          ? await trainPairwise(ctx, job.pairs, settings, hooks)
          : await trainGenRM(ctx, job.pairs, settings, hooks);
    const { skipped, ...rest } = run;
    const outcome = { ...rest, history: [...before, ...rest.history] };
    if (outcome.aborted) {
      await savePartial(partial, lm, outcome.history);
      return { aborted: true, outDir: job.outDir, outcome, skipped };
    }
    // train.json, whose presence says the run is finished, is part of the same atomic checkpoint.
    const record = utf8(JSON.stringify({ kind: job.kind, settings, outcome, skipped }, null, 1) + '\n');
    await saveLanguageModel(job.outDir, lm, {
      extraFiles: (folder) => writeFileAtomic(join(folder, 'train.json'), record),
    });
    await rm(partial, { recursive: true, force: true });
    return { aborted: false, outDir: job.outDir, outcome, skipped };
  } finally {
    lm.model.dispose();
  }
}

export type JudgeKind = 'direct' | 'cot' | 'bt' | 'pairwise';
export const JUDGE_KINDS: readonly JudgeKind[] = ['direct', 'cot', 'bt', 'pairwise'];

export interface EvaluateOptions {
  kind: JudgeKind;
  /**
   * The named protocol whose settings apply (see protocol.ts); default 'genrm'.
   * Every option below that is set overrides the protocol's value, and the
   * result's record lists each such difference.
   */
  protocol?: ProtocolName;
  /** Why this protocol, for the record. Default: "given" when protocol is set, else "the default". */
  protocolChosenBy?: string;
  template?: JudgeTemplate;
  /** How two-turn conversations are shown. */
  multiTurn?: MultiTurnRule;
  /** direct and cot. */
  positions?: PositionMode;
  /** cot: how a verdict is read. */
  verdictRule?: VerdictRule;
  /** bt and pairwise: what an exact tie of rewards scores. */
  ties?: TieRule;
  seed?: number;
  /** cot sampling (k, temperature, topP, maxNewTokens, maxBatch). */
  sampling?: Pick<SamplingOptions, 'k' | 'temperature' | 'topP' | 'maxNewTokens' | 'maxBatch'>;
  batchTokens?: number;
  onProgress?: (p: JudgeProgress) => void;
  signal?: AbortSignal;
}

export interface Judged {
  judgements: Array<{ id: string; subset?: string; score: number }>;
  skipped: Skipped[];
  /** cot: samples without a verdict, of all samples. */
  noVerdict?: { samples: number; of: number };
  /** cot: the sampled rationales. */
  samples?: PairSamples[];
  /** How positions were handled, for the report. */
  positions?: string;
  /** The protocol and every setting the judgements depended on. */
  protocol: ProtocolRecord;
}

/** The protocol's settings for this judge with the explicit options applied. */
export function evaluationSettings(o: EvaluateOptions): ReturnType<typeof resolveProtocol> {
  const overrides: Partial<ProtocolSettings> = {
    template: o.template?.name,
    multiTurn: o.multiTurn,
    verdictRule: o.verdictRule,
    ties: o.ties,
    k: o.sampling?.k,
    temperature: o.sampling?.temperature,
    topP: o.sampling?.topP,
    maxNewTokens: o.sampling?.maxNewTokens,
    ...(o.kind === 'cot' ? { cotPositions: o.positions } : { directPositions: o.positions }),
  };
  return resolveProtocol(o.protocol ?? 'genrm', overrides);
}

/** Judges pairs with a loaded model (bt and pairwise need its reward head). */
export async function evaluateJudge(
  lm: LanguageModel,
  pairs: readonly PairLike[],
  o: EvaluateOptions,
): Promise<Judged> {
  assertUniqueIds(pairs, 'evaluateJudge: pairs');
  if (!(JUDGE_KINDS as readonly string[]).includes(o.kind))
    throw new RangeError(`kind: expected one of ${JUDGE_KINDS.join(', ')}, got ${JSON.stringify(o.kind)}`);
  const resolved = evaluationSettings(o);
  const s = resolved.settings;
  const seed = o.seed ?? 0;
  const chosenBy = o.protocolChosenBy ?? (o.protocol ? 'given' : 'the default');
  const random = (p: PositionMode) =>
    p === 'random' ? [`one order per pair, drawn from seed ${seed} and the pair id (reproducible)`] : [];
  const ctx: JudgeContext = {
    ...lm,
    template: o.template ?? templateByName(s.template),
    ...(s.multiTurn === 'template' ? { multiTurnTemplate: MT_BENCH_PAIRWISE_MULTI_TURN } : {}),
  };
  const forward = {
    batchTokens: o.batchTokens,
    signal: o.signal,
    onProgress: (done: number, total: number) => o.onProgress?.({ done, total }),
  };
  switch (o.kind) {
    case 'bt':
      return {
        ...(await evaluateBradleyTerry(lm.model, lm.tokenizer, pairs, {
          ...forward,
          ties: s.ties,
          onProgress: (d, t) => o.onProgress?.({ done: d / 2, total: t / 2 }),
        })),
        protocol: protocolRecord(resolved, 'bt', chosenBy),
      };
    case 'pairwise':
      return {
        ...(await evaluatePairwise(ctx, pairs, {
          ...forward,
          ties: s.ties,
          onProgress: (d, t) => o.onProgress?.({ done: d / 2, total: t / 2 }),
        })),
        positions: 'both orders in one antisymmetric score',
        protocol: protocolRecord(resolved, 'pairwise', chosenBy),
      };
    case 'direct': {
      const positions = s.directPositions;
      const r = await judgeDirect(ctx, pairs, {
        positions,
        seed,
        batchTokens: o.batchTokens,
        signal: o.signal,
        onProgress: o.onProgress,
      });
      return {
        ...r,
        positions:
          positions === 'both'
            ? 'both orders, log-prob margins summed'
            : positions === 'given'
              ? 'chosen shown as A'
              : `one order per pair drawn from seed ${seed}`,
        protocol: protocolRecord(resolved, 'direct', chosenBy, random(positions)),
      };
    }
    case 'cot': {
      const positions = s.cotPositions;
      const r = await judgeCot(ctx, pairs, {
        k: s.k,
        temperature: s.temperature,
        topP: s.topP,
        maxNewTokens: s.maxNewTokens,
        maxBatch: o.sampling?.maxBatch,
        verdictRule: s.verdictRule,
        positions,
        seed,
        signal: o.signal,
        onProgress: o.onProgress,
      });
      const all = r.samples.flatMap((x) => x.samples);
      const votes = s.k * (positions === 'both' ? 2 : 1);
      return {
        judgements: r.judgements,
        skipped: r.skipped,
        samples: r.samples,
        noVerdict: { samples: all.filter((x) => x.verdict === null).length, of: all.length },
        positions:
          positions === 'both'
            ? 'both orders, all samples vote'
            : positions === 'given'
              ? 'chosen shown as A'
              : `one order per pair drawn from seed ${seed}`,
        protocol: protocolRecord(resolved, 'cot', chosenBy, [
          ...random(positions),
          ...(votes % 2 === 0 && votes > 1 ? [`${votes} votes per pair: an even split scores 0.5`] : []),
        ]),
      };
    }
  }
}
