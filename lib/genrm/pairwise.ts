// The paper's pairwise baseline (PairRM-style): one pass over the question and
// both answers, a scalar head read at the last token. Trained as a
// Bradley-Terry model over the two orders of each pair - s(q, chosen, rejected)
// against s(q, rejected, chosen) - so p(A preferred) = sigmoid(s(q,A,B) - s(q,B,A))
// is antisymmetric by construction and has no position to exploit.
import type { SequenceInput } from '../model/batch.js';
import {
  requireUnits,
  rewardScore,
  type PairLike,
  type RewardJudgement,
  type Skipped,
  type TieRule,
} from '../train/bt.js';
import { scoreSequences, type ForwardHooks } from '../train/forward.js';
import { trainUnits, type RunHooks, type TrainOutcome, type TrainSettings, type TrainUnit } from '../train/trainer.js';
import type { JudgeContext } from './judge.js';
import { show, shownPromptIds, unshowable } from './pairs.js';

function orderedSequences(ctx: JudgeContext, pair: PairLike): [SequenceInput, SequenceInput] {
  const seq = (at: 'A' | 'B') => ({ ids: shownPromptIds(ctx, show(pair, at)) });
  return [seq('A'), seq('B')];
}

function pairwiseUnits(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
): { units: TrainUnit[]; kept: PairLike[]; skipped: Skipped[] } {
  const limit = ctx.model.config.max_position_embeddings;
  const units: TrainUnit[] = [];
  const kept: PairLike[] = [];
  const skipped: Skipped[] = [];
  for (const pair of pairs) {
    const why = unshowable(ctx, pair);
    if (why) {
      skipped.push({ id: pair.id, reason: why });
      continue;
    }
    const seqs = orderedSequences(ctx, pair);
    const longest = Math.max(seqs[0].ids.length, seqs[1].ids.length);
    if (longest > limit)
      skipped.push({ id: pair.id, reason: `${longest} tokens exceed the model's ${limit} positions` });
    else {
      units.push({ sequences: seqs });
      kept.push(pair);
    }
  }
  return { units, kept, skipped };
}

function requireHead(ctx: JudgeContext, what: string): void {
  if (!ctx.model.config.reward_head)
    throw new Error(`${what}: the model has no reward head (load it with { rewardHead: true })`);
}

export async function trainPairwise(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
  settings: TrainSettings = {},
  hooks: RunHooks = {},
): Promise<TrainOutcome & { skipped: Skipped[] }> {
  requireHead(ctx, 'trainPairwise');
  const { units, skipped } = pairwiseUnits(ctx, pairs);
  requireUnits(units, skipped, 'trainPairwise');
  return { ...(await trainUnits(ctx.model, units, { type: 'bt' }, settings, hooks)), skipped };
}

/**
 * rewardChosen / rewardRejected here are s(q, chosen, rejected) and s(q, rejected, chosen);
 * an exact tie scores by `hooks.ties` (default 'half'; RewardBench's PairRM rule is 'strict').
 */
export async function evaluatePairwise(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
  hooks: ForwardHooks & { ties?: TieRule } = {},
): Promise<{ judgements: RewardJudgement[]; skipped: Skipped[] }> {
  requireHead(ctx, 'evaluatePairwise');
  const { units, kept, skipped } = pairwiseUnits(ctx, pairs);
  const { rewards } = await scoreSequences(
    ctx.model,
    units.flatMap((u) => u.sequences),
    hooks,
  );
  const judgements = kept.map((p, i) => {
    const a = rewards![2 * i]!;
    const b = rewards![2 * i + 1]!;
    return {
      id: p.id,
      ...(p.subset === undefined ? {} : { subset: p.subset }),
      score: rewardScore(a, b, hooks.ties),
      rewardChosen: a,
      rewardRejected: b,
    };
  });
  return { judgements, skipped };
}
