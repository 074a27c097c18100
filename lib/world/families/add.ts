// Repeated addition: start at a number and add the same small step a number of
// times, one numbered line per addition with the ones digit's sum written out.
// Every line is local work (the running total sits at the end of the line
// before, the step is named once in the question), which a small model learns; fetching the k-th digit of a long
// operand, as column addition needs, it does not learn in our budget (see
// bench/NOTES.md, "world v3"). Dropping a carry is the classic subtle slip.
import type { AddQuestion, Family, Level } from '../types.js';
import { plainNumber } from '../text.js';

/** One slip at step `at`: a dropped carry (10 too little), a total off by one, or the count of steps off by one. */
type Slip = { at: number; kind: 'carry' | 'up' | 'down' } | { kind: 'short' | 'long' };

/** Starts grow with the level (and levels 1-2 hold thousands of questions, enough for large in-distribution splits). */
function startRange(level: Level): [number, number] {
  return level <= 2 ? [10, 499] : level <= 4 ? [100, 999] : [1000, 4999];
}

function make(level: Level, start: number, step: number): AddQuestion {
  const times = level + 1;
  return { family: 'add', level, text: `Start at ${start} and add ${step}, ${times} times.`, start, step, times };
}

function worked(q: Pick<AddQuestion, 'start' | 'step' | 'times'>, slip?: Slip): string {
  const times = slip?.kind === 'short' ? q.times - 1 : slip?.kind === 'long' ? q.times + 1 : q.times;
  const lines: string[] = [];
  let total = q.start;
  for (let i = 0; i < times; i++) {
    // The ones digit's sum is written out, so the carry is in plain sight.
    let ones = (total % 10) + q.step;
    let next = total + q.step;
    if (slip && 'at' in slip && slip.at === i) {
      if (slip.kind === 'carry') next -= 10;
      else {
        const by = slip.kind === 'up' ? 1 : -1;
        ones += by;
        next += by;
      }
    }
    lines.push(`Step ${i + 1}: ${total}+${q.step}, ones ${total % 10}+${q.step}=${ones}, so ${next}.`);
    total = next;
  }
  lines.push(`Answer: ${total}`);
  return lines.join('\n');
}

const truthOf = (q: Pick<AddQuestion, 'start' | 'step' | 'times'>) => q.start + q.step * q.times;

export const add: Family<AddQuestion> = {
  name: 'add',

  question(rng, level) {
    const [lo, hi] = startRange(level);
    return make(level, rng.int(lo, hi), rng.int(3, 9));
  },

  truth: (q) => String(truthOf(q)),
  normalize: plainNumber,
  solve: (q) => worked(q),

  wrongAnswer(q, rng, kind) {
    if (kind === 'subtle') {
      // A carry can be dropped only at a step that crosses a ten.
      const crossing: number[] = [];
      for (let i = 0; i < q.times; i++) if (((q.start + q.step * i) % 10) + q.step >= 10) crossing.push(i);
      const r = rng.float();
      if (crossing.length > 0 && r < 0.5) return worked(q, { at: rng.pick(crossing), kind: 'carry' });
      if (r < 0.8) return worked(q, { at: rng.int(0, q.times - 1), kind: rng.chance(0.5) ? 'up' : 'down' });
      return worked(q, { kind: rng.chance(0.5) ? 'short' : 'long' });
    }
    const truth = truthOf(q);
    const style = rng.int(0, 2);
    if (style === 0) {
      // The worked answer to another question of the level.
      let other = add.question(rng, q.level);
      while (truthOf(other) === truth) other = add.question(rng, q.level);
      return worked(other);
    }
    if (style === 1) return `Add it once.\nAnswer: ${q.start + q.step}`;
    let guess = rng.int(q.start, truth + 20);
    while (guess === truth) guess = rng.int(q.start, truth + 20);
    return `It is about this much.\nAnswer: ${guess}`;
  },

  parse(text) {
    const m = /^Start at ([1-9][0-9]*) and add ([1-9]), ([0-9]+) times\.$/.exec(text);
    if (!m) return undefined;
    const level = Number(m[3]) - 1;
    if (level < 1 || level > 5) return undefined;
    const [lo, hi] = startRange(level as Level);
    const start = Number(m[1]);
    const step = Number(m[2]);
    if (start < lo || start > hi || step < 3) return undefined;
    return make(level as Level, start, step);
  },
};
