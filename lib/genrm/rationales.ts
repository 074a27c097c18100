// Sampling judge rationales: k samples per shown order of each pair, each
// ending (when the judge behaves) in a verdict. CoT-GenRM votes over them; the
// STaR loop filters them. Each pair's samples come from seeds derived from
// (seed, pair id, order), and the engine's samples do not depend on what shares
// a batch, so a pair's rationales are the same in any run, chunk or resume.
import { RATIONALE_SAMPLING_DEFAULTS } from '../defaults.js';
import { stopTokensOf } from '../model/language-model.js';
import type { PairLike, Skipped } from '../train/bt.js';
import { deriveSeed } from '../util/random.js';
import type { JudgeContext, JudgeHooks } from './judge.js';
import { positionsFor, show, shownPromptIds, unshowable, type PositionMode } from './pairs.js';
import type { Verdict } from './prompt.js';
import { majorityVote, parseVerdict, type VerdictRule, type Vote } from './verdict.js';

export interface SamplingOptions extends JudgeHooks {
  /** Samples per shown order. Default 4. */
  k?: number;
  /** Default 'random' (one order per pair, drawn from the seed). */
  positions?: PositionMode;
  seed?: number;
  /** Default 1.0 (the paper's). */
  temperature?: number;
  /** Default 0.95 (the paper's). */
  topP?: number;
  /** Default 512; shortened per pair to what its prompt leaves of the context. */
  maxNewTokens?: number;
  /** Samples decoding at once (bounds the key/value cache). Default 64. */
  maxBatch?: number;
  /** Pairs per native call (progress and abort granularity). Default 16. */
  chunkPairs?: number;
  /** Give the right verdict as a hint in the prompt (the STaR rationalizer). Default false. */
  hint?: boolean;
  /** Pairs whose prompt leaves fewer new tokens than this are skipped. Default 16. */
  minNewTokens?: number;
  /** How a verdict is read from a rationale. Default 'last' (see VerdictRule). */
  verdictRule?: VerdictRule;
}

export interface RationaleSample {
  chosenAt: Verdict;
  /** The verdict given as a hint, when sampled with one. */
  hint?: Verdict;
  /** Prompt ids (without any hint: what a rationale is trained after). */
  promptIds: Int32Array;
  /** The generated ids, the stop token included when it stopped. */
  tokens: Int32Array;
  text: string;
  verdict: Verdict | null;
  /** The verdict names the human-chosen answer; null without a verdict. */
  agrees: boolean | null;
  finishReason: 'stop' | 'length' | 'abort';
  logprob: number;
}

export interface PairSamples {
  pair: PairLike;
  samples: RationaleSample[];
}

interface Job {
  pair: PairLike;
  chosenAt: Verdict;
  promptIds: Int32Array;
  genIds: Int32Array;
  seed: number;
  maxNew: number;
}

