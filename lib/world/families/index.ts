// The families by name, and family-independent entry points that dispatch on
// question.family. wrongAnswer verifies its promise (the final answer is wrong)
// instead of trusting each family's construction.
import type { Rng } from '../rng.js';
import type { ErrorKind, Family, FamilyName, Level, Question } from '../types.js';
import { finalAnswer } from '../text.js';
import { add } from './add.js';
import { compare } from './compare.js';
import { count } from './count.js';
import { safety } from './safety.js';
import { sort } from './sort.js';

export const FAMILIES: Readonly<Record<FamilyName, Family<Question>>> = {
  add: add as Family<Question>,
  compare: compare as Family<Question>,
  sort: sort as Family<Question>,
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
  throw new Error(`wrongAnswer: ${q.family} gave only right answers to ${JSON.stringify(q.text)} (a bug in the family)`);
}

export function check(q: Question, answerText: string): string {
  return familyOf(q).check(q, answerText);
}

/** The question a text was generated from (every family tried), or undefined. */
export function parseQuestion(text: string): Question | undefined {
  for (const f of Object.values(FAMILIES)) {
    const q = f.parse(text);
    if (q) return q;
  }
  return undefined;
}
