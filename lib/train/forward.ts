// Forward passes over many sequences in token-budget batches, results in input
// order: per-sequence log-probs of the target tokens, and rewards on
// reward-head models. Used for evaluation and DPO reference log-probs.
import { packSequences, type SequenceInput } from '../model/batch.js';
import type { Model } from '../model/model.js';
import { planInOrder } from './batches.js';

export interface ScoredSequences {
  /** Sum of target-token log-probs per sequence (sequences with targets). */
  logps: Float64Array;
  /** Target tokens per sequence. */
  counts: Float64Array;
  /** Reward per sequence (reward-head models). */
  rewards?: Float64Array;
}

export interface ForwardHooks {
  batchTokens?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export async function scoreSequences(
  model: Model,
  sequences: readonly SequenceInput[],
  hooks: ForwardHooks = {},
): Promise<ScoredSequences> {
  const limit = model.config.max_position_embeddings;
  sequences.forEach((s, i) => {
    if (s.ids.length < 1 || s.ids.length > limit)
      throw new RangeError(`sequences[${i}]: ${s.ids.length} tokens; expected 1 to ${limit} (max_position_embeddings)`);
  });
  const logps = new Float64Array(sequences.length);
  const counts = new Float64Array(sequences.length);
  const rewards = model.config.reward_head ? new Float64Array(sequences.length) : undefined;
  const plan = planInOrder(
    sequences.map((s) => s.ids.length),
    hooks.batchTokens ?? 8192,
  );
  let done = 0;
  for (const indices of plan) {
    if (hooks.signal?.aborted) throw Object.assign(new Error('scoring aborted'), { name: 'AbortError' });
    const out = await model.forward(packSequences(indices.map((i) => sequences[i]!)));
    indices.forEach((i, k) => {
      if (out.seqLogps) logps[i] = out.seqLogps[k]!;
      if (out.seqCounts) counts[i] = out.seqCounts[k]!;
      if (rewards && out.rewards) rewards[i] = out.rewards[k]!;
    });
    done += indices.length;
    hooks.onProgress?.(done, sequences.length);
  }
  return rewards ? { logps, counts, rewards } : { logps, counts };
}
