// Sorting level + 2 distinct numbers ascending by repeated selection of the
// smallest. The check is local (same numbers, then each neighbour pair in
// order), which a small model can do without sorting in its head.
import type { Family, Level, SortQuestion } from '../types.js';
import { RIGHT, WRONG, finalAnswer, replySays, sample } from '../text.js';

const NUMBERS = Array.from({ length: 99 }, (_, i) => i + 1);

/** One slip at selection step `at`: the second smallest taken ('swap'), or a number lost copying the rest ('drop'). */
interface Slip { at: number; kind: 'swap' | 'drop' }

function make(level: Level, items: number[]): SortQuestion {
  return { family: 'sort', level, text: `Sort from smallest to largest: ${items.join(', ')}.`, items };
}

function worked(items: readonly number[], slip?: Slip, descending = false): string {
  const lines: string[] = descending ? ['Sort from the largest.'] : [];
  const word = descending ? 'Largest' : 'Smallest';
  let left = items.slice();
  const out: number[] = [];
  for (let step = 0; left.length > 1; step++) {
    const ranked = left.slice().sort((x, y) => (descending ? y - x : x - y));
    const pick = slip?.at === step && slip.kind === 'swap' ? ranked[1]! : ranked[0]!;
    lines.push(`${word} of ${left.join(', ')} is ${pick}.`);
    out.push(pick);
    left = left.filter((v) => v !== pick);
    if (slip?.at === step && slip.kind === 'drop') left.splice(left.length - 1, 1);
  }
  if (left.length === 1) {
    lines.push(`Last is ${left[0]}.`);
    out.push(left[0]!);
  }
  lines.push(`Answer: ${out.join(', ')}`);
  return lines.join('\n');
}

function parseList(answer: string): number[] | undefined {
  const parts = answer.split(',').map((p) => p.trim());
  if (!parts.every((p) => /^[0-9]{1,6}$/.test(p))) return undefined;
  return parts.map(Number);
}

export const sort: Family<SortQuestion> = {
  name: 'sort',

  question(rng, level) {
    return make(level, sample(rng, NUMBERS, level + 2));
  },

  truth: (q) => q.items.slice().sort((x, y) => x - y).join(', '),
  normalize: (answer) => parseList(answer)?.join(', '),
  solve: (q) => worked(q.items),

  wrongAnswer(q, rng, kind) {
    const n = q.items.length;
    if (kind === 'subtle') {
      // A dropped number needs two left after the pick, so it can happen up to step n - 3.
      return rng.chance(0.7) ? worked(q.items, { at: rng.int(0, n - 2), kind: 'swap' }) : worked(q.items, { at: rng.int(0, n - 3), kind: 'drop' });
    }
    const truth = sort.truth(q);
    const style = rng.int(0, 2);
    if (style === 0) return worked(sort.question(rng, q.level).items);
    if (style === 1 && q.items.join(', ') !== truth) return `They are already in order.\nAnswer: ${q.items.join(', ')}`;
    return worked(q.items, undefined, true);
  },

  check(q, answerText) {
    const said = finalAnswer(answerText);
    if (said === undefined) return replySays(undefined);
    const list = parseList(said);
    if (list === undefined) return `${replySays(said)} It is not a list of numbers. ${WRONG}`;
    const want = new Map<number, number>();
    for (const v of q.items) want.set(v, (want.get(v) ?? 0) + 1);
    const seen = new Map<number, number>();
    for (const v of list) {
      seen.set(v, (seen.get(v) ?? 0) + 1);
      if (seen.get(v)! > (want.get(v) ?? 0)) {
        return `${replySays(said)} ${want.has(v) ? `${v} appears too often` : `${v} is not in the question`}. ${WRONG}`;
      }
    }
    const missing = q.items.find((v) => (seen.get(v) ?? 0) < want.get(v)!);
    if (missing !== undefined) return `${replySays(said)} ${missing} is missing. ${WRONG}`;
    const pairs: string[] = [];
    for (let i = 0; i + 1 < list.length; i++) {
      const ok = list[i]! < list[i + 1]!;
      pairs.push(`${list[i]}<${list[i + 1]} ${ok ? 'yes' : 'no'}`);
      if (!ok) return `${replySays(said)} Same numbers. ${pairs.join(', ')}. ${WRONG}`;
    }
    return `${replySays(said)} Same numbers. ${pairs.join(', ')}. ${RIGHT}`;
  },

  parse(text) {
    const m = /^Sort from smallest to largest: ([0-9, ]+)\.$/.exec(text);
    const items = m ? parseList(m[1]!) : undefined;
    if (!items || items.length < 3 || items.length > 7) return undefined;
    if (new Set(items).size !== items.length || items.some((v) => v < 1 || v > 99)) return undefined;
    return make((items.length - 2) as Level, items);
  },
};
