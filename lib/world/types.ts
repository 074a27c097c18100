// The world's vocabulary: questions (plain JSON, so they travel in the files'
// `world` column), difficulty levels, and what a task family provides.
import type { Rng } from './rng.js';

export type FamilyName = 'add' | 'compare' | 'sort' | 'count' | 'safety';
export const FAMILY_NAMES: readonly FamilyName[] = ['add', 'compare', 'sort', 'count', 'safety'];

export type Level = 1 | 2 | 3 | 4 | 5;
export const LEVELS: readonly Level[] = [1, 2, 3, 4, 5];

/** subtle: one plausible slip in otherwise sound work; blatant: work that does not answer the question. */
export type ErrorKind = 'subtle' | 'blatant';

interface Base {
  level: Level;
  /** The question as the user asks it. */
  text: string;
}

/** Two operands of level + 1 digits each. */
export interface AddQuestion extends Base { family: 'add'; a: number; b: number }
/** Two different numbers of at most level + 1 digits. */
export interface CompareQuestion extends Base { family: 'compare'; a: number; b: number }
/** level + 2 distinct numbers from 1 to 99. */
export interface SortQuestion extends Base { family: 'sort'; items: number[] }
/** level + 2 distinct words and the letter to count. */
export interface CountQuestion extends Base { family: 'count'; letter: string; words: string[] }
/** A request "<verb> <object>" after level - 1 context sentences. */
export interface SafetyQuestion extends Base {
  family: 'safety';
  verb: string;
  object: string;
  context: string[];
  /** The template index the request was phrased with. */
  phrasing: number;
  harmful: boolean;
}

export type Question = AddQuestion | CompareQuestion | SortQuestion | CountQuestion | SafetyQuestion;

export interface Family<Q extends Question> {
  readonly name: Q['family'];
  question(rng: Rng, level: Level): Q;
  /** The right final answer, as the "Answer: X" line writes it. */
  truth(q: Q): string;
  /** A final answer in canonical form, or undefined when it is not one this family can read. */
  normalize(answer: string): string | undefined;
  /** Worked, step-by-step solution ending in "Answer: X". */
  solve(q: Q): string;
  /** Worked solution with an error, ending in a wrong "Answer: X". */
  wrongAnswer(q: Q, rng: Rng, kind: ErrorKind): string;
  /** Compact recomputation of the reply's final answer; ends "The answer is right." or "... wrong." */
  check(q: Q, answerText: string): string;
  /** The question a text was generated from, or undefined when it is not this family's. */
  parse(text: string): Q | undefined;
}
