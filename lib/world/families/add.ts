// Addition of two (level + 1)-digit numbers, column by column from the right
// with carries: the family where a dropped carry is the classic subtle slip.
import type { Rng } from '../rng.js';
import type { AddQuestion, Family, Level } from '../types.js';
import { closing, finalAnswer, plainNumber, replySays } from '../text.js';

interface Column { x: number; y: number; carryIn: number; sum: number }

/** A slip in one column: its carry-in forgotten, or its sum off by one. */
interface Slip { at: number; kind: 'drop' | 'up' | 'down' }

function digits(n: number): number[] {
  return String(n).split('').reverse().map(Number);
}

/** The columns as worked (with the slip, if any), and the number they spell. */
function work(a: number, b: number, slip?: Slip): { columns: Column[]; result: number } {
  const da = digits(a);
  const db = digits(b);
  const columns: Column[] = [];
  let carry = 0;
  let result = 0;
  let place = 1;
  for (let i = 0; i < Math.max(da.length, db.length); i++) {
    const x = da[i] ?? 0;
    const y = db[i] ?? 0;
    const carryIn = slip?.at === i && slip.kind === 'drop' ? 0 : carry;
    const sum = x + y + carryIn + (slip?.at === i ? (slip.kind === 'up' ? 1 : slip.kind === 'down' ? -1 : 0) : 0);
    columns.push({ x, y, carryIn, sum });
    result += (sum % 10) * place;
    place *= 10;
    carry = sum >= 10 ? 1 : 0;
  }
  return { columns, result: result + carry * place };
}

const term = (c: Column) => `${c.x}+${c.y}${c.carryIn ? '+1' : ''}=${c.sum}`;

function worked(a: number, b: number, slip?: Slip): string {
  const { columns, result } = work(a, b, slip);
  const lines = ['Add from the right.'];
  for (const c of columns) lines.push(`${term(c)}, write ${c.sum % 10}${c.sum >= 10 ? ' carry 1' : ''}.`);
  if (result >= 10 ** columns.length) lines.push('Write the last carry 1 in front.');
  lines.push(`Answer: ${result}`);
  return lines.join('\n');
}

function operand(rng: Rng, level: Level): number {
  return rng.int(10 ** level, 10 ** (level + 1) - 1);
}

function make(level: Level, a: number, b: number): AddQuestion {
  return { family: 'add', level, text: `What is ${a} + ${b}?`, a, b };
}

export const add: Family<AddQuestion> = {
  name: 'add',

  question(rng, level) {
    return make(level, operand(rng, level), operand(rng, level));
  },

  truth: (q) => String(q.a + q.b),
  normalize: plainNumber,
  solve: (q) => worked(q.a, q.b),

  wrongAnswer(q, rng, kind) {
    if (kind === 'subtle') {
      const { columns } = work(q.a, q.b);
      const carried = columns.map((c, i) => (c.carryIn ? i : -1)).filter((i) => i >= 0);
      // A forgotten carry where there is one to forget, else one column off by one
      // (kept within 0..19, so the column still writes one digit and carries 0 or 1).
      if (carried.length > 0 && rng.chance(0.75)) return worked(q.a, q.b, { at: rng.pick(carried), kind: 'drop' });
      const at = rng.int(0, columns.length - 1);
      const sum = columns[at]!.sum;
      return worked(q.a, q.b, { at, kind: sum === 0 ? 'up' : sum === 19 || rng.chance(0.5) ? 'down' : 'up' });
    }
    const truth = q.a + q.b;
    const style = rng.int(0, 3);
    if (style === 0) {
      // The worked answer to another question.
      let other = add.question(rng, q.level);
      while (other.a + other.b === truth) other = add.question(rng, q.level);
      return worked(other.a, other.b);
    }
    if (style === 1) return `Put the two numbers side by side.\nAnswer: ${q.a}${q.b}`;
    if (style === 2 && q.a !== q.b) return `Take the smaller from the larger.\nAnswer: ${Math.abs(q.a - q.b)}`;
    let guess = operand(rng, q.level);
    while (guess === truth) guess = operand(rng, q.level);
    return `It is about this much.\nAnswer: ${guess}`;
  },

  check(q, answerText) {
    const said = finalAnswer(answerText);
    if (said === undefined) return replySays(undefined);
    const { columns, result } = work(q.a, q.b);
    return `${replySays(said)} ${columns.map(term).join(', ')}, so ${result}. ${closing(String(result), plainNumber(said), said)}`;
  },

  parse(text) {
    const m = /^What is ([1-9][0-9]*) \+ ([1-9][0-9]*)\?$/.exec(text);
    if (!m) return undefined;
    const level = m[1]!.length - 1;
    if (m[2]!.length !== m[1]!.length || level < 1 || level > 5) return undefined;
    return make(level as Level, Number(m[1]), Number(m[2]));
  },
};