/** Samples rationales for each pair; an aborted call rejects with an AbortError (partial chunks are dropped). */
export async function sampleRationales(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
  options: SamplingOptions = {},
): Promise<{ results: PairSamples[]; skipped: Skipped[] }> {
  const k = options.k ?? RATIONALE_SAMPLING_DEFAULTS.k;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k: expected an integer >= 1, got ${k}`);
  const limit = ctx.model.config.max_position_embeddings;
  const wanted = options.maxNewTokens ?? RATIONALE_SAMPLING_DEFAULTS.maxNewTokens;
  const minNew = options.minNewTokens ?? 16;
  const seed = options.seed ?? 0;
  const skipped: Skipped[] = [];
  const perPair: Array<{ pair: PairLike; jobs: Job[] }> = [];
  for (const pair of pairs) {
    const jobs: Job[] = [];
    let reason: string | null = unshowable(ctx, pair);
    for (const chosenAt of reason ? [] : positionsFor(pair, options.positions ?? 'random', seed)) {
      const s = show(pair, chosenAt);
      const promptIds = shownPromptIds(ctx, s);
      const genIds = options.hint ? shownPromptIds(ctx, s, chosenAt) : promptIds;
      const room = limit - genIds.length;
      const maxNew = Math.min(wanted, room);
      if (maxNew < Math.min(minNew, wanted))
        reason = `prompt of ${genIds.length} tokens leaves ${Math.max(room, 0)} of the model's ${limit} positions for the rationale (at least ${Math.min(minNew, wanted)} needed)`;
      jobs.push({
        pair,
        chosenAt,
        promptIds,
        genIds,
        maxNew,
        seed: deriveSeed(seed, 'rationale', pair.id, chosenAt, options.hint ? 'hint' : 'plain'),
      });
    }
    if (reason) skipped.push({ id: pair.id, reason });
    else perPair.push({ pair, jobs });
  }
  const stop = stopTokensOf(ctx);
  const chunk = options.chunkPairs ?? 16;
  const results: PairSamples[] = [];
  for (let at = 0; at < perPair.length; at += chunk) {
    if (options.signal?.aborted) throw Object.assign(new Error('sampling aborted'), { name: 'AbortError' });
    const part = perPair.slice(at, at + chunk);
    const jobs = part.flatMap((p) => p.jobs);
    const samples = new Map<Job, RationaleSample[]>();
    // One native call per distinct length budget, so a pair's budget never depends on its neighbours.
    for (const maxNew of [...new Set(jobs.map((j) => j.maxNew))]) {
      const group = jobs.filter((j) => j.maxNew === maxNew);
      const { results: out } = await ctx.model.generate(
        group.map((j) => ({ ids: j.genIds, n: k, seed: j.seed })),
        {
          maxNewTokens: maxNew,
          temperature: options.temperature ?? RATIONALE_SAMPLING_DEFAULTS.temperature,
          topP: options.topP ?? RATIONALE_SAMPLING_DEFAULTS.topP,
          stopTokens: stop,
          maxBatch: options.maxBatch ?? 64,
          signal: options.signal,
        },
      );
      group.forEach((j, g) =>
        samples.set(
          j,
          out[g]!.map((s) => {
            const text = ctx.tokenizer.decode(s.tokens, { skipSpecialTokens: true });
            const verdict = parseVerdict(text, options.verdictRule);
            return {
              chosenAt: j.chosenAt,
              ...(options.hint ? { hint: j.chosenAt } : {}),
              promptIds: j.promptIds,
              tokens: s.tokens,
              text,
              verdict,
              agrees: verdict === null ? null : verdict === j.chosenAt,
              finishReason: s.finishReason,
              logprob: s.logprob,
            };
          }),
        ),
      );
    }
    if (jobs.some((j) => samples.get(j)!.some((s) => s.finishReason === 'abort')))
      throw Object.assign(new Error('sampling aborted'), { name: 'AbortError' });
    for (const p of part) results.push({ pair: p.pair, samples: p.jobs.flatMap((j) => samples.get(j)!) });
    options.onProgress?.({ done: results.length, total: perPair.length });
  }
  return { results, skipped };
}

export interface CotJudgement extends Vote {
  id: string;
  subset?: string;
}

/** CoT-GenRM: majority vote of the sampled verdicts (ties and no votes score 0.5). */
export function voteOn(results: readonly PairSamples[]): CotJudgement[] {
  return results.map(({ pair, samples }) => ({
    id: pair.id,
    ...(pair.subset === undefined ? {} : { subset: pair.subset }),
    ...majorityVote(samples.map((s) => s.agrees)),
  }));
}

export async function judgeCot(
  ctx: JudgeContext,
  pairs: readonly PairLike[],
  options: SamplingOptions = {},
): Promise<{ judgements: CotJudgement[]; samples: PairSamples[]; skipped: Skipped[] }> {
  const { results, skipped } = await sampleRationales(ctx, pairs, options);
  return { judgements: voteOn(results), samples: results, skipped };
}
