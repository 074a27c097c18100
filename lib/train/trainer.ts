// The training loop shared by every trainer (BT, pairwise, GenRM, STaR-SFT,
// STaR-DPO): token-budget batches, AdamW with warmup + cosine, progress
// callbacks with throughput and ETA, an AbortSignal honoured between steps, and
// resumption from the optimizer step a checkpoint was saved at.
import { packSequences, type PackedBatch, type SequenceInput } from '../model/batch.js';
import type { Metrics, Model, Objective } from '../model/model.js';
import { planEpochs } from './batches.js';
import { ADAMW_DEFAULTS, SCHEDULE_DEFAULTS } from '../defaults.js';

export type TrainObjective =
  | { type: 'sft' }
  | { type: 'bt'; centerRewardsCoefficient?: number }
  /** Defaults: DPO_DEFAULTS (beta 1.0, the paper's; sigmoid loss; no label smoothing). */
  | { type: 'dpo'; beta?: number; lossType?: 'sigmoid' | 'ipo' | 'hinge' | 'robust'; labelSmoothing?: number };

/** Sequences that share a batch. For bt and dpo: exactly [chosen, rejected]. */
export interface TrainUnit {
  sequences: SequenceInput[];
  /** dpo: the reference model's log-probs of [chosen, rejected]. */
  refLogps?: readonly [number, number];
}

/** Hyper-parameters; each default and its source is in defaults.ts (TRAIN_DEFAULTS). */
export interface TrainSettings {
  /** Peak learning rate. Default 1e-6 (the paper's). */
  lr?: number;
  /** AdamW betas. Default 0.9 and 0.95 (the paper's). */
  beta1?: number;
  beta2?: number;
  /** Decoupled weight decay (not on norms). Default 0.1 (the paper's). */
  weightDecay?: number;
  /** Fraction of the steps spent warming up linearly. Default 0.1 (the paper's). */
  warmupRatio?: number;
  /** Cosine decays to this fraction of lr. Default 0. */
  minLrRatio?: number;
  /** Global gradient-norm clip; 0 = off. Default 1 (HF's). */
  maxGradNorm?: number;
  /** Passes over the units. Default 1. */
  epochs?: number;
  /** Most tokens per batch (one optimizer step). Default 4096. */
  batchTokens?: number;
  /**
   * Most units per batch: pairs for bt and dpo, sequences for sft (the Hugging
   * Face Trainer's and TRL's batch size). Default 0: only batchTokens limits a
   * batch. Each step's count is reported (TrainProgress.batch, history).
   */
  batchSize?: number;
  /** Seed of the data order. Default 0. */
  seed?: number;
}

export const TRAIN_DEFAULTS: Required<TrainSettings> = {
  lr: ADAMW_DEFAULTS.lr,
  beta1: ADAMW_DEFAULTS.beta1,
  beta2: ADAMW_DEFAULTS.beta2,
  weightDecay: ADAMW_DEFAULTS.weightDecay,
  maxGradNorm: ADAMW_DEFAULTS.maxGradNorm,
  ...SCHEDULE_DEFAULTS,
};

/** What one optimizer step holds. */
export interface StepBatch {
  /** Pairs (bt, dpo) or sequences (sft). */
  units: number;
  /** Sequences: two per pair, one per sft unit. */
  sequences: number;
  tokens: number;
}

/** The batches of a whole plan: what a step holds, at least, on average and at most. */
export interface BatchSummary {
  /** What a unit is: a preference pair (bt, dpo) or a sequence (sft). */
  unit: 'pair' | 'sequence';
  batchTokens: number;
  /** 0 = no limit but the tokens. */
  batchSize: number;
  steps: number;
  unitsPerStep: { min: number; mean: number; max: number };
  tokensPerStep: { min: number; mean: number; max: number };
}

