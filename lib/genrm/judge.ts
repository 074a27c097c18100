// Running judges over preference pairs. Direct: compare p([[A]]) with p([[B]])
// right after the prompt, no sampling. CoT: sample rationales that end in a
// verdict and take the majority. The same code judges with an untrained base
// model (LLM-as-a-judge) or a trained GenRM; only the weights differ.
import type { SequenceInput } from '../model/batch.js';
import type { LanguageModel } from '../model/language-model.js';
import type { PairLike, Skipped } from '../train/bt.js';
import { scoreSequences } from '../train/forward.js';
import { positionsFor, show, shownPromptIds, unshowable, type PositionMode } from './pairs.js';
import type { JudgeTemplate, MultiTurnJudgeTemplate, Verdict } from './prompt.js';

export interface JudgeContext extends LanguageModel {
  template: JudgeTemplate;
  /** The prompt of two-turn conversations; unset: conversations are flattened into one question. */
  multiTurnTemplate?: MultiTurnJudgeTemplate;
}

export interface JudgeProgress {
  done: number;
  total: number;
}

export interface JudgeHooks {
  signal?: AbortSignal;
  onProgress?: (p: JudgeProgress) => void;
}

/** The ids of a verdict as the judge's whole answer: "[[A]]" then the model's end of turn. */
export function verdictIds(ctx: LanguageModel, verdict: Verdict): Int32Array {
  return concat(ctx.tokenizer.encode(`[[${verdict}]]`), ctx.tokenizer.turnEnd);
}

function concat(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Prompt + verdict as one training or scoring sequence; the verdict tokens are the targets. */
export function verdictSequence(ctx: JudgeContext, pair: PairLike, chosenAt: Verdict, verdict: Verdict): SequenceInput {
  const prompt = shownPromptIds(ctx, show(pair, chosenAt));
  return { ids: concat(prompt, verdictIds(ctx, verdict)), promptLength: prompt.length };
}

export interface DirectOptions extends JudgeHooks {
  /** Default 'both'. */
  positions?: PositionMode;
  seed?: number;
  batchTokens?: number;
}

export interface DirectJudgement {
  id: string;
  subset?: string;
  score: number;
  /** Summed over the orders shown: log p(verdict naming the chosen answer) - log p(the other). */
  margin: number;
  /** Where the chosen answer was shown, per order judged. */
  chosenAt: Verdict[];
}

/**
 * GenRM (direct): per order shown, log p([[A]]) vs log p([[B]]) after the prompt;
 * orders combine by summing margins. A margin of exactly 0 is no verdict and
 * scores 0.5, as the generative harness scores an output without one.
 */
export async function judgeDirect(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
  options: DirectOptions = {},
): Promise<{ judgements: DirectJudgement[]; skipped: Skipped[] }> {
  const mode = options.positions ?? 'both';
  const limit = ctx.model.config.max_position_embeddings;
  const sequences: SequenceInput[] = [];
  const plan: Array<{ pair: PairLike; orders: Verdict[]; first: number }> = [];
  const skipped: Skipped[] = [];
  for (const pair of pairs) {
    const why = unshowable(ctx, pair);
    if (why) {
      skipped.push({ id: pair.id, reason: why });
      continue;
    }
    const orders = positionsFor(pair, mode, options.seed ?? 0);
    const seqs = orders.flatMap((at) => [verdictSequence(ctx, pair, at, 'A'), verdictSequence(ctx, pair, at, 'B')]);
    const longest = Math.max(...seqs.map((s) => s.ids.length));
    if (longest > limit) {
      skipped.push({ id: pair.id, reason: `${longest} tokens exceed the model's ${limit} positions` });
      continue;
    }
    plan.push({ pair, orders, first: sequences.length });
    sequences.push(...seqs);
  }
  const { logps } = await scoreSequences(ctx.model, sequences, {
    batchTokens: options.batchTokens,
    signal: options.signal,
    onProgress: (done, total) =>
      options.onProgress?.({ done: Math.floor((done / Math.max(total, 1)) * plan.length), total: plan.length }),
  });
  const judgements = plan.map(({ pair, orders, first }) => {
    let margin = 0;
    orders.forEach((at, o) => {
      const a = logps[first + 2 * o]!;
      const b = logps[first + 2 * o + 1]!;
      margin += at === 'A' ? a - b : b - a;
    });
    return {
      id: pair.id,
      ...(pair.subset === undefined ? {} : { subset: pair.subset }),
      score: margin > 0 ? 1 : margin < 0 ? 0 : 0.5,
      margin,
      chosenAt: orders,
    };
  });
  return { judgements, skipped };
}
