// Judging rationales in the world's language: the worked solution once, the
// check of each shown answer against it, then the verdict. rationaleFor writes the faithful one; isFaithful asks of any
// rationale (a model's, say) whether its checks agree with the truth and its
// verdict follows from them, which is what STaR's filter cannot see.
import { answerCheck, checkWork, isCorrect, parseQuestion } from './families/index.js';
import type { Question } from './types.js';

export type Position = 'A' | 'B';

/** What a rationale is about: the question (structured, or its text) and the two labelled answers. */
export interface RationalePair {
  question: Question | string;
  chosen: string;
  rejected: string;
}

/** The "check this answer" request of the pretraining corpus, also usable to ask a model for one check. */
export function checkPrompt(question: string, answer: string): string {
  return `${question}\nProposed answer:\n${answer}\nCheck this answer.`;
}

/** The judging text: the worked solution (checkWork), both answers checked against it in the shown order, then a verdict line. */
export function formatRationale(work: string, checkA: string, checkB: string, verdict: Position): string {
  return `${work}\nCheck of A: ${checkA}\nCheck of B: ${checkB}\nVerdict: [[${verdict}]]`;
}

function questionOf(pair: RationalePair): Question {
  if (typeof pair.question !== 'string') return pair.question;
  const q = parseQuestion(pair.question);
  if (!q)
    throw new RangeError(
      `question: not a question of the built-in world: ${JSON.stringify(pair.question.slice(0, 80))}`,
    );
  return q;
}

/** The answers as shown: `chosenAt` is where the labelled-chosen answer sits. */
function shown(pair: RationalePair, chosenAt: Position): [string, string] {
  return chosenAt === 'A' ? [pair.chosen, pair.rejected] : [pair.rejected, pair.chosen];
}

/**
 * The faithful rationale: the checks of A and B, and the verdict for the one that
 * checks right (by the truth, not the possibly noisy label). When both or neither
 * check right, no verdict follows from the checks; it then names the chosen one.
 */
export function rationaleFor(pair: RationalePair, chosenAt: Position): string {
  const q = questionOf(pair);
  const [a, b] = shown(pair, chosenAt);
  const ra = isCorrect(q, a);
  const rb = isCorrect(q, b);
  return formatRationale(checkWork(q), answerCheck(q, a), answerCheck(q, b), ra !== rb ? (ra ? 'A' : 'B') : chosenAt);
}

export type CheckResult = 'right' | 'wrong';

export interface ParsedRationale {
  /** The last "The answer is right/wrong." in the check of A (B); null when absent. */
  checkA: CheckResult | null;
  checkB: CheckResult | null;
  /** The last [[A]] or [[B]] in the text; null when absent. */
  verdict: Position | null;
}

const JUDGEMENT = /The answer is (right|wrong)\./g;

function judgementIn(segment: string): CheckResult | null {
  let last: CheckResult | null = null;
  for (const m of segment.matchAll(JUDGEMENT)) last = m[1] as CheckResult;
  return last;
}

export function parseRationale(text: string): ParsedRationale {
  const at = { A: text.indexOf('Check of A:'), B: text.indexOf('Check of B:') };
  // Each check runs to the next marker (or the verdict, or the end), in whichever order they appear.
  const segment = (p: Position) => {
    const start = at[p];
    if (start < 0) return '';
    const other = at[p === 'A' ? 'B' : 'A'];
    const ends = [other > start ? other : -1, text.indexOf('[[', start)].filter((i) => i > start);
    return text.slice(start, ends.length > 0 ? Math.min(...ends) : text.length);
  };
  let verdict: Position | null = null;
  for (const m of text.matchAll(/\[\[([AB])\]\]/g)) verdict = m[1] as Position;
  return { checkA: judgementIn(segment('A')), checkB: judgementIn(segment('B')), verdict };
}

/**
 * Whether a rationale is faithful: its check of A and of B each say what is true of
 * that answer, and its verdict names the one that checked right. A pair whose two
 * answers are both right (or both wrong) has no faithful rationale.
 */
export function isFaithful(pair: RationalePair, chosenAt: Position, rationaleText: string): boolean {
  const q = questionOf(pair);
  const [a, b] = shown(pair, chosenAt);
  const truth = { A: isCorrect(q, a), B: isCorrect(q, b) };
  if (truth.A === truth.B) return false;
  const r = parseRationale(rationaleText);
  const said = (c: CheckResult | null) => (c === null ? null : c === 'right');
  return said(r.checkA) === truth.A && said(r.checkB) === truth.B && r.verdict === (truth.A ? 'A' : 'B');
}
