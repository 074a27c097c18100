// The families by name, and family-independent entry points that dispatch on
// question.family. wrongAnswer verifies its promise (the final answer is wrong)
// instead of trusting each family's construction.
import type { Rng } from '../rng.js';
import type { ErrorKind, Family, FamilyName, Level, Question } from '../types.js';
import { closing, finalAnswer, replySays } from '../text.js';
import { add } from './add.js';
import { chain } from './chain.js';
import { compare } from './compare.js';
import { count } from './count.js';
import { safety } from './safety.js';

export const FAMILIES: Readonly<Record<FamilyName, Family<Question>>> = {
  add: add as Family<Question>,
  compare: compare as Family<Question>,
  chain: chain as Family<Question>,
  count: count as Family<Question>,
  safety: safety as Family<Question>,
};

function familyOf(q: Question): Family<Question> {
  const f = FAMILIES[q.family];
  if (!f) throw new RangeError(`question.family: unknown family ${JSON.stringify(q.family)}`);
  return f;
}

export function makeQuestion(family: FamilyName, rng: Rng, level: Level): Question {
  return FAMILIES[family].question(rng, level);
}

export function solve(q: Question): string {
  return familyOf(q).solve(q);
}

export function truthOf(q: Question): string {
  return familyOf(q).truth(q);
}

/** Whether an answer's final "Answer:" line is right. */
export function isCorrect(q: Question, answerText: string): boolean {
  const said = finalAnswer(answerText);
  return said !== undefined && familyOf(q).normalize(said) === familyOf(q).truth(q);
}

export function wrongAnswer(q: Question, rng: Rng, kind: ErrorKind): string {
  const f = familyOf(q);
  for (let attempt = 0; attempt < 16; attempt++) {
    const text = f.wrongAnswer(q, rng, kind);
    if (!isCorrect(q, text)) return text;
  }
  throw new Error(
    `wrongAnswer: ${q.family} gave only right answers to ${JSON.stringify(q.text)} (a bug in the family)`,
  );
}

/**
 * The check of one reply against a worked solution, in the order a small model
 * can follow: which answer the reply gives, then the right answer beside it, then
 * the judgement. The reply's own "Answer:" line is the only one to quote from.
 */
export function answerCheck(q: Question, answerText: string): string {
  const f = familyOf(q);
  const said = finalAnswer(answerText);
  if (said === undefined || said === '') return replySays(undefined);
  return `${replySays(said)} ${closing(f.truth(q), f.normalize(said), said)}`;
}

/**
 * The worked solution a check recomputes, ending "Right answer: X" rather than
 * "Answer: X", so that a check (or a judge) never holds a second line a model
 * could mistake for the reply's answer when it quotes one.
 */
export function checkWork(q: Question): string {
  const work = solve(q);
  const last = work.lastIndexOf('\nAnswer: ');
  if (last < 0)
    throw new Error(
      `solve: the ${q.family} solution of ${JSON.stringify(q.text)} has no final Answer line (a bug in the family)`,
    );
  return `${work.slice(0, last)}\nRight answer: ${work.slice(last + '\nAnswer: '.length)}`;
}

/**
 * "Check this answer": solve the question step by step, then compare the reply's
 * answer with the result. The step-by-step work is the skill worked solutions
 * teach, so a check costs the model one comparison more than solving, not a
 * separate shortcut computation.
 */
export function check(q: Question, answerText: string): string {
  return `${checkWork(q)}\n${answerCheck(q, answerText)}`;
}

/** The question a text was generated from (every family tried), or undefined. */
export function parseQuestion(text: string): Question | undefined {
  for (const f of Object.values(FAMILIES)) {
    const q = f.parse(text);
    if (q) return q;
  }
  return undefined;
}
