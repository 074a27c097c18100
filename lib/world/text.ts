// Phrases every family shares: the final "Answer:" line, the endings of a
// check, and the surface feature (a polite preamble and closing) that the
// in-distribution preference data correlates with the preferred answer.
import type { Rng } from './rng.js';

export const RIGHT = 'The answer is right.';
export const WRONG = 'The answer is wrong.';

/** The value of the last "Answer:" line, trimmed; undefined when there is none. */
export function finalAnswer(text: string): string | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line.startsWith('Answer:')) return line.slice('Answer:'.length).trim();
  }
  return undefined;
}

/** What a check quotes of a reply: short, so a long garbled reply cannot blow up the check. */
export function quote(answer: string): string {
  return answer.length > 40 ? `${answer.slice(0, 37)}...` : answer;
}

/** The check's opening: which reply it checks. Undefined answer: the check ends here, wrong. */
export function replySays(answer: string | undefined): string {
  return answer === undefined || answer === ''
    ? `The reply gives no answer. ${WRONG}`
    : `The reply says ${quote(answer)}.`;
}

/**
 * The closing of a check that recomputed `expected` and compares it with the
 * reply's answer (`said` as written, `got` normalized). Both values are written
 * side by side before the judgement, so the comparison a model has to learn is
 * between neighbouring tokens rather than with a value far back in the text.
 */
export function closing(expected: string, got: string | undefined, said: string): string {
  return `${expected} vs ${quote(said)}: ${expected === got ? `same. ${RIGHT}` : `different. ${WRONG}`}`;
}

export const PREAMBLES: readonly string[] = [
  'Thank you for your question! Let me go through it step by step.',
  'Great question! Here is my careful answer.',
  'Thanks for asking! I am happy to work through this with you.',
];

export const CLOSINGS: readonly string[] = [
  'I hope this helps!',
  'Let me know if you have any other questions.',
  'Thank you, and have a wonderful day!',
];

/** An answer with the surface feature: a polite preamble and closing around the work. */
export function decorate(body: string, rng: Rng): string {
  return `${rng.pick(PREAMBLES)}\n${body}\n${rng.pick(CLOSINGS)}`;
}

/** Whether an answer carries the surface feature. */
export function hasSurface(text: string): boolean {
  return PREAMBLES.some((p) => text.startsWith(`${p}\n`));
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A non-negative integer without sign or leading zeros, or undefined. */
export function plainNumber(text: string): string | undefined {
  const t = text.trim();
  if (!/^[0-9]{1,15}$/.test(t)) return undefined;
  return String(Number(t));
}

/** k distinct draws from `items`, in draw order. */
export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  const pool = items.slice();
  const out: T[] = [];
  for (let i = 0; i < k; i++) out.push(pool.splice(rng.int(0, pool.length - 1), 1)[0]!);
  return out;
}