export interface TrainProgress {
  /** Optimizer steps done, of totalSteps. */
  step: number;
  totalSteps: number;
  metrics: Metrics;
  /** What this step held. */
  batch: StepBatch;
  /** The whole plan's batches. */
  batches: BatchSummary;
  /** Tokens processed since this call started. */
  tokens: number;
  tokensPerSecond: number;
  elapsedMs: number;
  /** Estimated time to the last step. */
  etaMs: number;
}

export interface RunHooks {
  /**
   * Continue the schedule from the model's optimizer step (a model loaded with
   * its optimizer state, after an interruption); default false: the optimizer
   * state is reset and the schedule starts at step 0.
   */
  resume?: boolean;
  onProgress?: (p: TrainProgress) => void;
  /** Checked between steps: the loop stops and reports aborted (the caller saves). */
  signal?: AbortSignal;
}

export interface TrainOutcome {
  /** Steps this plan has (all epochs). */
  totalSteps: number;
  /** The model's step count when the loop stopped. */
  step: number;
  aborted: boolean;
  /** Per step taken in this call: the step number, its metrics, and what it held (batch_units: pairs or sequences; batch_tokens). */
  history: Array<{ step: number } & Metrics>;
  /** The plan's batches (all epochs), counted in units and tokens. */
  batches: BatchSummary;
}

export function resolveSettings(s: TrainSettings = {}): Required<TrainSettings> {
  const r = {
    ...TRAIN_DEFAULTS,
    ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)),
  } as Required<TrainSettings>;
  const check = (name: keyof TrainSettings, ok: boolean, want: string) => {
    if (!ok) throw new RangeError(`${name}: expected ${want}, got ${r[name]}`);
  };
  check('lr', r.lr > 0 && Number.isFinite(r.lr), 'a positive number');
  check('beta1', r.beta1 >= 0 && r.beta1 < 1, 'a number in [0, 1)');
  check('beta2', r.beta2 >= 0 && r.beta2 < 1, 'a number in [0, 1)');
  check('weightDecay', r.weightDecay >= 0, 'a number >= 0');
  check('warmupRatio', r.warmupRatio >= 0 && r.warmupRatio <= 1, 'a number in [0, 1]');
  check('minLrRatio', r.minLrRatio >= 0 && r.minLrRatio <= 1, 'a number in [0, 1]');
  check('maxGradNorm', r.maxGradNorm >= 0, 'a number >= 0');
  check('epochs', Number.isInteger(r.epochs) && r.epochs >= 1, 'an integer >= 1');
  check('batchTokens', Number.isInteger(r.batchTokens) && r.batchTokens >= 1, 'an integer >= 1');
  check('batchSize', Number.isInteger(r.batchSize) && r.batchSize >= 0, 'an integer >= 0 (0 = no limit)');
  check('seed', Number.isInteger(r.seed), 'an integer');
  return r;
}

const unitTokens = (u: TrainUnit) => u.sequences.reduce((n, s) => n + s.ids.length, 0);

const spread = (xs: readonly number[]) => ({
  min: xs.length ? Math.min(...xs) : 0,
  mean: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0,
  max: xs.length ? Math.max(...xs) : 0,
});

/** The batches of a plan, counted in units and tokens. */
export function summarizeBatches(
  plan: readonly (readonly number[])[],
  sizes: readonly number[],
  objective: TrainObjective,
  settings: Pick<Required<TrainSettings>, 'batchTokens' | 'batchSize'>,
): BatchSummary {
  return {
    unit: objective.type === 'sft' ? 'sequence' : 'pair',
    batchTokens: settings.batchTokens,
    batchSize: settings.batchSize,
    steps: plan.length,
    unitsPerStep: spread(plan.map((b) => b.length)),
    tokensPerStep: spread(plan.map((b) => b.reduce((n, i) => n + sizes[i]!, 0))),
  };
}

