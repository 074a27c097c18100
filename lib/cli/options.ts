// Option parsers and the option groups several commands share (data, training,
// sampling), each documented in --help with its default.
import { Command, InvalidArgumentError, Option } from 'commander';
import { PREFERENCE_FORMATS } from '../data/index.js';
import { RATIONALE_SAMPLING_DEFAULTS } from '../defaults.js';
import { TEMPLATES } from '../genrm/prompt.js';
import { TRAIN_DEFAULTS } from '../train/trainer.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return n;
}

export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

export function fraction(value: string): number {
  const n = number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`expected a number between 0 and 1, got "${value}"`);
  return n;
}

export function addDataOptions(c: Command, files: string): Command {
  return c
    .requiredOption('--data <files...>', files)
    .addOption(new Option('--format <format>', 'file format').choices(['auto', ...PREFERENCE_FORMATS]).default('auto'))
    .option('--strict', 'stop at the first malformed row instead of skipping and counting it')
    .option('--keep-ties', 'UltraFeedback: keep pairs whose two scores are equal (dropped by default)')
    .option('--limit <n>', 'read at most n pairs per file', positiveInt)
    .option('--held-out <fraction>', 'split the pairs by group (prompt_id / parent_id) and use one side', fraction)
    .addOption(new Option('--take <side>', 'with --held-out: which side to use').choices(['train', 'held-out']))
    .option('--split-seed <n>', 'seed of the group split', integer, 0);
}

export function addTrainOptions(c: Command, lrDefault = TRAIN_DEFAULTS.lr): Command {
  const d = TRAIN_DEFAULTS;
  return c
    .option('--lr <lr>', 'peak learning rate (AdamW)', number, lrDefault)
    .option('--beta1 <b>', 'AdamW beta1', number, d.beta1)
    .option('--beta2 <b>', 'AdamW beta2', number, d.beta2)
    .option('--weight-decay <w>', 'decoupled weight decay (not on norms)', number, d.weightDecay)
    .option('--warmup-ratio <r>', 'fraction of steps of linear warmup, then cosine decay', number, d.warmupRatio)
    .option('--max-grad-norm <n>', 'gradient clipping; 0 = off', number, d.maxGradNorm)
    .option('--epochs <n>', 'passes over the data', positiveInt, d.epochs)
    .option(
      '--batch-tokens <n>',
      'tokens per optimizer step (sequences are packed, no padding)',
      positiveInt,
      d.batchTokens,
    )
    .option('--seed <n>', 'seed of the data order (and of a new reward head)', integer, d.seed);
}

export function addTemplateOption(c: Command): Command {
  return c.addOption(
    new Option('--template <name>', 'judge prompt').choices(Object.keys(TEMPLATES)).default('mt-bench-pairwise'),
  );
}

/** `positions` undefined: no default here (the caller picks one per judge). */
export function addSamplingOptions(c: Command, k: number, positions?: string): Command {
  const order = new Option(
    '--positions <mode>',
    "answer order: 'random' draws one order per pair from the seed (RewardBench's way), 'both' judges both orders" +
      (positions ? '' : ' (default: both for direct, random for cot)'),
  ).choices(['random', 'both']);
  return c
    .option('--k <n>', 'rationales sampled per pair (per order shown)', positiveInt, k)
    .option('--temperature <t>', 'sampling temperature', number, RATIONALE_SAMPLING_DEFAULTS.temperature)
    .option('--top-p <p>', 'nucleus sampling threshold', number, RATIONALE_SAMPLING_DEFAULTS.topP)
    .option('--max-new-tokens <n>', 'longest rationale', positiveInt, RATIONALE_SAMPLING_DEFAULTS.maxNewTokens)
    .option('--max-batch <n>', 'samples decoded at once (bounds the key/value cache)', positiveInt, 64)
    .addOption(positions ? order.default(positions) : order);
}

export interface TrainFlags {
  lr: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  warmupRatio: number;
  maxGradNorm: number;
  epochs: number;
  batchTokens: number;
  seed: number;
}

export function trainSettings(f: TrainFlags) {
  return {
    lr: f.lr,
    beta1: f.beta1,
    beta2: f.beta2,
    weightDecay: f.weightDecay,
    warmupRatio: f.warmupRatio,
    maxGradNorm: f.maxGradNorm,
    epochs: f.epochs,
    batchTokens: f.batchTokens,
    seed: f.seed,
  };
}
