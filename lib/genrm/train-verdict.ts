// GenRM (direct): supervised fine-tuning on the verdict token, -log p([[X]] |
// question, answer A, answer B), with each pair shown in both orders so the
// judge cannot learn a position.
import { requireUnits, type PairLike, type Skipped } from '../train/bt.js';
import { trainUnits, type RunHooks, type TrainOutcome, type TrainSettings, type TrainUnit } from '../train/trainer.js';
import { verdictSequence, type JudgeContext } from './judge.js';

export function verdictUnits(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
): { units: TrainUnit[]; skipped: Skipped[] } {
  const limit = ctx.model.config.max_position_embeddings;
  const units: TrainUnit[] = [];
  const skipped: Skipped[] = [];
  for (const pair of pairs) {
    const both = [verdictSequence(ctx, pair, 'A', 'A'), verdictSequence(ctx, pair, 'B', 'B')];
    const longest = Math.max(...both.map((s) => s.ids.length));
    if (longest > limit)
      skipped.push({ id: pair.id, reason: `${longest} tokens exceed the model's ${limit} positions` });
    else units.push(...both.map((s) => ({ sequences: [s] })));
  }
  return { units, skipped };
}

export async function trainGenRM(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
  settings: TrainSettings = {},
  hooks: RunHooks = {},
): Promise<TrainOutcome & { skipped: Skipped[] }> {
  const { units, skipped } = verdictUnits(ctx, pairs);
  requireUnits(units, skipped, 'trainGenRM');
  return { ...(await trainUnits(ctx.model, units, { type: 'sft' }, settings, hooks)), skipped };
}
