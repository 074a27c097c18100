// Option parsers and the option groups several commands share (data, training,
// sampling), each documented in --help with its default.
import { Command, InvalidArgumentError, Option } from 'commander';
import { PREFERENCE_FORMATS } from '../data/index.js';
import { PROTOCOL_NAMES, MULTI_TURN_RULES, type ProtocolName } from '../genrm/protocol.js';
import { TEMPLATES } from '../genrm/prompt.js';
import { VERDICT_RULES } from '../genrm/verdict.js';
import { TRAIN_DEFAULTS } from '../train/trainer.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an integer >= 0, got "${value}"`);
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
      'most tokens per optimizer step (sequences are packed, no padding)',
      positiveInt,
      d.batchTokens,
    )
    .option(
      '--batch-size <n>',
      'most pairs (bt, dpo) or sequences (sft) per optimizer step; 0 = only --batch-tokens limits a step',
      nonNegativeInt,
      d.batchSize,
    )
    .option('--seed <n>', 'seed of the data order (and of a new reward head)', integer, d.seed);
}

/** `protocolDefault`: the template is the protocol's unless given (no default here). */
export function addTemplateOption(c: Command, protocolDefault = false): Command {
  const o = new Option(
    '--template <name>',
    `judge prompt${protocolDefault ? " (default: the protocol's)" : ''}`,
  ).choices(Object.keys(TEMPLATES));
  return c.addOption(protocolDefault ? o : o.default('mt-bench-pairwise'));
}

const PROTOCOL_HELP = "(default: the protocol's)";

/** Sampling options; those a protocol sets have no default here, so a value given is an override. */
export function addSamplingOptions(c: Command): Command {
  return c
    .option('--k <n>', `rationales sampled per pair (per order shown) ${PROTOCOL_HELP}`, positiveInt)
    .option('--temperature <t>', `sampling temperature; 0 = greedy ${PROTOCOL_HELP}`, number)
    .option('--top-p <p>', `nucleus sampling threshold ${PROTOCOL_HELP}`, number)
    .option('--max-new-tokens <n>', `longest rationale ${PROTOCOL_HELP}`, positiveInt)
    .option('--max-batch <n>', 'samples decoded at once (bounds the key/value cache)', positiveInt, 64)
    .addOption(
      new Option(
        '--positions <mode>',
        `answer order: 'random' draws one order per pair from the seed and pair id (RewardBench's way), 'both' judges both orders ${PROTOCOL_HELP}`,
      ).choices(['random', 'both']),
    );
}

/** --protocol and the protocol settings without an option of their own elsewhere. */
export function addProtocolOptions(c: Command, names: readonly ProtocolName[], help: string): Command {
  return c
    .addOption(new Option('--protocol <name>', help).choices([...names]))
    .addOption(
      new Option(
        '--verdict-rule <rule>',
        `how a rationale's verdict is read: 'rewardbench' ([[A]] anywhere, else [[B]]), 'last' (the last tag) ${PROTOCOL_HELP}`,
      ).choices([...VERDICT_RULES]),
    )
    .addOption(
      new Option(
        '--multi-turn <rule>',
        `conversations of two user turns: 'template' (the multi-turn judge prompt; longer ones skipped), 'flatten' (one question) ${PROTOCOL_HELP}`,
      ).choices([...MULTI_TURN_RULES]),
    );
}

export const ALL_PROTOCOLS = PROTOCOL_NAMES;

export interface TrainFlags {
  lr: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  warmupRatio: number;
  maxGradNorm: number;
  epochs: number;
  batchTokens: number;
  batchSize: number;
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
    batchSize: f.batchSize,
    seed: f.seed,
  };
}
