// The Bradley-Terry reward model, the paper's baseline: the whole conversation
// with one answer goes through the model, a scalar head reads the last token, and
// training maximises log sigmoid(r_chosen - r_rejected) over preference pairs.
import type { SequenceInput } from '../model/batch.js';
import type { Model } from '../model/model.js';
import type { ChatMessage } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { scoreSequences, type ForwardHooks } from './forward.js';
import { trainUnits, type RunHooks, type TrainOutcome, type TrainSettings, type TrainUnit } from './trainer.js';

/** The parts of a preference pair a reward model reads. */
export interface PairLike {
  id: string;
  prompt: readonly ChatMessage[];
  chosen: string;
  rejected: string;
  subset?: string;
}

export interface Skipped {
  id: string;
  reason: string;
}

/** Token ids of a conversation ending in `answer`, as a reward model reads it. */
export function answerSequence(tokenizer: Tokenizer, prompt: readonly ChatMessage[], answer: string): Int32Array {
  return tokenizer.applyChatTemplate([...prompt, { role: 'assistant', content: answer }]).ids;
}

/** (chosen, rejected) sequences per pair; pairs that do not fit the context are skipped with the reason. */
export function btUnits(
  tokenizer: Tokenizer,
  pairs: readonly PairLike[],
  maxLength: number,
): { units: TrainUnit[]; kept: PairLike[]; skipped: Skipped[] } {
  const units: TrainUnit[] = [];
  const kept: PairLike[] = [];
  const skipped: Skipped[] = [];
  for (const p of pairs) {
    const c = answerSequence(tokenizer, p.prompt, p.chosen);
    const r = answerSequence(tokenizer, p.prompt, p.rejected);
    const longest = Math.max(c.length, r.length);
    if (longest > maxLength) {
      skipped.push({ id: p.id, reason: `${longest} tokens exceed the model's ${maxLength} positions` });
      continue;
    }
    units.push({ sequences: [{ ids: c }, { ids: r }] });
    kept.push(p);
  }
  return { units, kept, skipped };
}

/** Training needs units; when every pair was skipped, say so and why. */
export function requireUnits(units: readonly TrainUnit[], skipped: readonly Skipped[], where: string): void {
  if (units.length > 0) return;
  if (skipped.length > 0)
    throw new RangeError(
      `${where}: all ${skipped.length} pairs were skipped, e.g. ${skipped[0]!.id}: ${skipped[0]!.reason}`,
    );
  throw new RangeError(`${where}: no pairs to train on`);
}

export interface BtTrainResult extends TrainOutcome {
  skipped: Skipped[];
}

export async function trainBradleyTerry(
  model: Model,
  tokenizer: Tokenizer,
  pairs: readonly PairLike[],
  settings: TrainSettings & { centerRewardsCoefficient?: number } = {},
  hooks: RunHooks = {},
): Promise<BtTrainResult> {
  if (!model.config.reward_head)
    throw new Error(
      'trainBradleyTerry: the model has no reward head (create it with reward_head: true, or load with { rewardHead: true })',
    );
  const { units, skipped } = btUnits(tokenizer, pairs, model.config.max_position_embeddings);
  requireUnits(units, skipped, 'trainBradleyTerry');
  const { centerRewardsCoefficient, ...rest } = settings;
  const outcome = await trainUnits(model, units, { type: 'bt', centerRewardsCoefficient }, rest, hooks);
  return { ...outcome, skipped };
}

/**
 * What an exact tie of two rewards scores: 'half' counts it 0.5 (genrm's rule:
 * a tie is no preference); 'strict' counts it 0, as RewardBench's run_rm.py does
 * (the chosen answer wins only when its reward is strictly greater).
 */
export type TieRule = 'half' | 'strict';
export const TIE_RULES: readonly TieRule[] = ['half', 'strict'];

/** The score of a pair whose chosen answer got `chosen` and the other `rejected`. */
export function rewardScore(chosen: number, rejected: number, ties: TieRule = 'half'): number {
  if (chosen > rejected) return 1;
  if (chosen < rejected) return 0;
  if (ties === 'strict') return 0;
  if (ties !== 'half')
    throw new RangeError(`ties: expected one of ${TIE_RULES.join(', ')}, got ${JSON.stringify(ties)}`);
  // NaN rewards compare neither way; they are no preference either.
  return 0.5;
}

export interface RewardJudgement {
  id: string;
  subset?: string;
  /** 1 when r_chosen > r_rejected, 0 when lower; an exact tie by the TieRule (default 0.5). */
  score: number;
  rewardChosen: number;
  rewardRejected: number;
}

/** Rewards of both answers of each pair; pairs too long for the model are skipped and listed. */
export async function evaluateBradleyTerry(
  model: Model,
  tokenizer: Tokenizer,
  pairs: readonly PairLike[],
  hooks: ForwardHooks & { ties?: TieRule } = {},
): Promise<{ judgements: RewardJudgement[]; skipped: Skipped[] }> {
  if (!model.config.reward_head) throw new Error('evaluateBradleyTerry: the model has no reward head');
  const { units, kept, skipped } = btUnits(tokenizer, pairs, model.config.max_position_embeddings);
  const sequences: SequenceInput[] = units.flatMap((u) => u.sequences);
  const { rewards } = await scoreSequences(model, sequences, hooks);
  const judgements = kept.map((p, i) => {
    const rc = rewards![2 * i]!;
    const rr = rewards![2 * i + 1]!;
    return {
      id: p.id,
      ...(p.subset === undefined ? {} : { subset: p.subset }),
      score: rewardScore(rc, rr, hooks.ties),
      rewardChosen: rc,
      rewardRejected: rr,
    };
  });
  return { judgements, skipped };
}
