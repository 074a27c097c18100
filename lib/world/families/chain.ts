// Following the river: start at a town and sail a number of stops down or up
// it, one numbered line per stop. Each line looks up one fact the base model
// knows by heart (the next town) about the town the line before ended on, so a
// longer trip is the same skill applied more times: the Reasoning section's
// "longer chains". Never in the in-distribution data.
import type { ChainQuestion, Family, Level } from '../types.js';
import { TOWNS, along, isTown, type Direction } from './towns.js';

/** One slip: a town skipped at step `at`, or one stop too few or too many. */
type Slip = { kind: 'skip'; at: number } | { kind: 'short' | 'long' };

/** Ways to ask; several, so that each level holds hundreds of questions (48 towns x 2 directions x 3). */
const PHRASINGS: ReadonlyArray<(stops: string, direction: Direction, from: string) => string> = [
  (n, d, from) => `Sail ${n} ${d} the river from ${from}. Where do you land?`,
  (n, d, from) => `Start in ${from} and go ${n} ${d} the river. Which town is it?`,
  (n, d, from) => `From ${from}, take the boat ${n} ${d} the river. Where are you?`,
];

function make(level: Level, from: string, direction: Direction, phrasing: number): ChainQuestion {
  const text = PHRASINGS[phrasing]!(`${level} ${level === 1 ? 'stop' : 'stops'}`, direction, from);
  return { family: 'chain', level, text, from, direction, stops: level, phrasing };
}

function worked(q: Pick<ChainQuestion, 'from' | 'direction' | 'stops'>, slip?: Slip): string {
  const stops = slip?.kind === 'short' ? q.stops - 1 : slip?.kind === 'long' ? q.stops + 1 : q.stops;
  const lines: string[] = [];
  let town = q.from;
  for (let i = 0; i < stops; i++) {
    const next = along(town, q.direction, slip?.kind === 'skip' && slip.at === i ? 2 : 1);
    lines.push(`Stop ${i + 1}: ${q.direction} from ${town} is ${next}.`);
    town = next;
  }
  lines.push(`Answer: ${town}`);
  return lines.join('\n');
}

const truthOf = (q: Pick<ChainQuestion, 'from' | 'direction' | 'stops'>) => along(q.from, q.direction, q.stops);

export const chain: Family<ChainQuestion> = {
  name: 'chain',

  question(rng, level) {
    return make(level, rng.pick(TOWNS), rng.chance(0.5) ? 'down' : 'up', rng.int(0, PHRASINGS.length - 1));
  },

  truth: (q) => truthOf(q),
  normalize: (answer) => (isTown(answer.trim()) ? answer.trim() : undefined),
  solve: (q) => worked(q),

  wrongAnswer(q, rng, kind) {
    if (kind === 'subtle') {
      const r = rng.float();
      if (r < 0.5) return worked(q, { kind: 'skip', at: rng.int(0, q.stops - 1) });
      return worked(q, { kind: q.stops > 1 && r < 0.75 ? 'short' : 'long' });
    }
    const truth = truthOf(q);
    const style = rng.int(0, 2);
    if (style === 0) {
      let other = chain.question(rng, q.level);
      while (truthOf(other) === truth) other = chain.question(rng, q.level);
      return worked(other);
    }
    if (style === 1) return `You stay where you are.\nAnswer: ${q.from}`;
    let guess = rng.pick(TOWNS);
    while (guess === truth) guess = rng.pick(TOWNS);
    return `It must be ${guess}.\nAnswer: ${guess}`;
  },

  parse(text) {
    const stops = /\b([1-5]) stops? (down|up) the river\b/.exec(text);
    const from = /\b(?:[Ff]rom|in) ([A-Z][a-z]+)\b/.exec(text);
    if (!stops || !from || !isTown(from[1]!)) return undefined;
    for (let p = 0; p < PHRASINGS.length; p++) {
      const q = make(Number(stops[1]) as Level, from[1]!, stops[2] as Direction, p);
      if (q.text === text) return q;
    }
    return undefined;
  },
};
