// Which of some towns has the most people: the towns in the question's order,
// each with its population (a fact the base model knows by heart) beside the
// largest so far ("top"), so every comparison is between neighbouring numbers. The
// subtle slips are the human ones: a town overlooked, or one comparison the
// wrong way round.
import type { CompareQuestion, Family, Level } from '../types.js';
import { sample } from '../text.js';
import { TOWNS, isTown, population } from './towns.js';

/** One slip: the town at `at` left out, or its comparison with the largest so far reversed. */
interface Slip {
  at: number;
  kind: 'skip' | 'flip';
}

function make(level: Level, towns: string[]): CompareQuestion {
  const list =
    towns.length === 2
      ? `${towns[0]} or ${towns[1]}`
      : `${towns.slice(0, -1).join(', ')} or ${towns[towns.length - 1]}`;
  return { family: 'compare', level, text: `Which town has the most people: ${list}?`, towns };
}

function worked(towns: readonly string[], slip?: Slip): string {
  const lines: string[] = [];
  let best = '';
  for (let i = 0; i < towns.length; i++) {
    if (slip?.kind === 'skip' && slip.at === i) continue;
    const t = towns[i]!;
    const n = population(t);
    if (best === '') {
      best = t;
      lines.push(`${t} has ${n}, top ${t} ${n}.`);
      continue;
    }
    const m = population(best);
    const more = n > m !== (slip?.kind === 'flip' && slip.at === i);
    if (more) best = t;
    lines.push(`${t} has ${n} ${more ? '>' : '<'} ${m}, top ${best} ${population(best)}.`);
  }
  lines.push(`Answer: ${best}`);
  return lines.join('\n');
}

const truthOf = (towns: readonly string[]) => towns.reduce((a, b) => (population(b) > population(a) ? b : a));

export const compare: Family<CompareQuestion> = {
  name: 'compare',

  question(rng, level) {
    return make(level, sample(rng, TOWNS, level + 1));
  },

  truth: (q) => truthOf(q.towns),
  normalize: (answer) => (isTown(answer.trim()) ? answer.trim() : undefined),
  solve: (q) => worked(q.towns),

  wrongAnswer(q, rng, kind) {
    const truth = truthOf(q.towns);
    const at = q.towns.indexOf(truth);
    if (kind === 'subtle') {
      // Overlooking the largest town, or misjudging it against the largest before it
      // (possible only when it is not first).
      return worked(q.towns, { at, kind: at > 0 && rng.chance(0.5) ? 'flip' : 'skip' });
    }
    const style = rng.int(0, 2);
    if (style === 0 && at !== 0) return `The first one named is the biggest.\nAnswer: ${q.towns[0]}`;
    if (style === 1) {
      let other = compare.question(rng, q.level);
      while (truthOf(other.towns) === truth) other = compare.question(rng, q.level);
      return worked(other.towns);
    }
    const wrong = q.towns.filter((t) => t !== truth);
    const guess = rng.pick(wrong);
    return `${guess} sounds big.\nAnswer: ${guess}`;
  },

  parse(text) {
    const m = /^Which town has the most people: (.+)\?$/.exec(text);
    if (!m) return undefined;
    const towns = m[1]!.split(/, | or /);
    if (towns.length < 2 || towns.length > 6 || new Set(towns).size !== towns.length || !towns.every(isTown))
      return undefined;
    const q = make((towns.length - 1) as Level, towns);
    return q.text === text ? q : undefined;
  },
};
