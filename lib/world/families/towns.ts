// The world's geography: a fixed set of towns on one river (a cycle, so every
// town has a next town downstream and upstream) and the number of people in
// each. These are facts the base model learns by heart from its corpus, as an
// LLM knows facts; the families chain and compare reason over them. Fixed for
// every seed: the world's questions change with the seed, its facts do not.
import { Rng } from '../rng.js';

export const TOWNS: readonly string[] = [
  'Ash',
  'Bree',
  'Cole',
  'Dale',
  'Elm',
  'Fen',
  'Gale',
  'Holt',
  'Ivy',
  'Kent',
  'Lark',
  'Moss',
  'Nook',
  'Oak',
  'Pike',
  'Reed',
  'Rye',
  'Sage',
  'Tarn',
  'Vale',
  'Wick',
  'York',
  'Ayr',
  'Bram',
  'Cray',
  'Dorn',
  'Esk',
  'Ford',
  'Glen',
  'Hale',
  'Jura',
  'Kirk',
  'Lune',
  'Mere',
  'Ness',
  'Orr',
  'Pell',
  'Quay',
  'Rook',
  'Stow',
  'Tyne',
  'Usk',
  'Wold',
  'Yarm',
  'Zell',
  'Brook',
  'Crest',
  'Dunn',
];

/** The river's order, downstream. Drawn once from a fixed stream, so it never depends on a world's seed. */
const RIVER: readonly string[] = Rng.stream(0, 'world-towns-river').shuffle(TOWNS.slice());
const AT = new Map(RIVER.map((t, i) => [t, i]));

/** Distinct populations from 100 to 999. */
const POPULATION: ReadonlyMap<string, number> = (() => {
  const rng = Rng.stream(0, 'world-towns-population');
  const values = rng.shuffle(Array.from({ length: 900 }, (_, i) => 100 + i));
  return new Map(TOWNS.map((t, i) => [t, values[i]!]));
})();

export type Direction = 'down' | 'up';

function indexOf(town: string): number {
  const i = AT.get(town);
  if (i === undefined) throw new RangeError(`town: unknown town ${JSON.stringify(town)}`);
  return i;
}

/** The town `stops` stops from `town` along the river. */
export function along(town: string, direction: Direction, stops = 1): string {
  const n = RIVER.length;
  const i = indexOf(town) + (direction === 'down' ? stops : -stops);
  return RIVER[((i % n) + n) % n]!;
}

export function population(town: string): number {
  indexOf(town);
  return POPULATION.get(town)!;
}

export const isTown = (name: string) => AT.has(name);