function batchFor(
  units: readonly TrainUnit[],
  objective: TrainObjective,
): { batch: PackedBatch; objective: Objective } {
  const sequences = units.flatMap((u) => u.sequences);
  const batch = packSequences(sequences);
  if (objective.type === 'sft') return { batch, objective };
  const pairs = units.map((_, i) => [2 * i, 2 * i + 1] as const);
  if (objective.type === 'bt') return { batch, objective: { ...objective, pairs } };
  const refLogps = units.flatMap((u) => [u.refLogps![0], u.refLogps![1]]);
  return { batch, objective: { ...objective, pairs, refLogps } }; // Model fills DPO_DEFAULTS
}

function validate(model: Model, units: readonly TrainUnit[], objective: TrainObjective): void {
  const limit = model.config.max_position_embeddings;
  units.forEach((u, i) => {
    if (objective.type !== 'sft' && u.sequences.length !== 2)
      throw new RangeError(
        `units[${i}].sequences: a ${objective.type} unit is [chosen, rejected], got ${u.sequences.length} sequences`,
      );
    if (objective.type === 'dpo' && (!u.refLogps || !u.refLogps.every(Number.isFinite)))
      throw new RangeError(`units[${i}].refLogps: expected two finite reference log-probs for dpo`);
    u.sequences.forEach((s, j) => {
      if (s.ids.length < 1 || s.ids.length > limit)
        throw new RangeError(
          `units[${i}].sequences[${j}]: ${s.ids.length} tokens; expected 1 to ${limit} (max_position_embeddings)`,
        );
    });
  });
}

/**
 * Trains on `units` for the configured epochs, one optimizer step per batch.
 * With `resume`, continues from `model.step`: a model loaded with its optimizer
 * state goes on where it stopped, on the same batches, bitwise.
 */
export async function trainUnits(
  model: Model,
  units: readonly TrainUnit[],
  objective: TrainObjective,
  settings: TrainSettings = {},
  hooks: RunHooks = {},
): Promise<TrainOutcome> {
  const s = resolveSettings(settings);
  if (units.length === 0) throw new RangeError('trainUnits: no training units (nothing to train on)');
  validate(model, units, objective);
  if (!hooks.resume) await model.resetOptimizer();
  const sizes = units.map(unitTokens);
  const plan = planEpochs(sizes, { budget: s.batchTokens, epochs: s.epochs, seed: s.seed, maxUnits: s.batchSize });
  const totalSteps = plan.length;
  const batches = summarizeBatches(plan, sizes, objective, s);
  const optimizer = {
    lr: s.lr,
    beta1: s.beta1,
    beta2: s.beta2,
    weightDecay: s.weightDecay,
    maxGradNorm: s.maxGradNorm,
    // Rounded up, as the Hugging Face Trainer rounds warmup_ratio * steps.
    warmupSteps: Math.ceil(s.warmupRatio * totalSteps),
    totalSteps,
    minLrRatio: s.minLrRatio,
  };
  const history: TrainOutcome['history'] = [];
  const start = performance.now();
  let tokens = 0;
  let stepsHere = 0;
  for (let step = model.step; step < totalSteps; step++) {
    if (hooks.signal?.aborted) return { totalSteps, step, aborted: true, history, batches };
    const chunk = plan[step]!.map((i) => units[i]!);
    const { batch, objective: o } = batchFor(chunk, objective);
    const metrics = await model.trainStep(o, batch, optimizer);
    tokens += batch.ids.length;
    stepsHere++;
    const held: StepBatch = {
      units: chunk.length,
      sequences: chunk.reduce((n, u) => n + u.sequences.length, 0),
      tokens: batch.ids.length,
    };
    history.push({ ...metrics, step: step + 1, batch_units: held.units, batch_tokens: held.tokens });
    const elapsedMs = performance.now() - start;
    hooks.onProgress?.({
      step: step + 1,
      totalSteps,
      metrics,
      batch: held,
      batches,
      tokens,
      elapsedMs,
      tokensPerSecond: tokens / Math.max(elapsedMs / 1000, 1e-9),
      etaMs: (elapsedMs / stepsHere) * (totalSteps - step - 1),
    });
  }
  return { totalSteps, step: Math.max(model.step, 0), aborted: false, history, batches };
}
