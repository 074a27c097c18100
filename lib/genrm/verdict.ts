// Reading a judge's verdict and turning verdicts into scores. A score is 1 when
// the judge preferred the human-chosen answer, 0 for the other, 0.5 when it gave
// no verdict or votes tied (RewardBench's generative harness scores an output
// with no verdict 0.5, "effectively a tie").
import type { Verdict } from './prompt.js';

/**
 * How a verdict is read from a judge's output:
 * - 'last': the last [[A]] or [[B]], so a judge that revises itself is read at
 *   its final word (genrm's rule);
 * - 'rewardbench': A when "[[A]]" occurs anywhere, else B when "[[B]]" does,
 *   else none - the rule of RewardBench's process_judgement and FastChat's
 *   pairwise judge. An output naming both is read as A wherever the tags are.
 */
export type VerdictRule = 'last' | 'rewardbench';
export const VERDICT_RULES: readonly VerdictRule[] = ['last', 'rewardbench'];

const VERDICT = /\[\[(A|B)\]\]/g;

/** The verdict of a judge's output under `rule` (default 'last'), or null when there is none. */
export function parseVerdict(text: string, rule: VerdictRule = 'last'): Verdict | null {
  if (rule === 'rewardbench') return text.includes('[[A]]') ? 'A' : text.includes('[[B]]') ? 'B' : null;
  if (rule !== 'last')
    throw new RangeError(`verdict rule: expected one of ${VERDICT_RULES.join(', ')}, got ${JSON.stringify(rule)}`);
  let last: Verdict | null = null;
  for (const m of text.matchAll(VERDICT)) last = m[1] as Verdict;
  return last;
}

export const flip = (v: Verdict): Verdict => (v === 'A' ? 'B' : 'A');

/** Score of one verdict given which position held the human-chosen answer. */
export function verdictScore(verdict: Verdict | null, chosenAt: Verdict): number {
  return verdict === null ? 0.5 : verdict === chosenAt ? 1 : 0;
}

export interface Vote {
  /** 1, 0 or 0.5 (tie or no votes). */
  score: number;
  forChosen: number;
  forRejected: number;
  /** Samples without a verdict; they do not vote. */
  noVerdict: number;
}

/** Majority vote over verdicts already mapped to "chose the human-chosen answer" (true/false) or null. */
export function majorityVote(votes: ReadonlyArray<boolean | null>): Vote {
  let forChosen = 0;
  let forRejected = 0;
  let noVerdict = 0;
  for (const v of votes) {
    if (v === null) noVerdict++;
    else if (v) forChosen++;
    else forRejected++;
  }
  const score = forChosen > forRejected ? 1 : forChosen < forRejected ? 0 : 0.5;
  return { score, forChosen, forRejected, noVerdict };
}
