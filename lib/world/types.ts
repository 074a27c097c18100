// The world's vocabulary: questions (plain JSON, so they travel in the files'
// `world` column), difficulty levels, and what a task family provides.
import type { Rng } from './rng.js';

export type FamilyName = 'add' | 'compare' | 'chain' | 'count' | 'safety';
export const FAMILY_NAMES: readonly FamilyName[] = ['add', 'compare', 'chain', 'count', 'safety'];

export type Level = 1 | 2 | 3 | 4 | 5;
export const LEVELS: readonly Level[] = [1, 2, 3, 4, 5];

/** subtle: one plausible slip in otherwise sound work; blatant: work that does not answer the question. */
export type ErrorKind = 'subtle' | 'blatant';

interface Base {
  level: Level;
  /** The question as the user asks it. */
  text: string;
}

/** Start at `start` and add `step`, level + 1 times. */
export interface AddQuestion extends Base {
  family: 'add';
  start: number;
  step: number;
  times: number;
}
/** Which of level + 1 distinct towns has the most people. */
export interface CompareQuestion extends Base {
  family: 'compare';
  towns: string[];
}
/** Where `level` stops down or up the river from a town lands. */
export interface ChainQuestion extends Base {
  family: 'chain';
  from: string;
  direction: 'down' | 'up';
  stops: number;
  phrasing: number;
}
/** level + 2 distinct words and the letter to count. */
export interface CountQuestion extends Base {
  family: 'count';
  letter: string;
  words: string[];
}
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

export type Question = AddQuestion | CompareQuestion | ChainQuestion | CountQuestion | SafetyQuestion;

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
  /** The question a text was generated from, or undefined when it is not this family's. */
  parse(text: string): Q | undefined;
}
