// Which of two numbers is larger: by length first, then digit by digit from
// the left. Numbers of different lengths always put the larger leading digit
// on the shorter one, so "compare the first digits" is a tempting slip.
import type { Rng } from '../rng.js';
import type { CompareQuestion, Family, Level } from '../types.js';
import { closing, finalAnswer, plainNumber, replySays } from '../text.js';

/** Share of questions whose numbers differ in length. */
const UNEQUAL = 0.2;

function make(level: Level, a: number, b: number): CompareQuestion {
  return { family: 'compare', level, text: `Which is larger, ${a} or ${b}?`, a, b };
}

/** n random digits, the first of them `first` when given. */
function digitString(rng: Rng, n: number, first?: number): string {
  let s = first === undefined ? '' : String(first);
  while (s.length < n) s += String(rng.int(0, 9));
  return s;
}

/** Index of the first differing digit from the left (same-length numbers). */
function firstDifference(a: string, b: string): number {
  let i = 0;
  while (a[i] === b[i]) i++;
  return i;
}

/** Worked comparison; `slip` flips the decisive step ('flip'), reads from the right ('right') or compares leading digits of unequal lengths ('lead'). */
function worked(q: CompareQuestion, slip?: 'flip' | 'right' | 'lead'): string {
  const a = String(q.a);
  const b = String(q.b);
  const lines: string[] = [];
  let winner: string;
  if (a.length !== b.length && slip !== 'lead') {
    const [long, short] = a.length > b.length ? [a, b] : [b, a];
    lines.push(`${long} has ${long.length} digits and ${short} has ${short.length}.`, `More digits means larger, so ${long} is larger.`);
    winner = long;
  } else if (slip === 'lead') {
    lines.push('Compare from the left.');
    const [x, y] = [a[0]!, b[0]!];
    winner = x > y ? a : b;
    lines.push(`${x} ${x > y ? '>' : '<'} ${y}, so ${winner} is larger.`);
  } else {
    const fromRight = slip === 'right';
    lines.push(`Both have ${a.length} digits. Compare from the ${fromRight ? 'right' : 'left'}.`);
    const order = [...Array(a.length).keys()];
    if (fromRight) order.reverse();
    for (const i of order) {
      const [x, y] = [a[i]!, b[i]!];
      if (x === y) {
        lines.push(`${x} = ${y}.`);
        continue;
      }
      const aWins = (x > y) !== (slip === 'flip');
      winner = aWins ? a : b;
      lines.push(`${x} ${aWins ? '>' : '<'} ${y}, so ${winner} is larger.`);
      break;
    }
  }
  lines.push(`Answer: ${winner!}`);
  return lines.join('\n');
}

export const compare: Family<CompareQuestion> = {
  name: 'compare',

  question(rng, level) {
    const d = level + 1;
    let a: string;
    let b: string;
    if (rng.chance(UNEQUAL)) {
      const lead = rng.int(1, 8);
      a = digitString(rng, d, lead);
      b = digitString(rng, d - 1, rng.int(lead + 1, 9));
    } else {
      // A shared prefix of k digits, then the deciding digit, then anything.
      const k = rng.int(0, d - 1);
      const prefix = k === 0 ? '' : digitString(rng, k, rng.int(1, 9));
      const low = k === 0 ? 1 : 0;
      const x = rng.int(low, 9);
      let y = rng.int(low, 9);
      while (y === x) y = rng.int(low, 9);
      a = prefix + digitString(rng, d - k, x);
      b = prefix + digitString(rng, d - k, y);
    }
    return rng.chance(0.5) ? make(level, Number(a), Number(b)) : make(level, Number(b), Number(a));
  },

  truth: (q) => String(Math.max(q.a, q.b)),
  normalize: plainNumber,
  solve: (q) => worked(q),

  wrongAnswer(q, rng, kind) {
    const a = String(q.a);
    const b = String(q.b);
    if (kind === 'subtle') {
      if (a.length !== b.length) return worked(q, 'lead');
      // Reading from the right misleads only when the rightmost difference points the other way.
      let j = a.length - 1;
      while (a[j] === b[j]) j--;
      const misleads = (a[j]! > b[j]!) !== (q.a > q.b);
      return misleads && rng.chance(0.5) ? worked(q, 'right') : worked(q, 'flip');
    }
    const truth = Math.max(q.a, q.b);
    const style = rng.int(0, 2);
    if (style === 0) {
      let other = compare.question(rng, q.level);
      while (Math.max(other.a, other.b) === truth) other = compare.question(rng, q.level);
      return worked(other);
    }
    if (style === 1) return `Add them up.\nAnswer: ${q.a + q.b}`;
    return `No need to look closely.\nAnswer: ${Math.min(q.a, q.b)}`;
  },

  check(q, answerText) {
    const said = finalAnswer(answerText);
    if (said === undefined) return replySays(undefined);
    const a = String(q.a);
    const b = String(q.b);
    const larger = String(Math.max(q.a, q.b));
    let reason: string;
    if (a.length !== b.length) reason = `${larger} has more digits`;
    else {
      const i = firstDifference(a, b);
      reason = `First difference from the left: ${a[i]} ${a[i]! > b[i]! ? '>' : '<'} ${b[i]}`;
    }
    return `${replySays(said)} ${reason}, so ${larger} is larger. ${closing(larger, plainNumber(said), said)}`;
  },

  parse(text) {
    const m = /^Which is larger, ([1-9][0-9]*) or ([1-9][0-9]*)\?$/.exec(text);
    if (!m || m[1] === m[2]) return undefined;
    const level = Math.max(m[1]!.length, m[2]!.length) - 1;
    if (level < 1 || level > 5 || Math.abs(m[1]!.length - m[2]!.length) > 1) return undefined;
    return make(level as Level, Number(m[1]), Number(m[2]));
  },
};
