// The world's knobs, their defaults, and the sections and subsets the
// out-of-distribution (RewardBench-like) set is built from.
import type { ErrorKind, FamilyName, Level } from './types.js';

export interface WorldOptions {
  /** Seeds every draw; the same options give byte-identical files. Default 1. */
  seed?: number;
  /** In-distribution training pairs (UltraFeedback's train_prefs role). Default 3000. */
  trainSize?: number;
  /** Held-out in-distribution pairs, same distribution, other questions (test_prefs). Default 400. */
  testSize?: number;
  /** Pairs in each out-of-distribution subset. Default 100. */
  subsetSize?: number;
  /** Per-subset overrides of subsetSize, by subset name (see SUBSETS). Default none. */
  subsetSizes?: Readonly<Record<string, number>>;
  /** Probability that an in-distribution label is flipped, as people mislabel. Default 0.1. */
  labelNoise?: number;
  /** In distribution: probability that the truly better answer carries the surface feature. Default 0.8. */
  surfaceBetter?: number;
  /** In distribution: probability that the worse answer carries it. Default 0.2. */
  surfaceWorse?: number;
  /** Out of distribution (except Chat Hard, where it is reversed): probability that each answer carries it, independently. Default 0.5. */
  surfaceOod?: number;
  /** In distribution: share of worse answers whose error is subtle rather than blatant. Default 0.5. */
  subtleShare?: number;
}

export type ResolvedWorldOptions = Required<WorldOptions>;

export const DEFAULT_WORLD_OPTIONS: Readonly<ResolvedWorldOptions> = {
  seed: 1,
  trainSize: 3000,
  testSize: 400,
  subsetSize: 100,
  subsetSizes: {},
  labelNoise: 0.1,
  surfaceBetter: 0.8,
  surfaceWorse: 0.2,
  surfaceOod: 0.5,
  subtleShare: 0.5,
};

/** In distribution: families with their shares, at levels 1 and 2 (drawn evenly). chain and count never appear here. */
export const IN_DISTRIBUTION = {
  families: [
    ['add', 0.45],
    ['compare', 0.45],
    ['safety', 0.1],
  ] as ReadonlyArray<readonly [FamilyName, number]>,
  levels: [1, 2] as readonly Level[],
};

export type Section = 'Chat' | 'Chat Hard' | 'Safety' | 'Reasoning';
export const SECTIONS: readonly Section[] = ['Chat', 'Chat Hard', 'Safety', 'Reasoning'];

export interface SubsetSpec {
  name: string;
  section: Section;
  family: FamilyName;
  levels: readonly Level[];
  /** The worse answer's error; 'mixed' draws subtle or blatant evenly. */
  errors: ErrorKind | 'mixed';
  /** 'random': each answer carries the feature with probability surfaceOod; 'reversed': only the worse one does. */
  surface: 'random' | 'reversed';
  /** Safety: whether the request is harmful (should-refuse) or a safe look-alike (should-respond). */
  harmful?: boolean;
}

const chat = (family: FamilyName): SubsetSpec => ({
  name: `chat-blatant-${family}`,
  section: 'Chat',
  family,
  levels: [1, 2, 3],
  errors: 'blatant',
  surface: 'random',
});
const hard = (family: FamilyName): SubsetSpec => ({
  name: `hard-subtle-${family}`,
  section: 'Chat Hard',
  family,
  levels: [1, 2, 3],
  errors: 'subtle',
  surface: 'reversed',
});
const reason = (name: string, family: FamilyName, levels: Level[]): SubsetSpec => ({
  name,
  section: 'Reasoning',
  family,
  levels,
  errors: 'subtle',
  surface: 'random',
});

/** The out-of-distribution subsets, in file order. */
export const SUBSETS: readonly SubsetSpec[] = [
  chat('add'),
  chat('compare'),
  chat('chain'),
  chat('count'),
  hard('add'),
  hard('compare'),
  hard('chain'),
  hard('count'),
  {
    name: 'should-refuse',
    section: 'Safety',
    family: 'safety',
    levels: [3, 4, 5],
    errors: 'mixed',
    surface: 'random',
    harmful: true,
  },
  {
    name: 'should-respond',
    section: 'Safety',
    family: 'safety',
    levels: [3, 4, 5],
    errors: 'mixed',
    surface: 'random',
    harmful: false,
  },
  reason('reason-add-4steps', 'add', [3]),
  reason('reason-add-5steps', 'add', [4]),
  reason('reason-add-6steps', 'add', [5]),
  reason('reason-compare-long', 'compare', [3, 4, 5]),
  reason('reason-chain-long', 'chain', [3, 4, 5]),
  reason('reason-count-long', 'count', [3, 4, 5]),
];

function fail(name: string, expected: string, got: unknown): never {
  throw new RangeError(`WorldOptions.${name}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
}

function integer(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    fail(name, `an integer >= ${min}`, value);
  return value;
}

function rate(name: string, value: unknown, max = 1): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= max)) fail(name, `a number in [0, ${max}]`, value);
  return value;
}

/** Options with defaults filled in; a RangeError names the first bad one. */
export function resolveWorldOptions(options: WorldOptions = {}): ResolvedWorldOptions {
  if (typeof options !== 'object' || options === null)
    throw new RangeError(`WorldOptions: expected an object, got ${String(options)}`);
  const known = new Set(Object.keys(DEFAULT_WORLD_OPTIONS));
  for (const key of Object.keys(options))
    if (!known.has(key))
      throw new RangeError(`WorldOptions.${key}: unknown option; expected one of ${[...known].join(', ')}`);
  const o = {
    ...DEFAULT_WORLD_OPTIONS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  const sizes = o.subsetSizes;
  if (typeof sizes !== 'object' || sizes === null || Array.isArray(sizes))
    fail('subsetSizes', 'an object of subset name -> size', sizes);
  const names = new Set(SUBSETS.map((s) => s.name));
  const subsetSizes: Record<string, number> = {};
  for (const [name, size] of Object.entries(sizes)) {
    if (!names.has(name))
      throw new RangeError(
        `WorldOptions.subsetSizes: unknown subset ${JSON.stringify(name)}; expected one of ${[...names].join(', ')}`,
      );
    subsetSizes[name] = integer(`subsetSizes["${name}"]`, size, 1);
  }
  return {
    seed: integer('seed', o.seed, 0),
    trainSize: integer('trainSize', o.trainSize, 0),
    testSize: integer('testSize', o.testSize, 0),
    // Every subset needs rows: a section's score is a mean over them.
    subsetSize: integer('subsetSize', o.subsetSize, 1),
    subsetSizes,
    // Beyond 0.5 the labels would mostly point the wrong way.
    labelNoise: rate('labelNoise', o.labelNoise, 0.5),
    surfaceBetter: rate('surfaceBetter', o.surfaceBetter),
    surfaceWorse: rate('surfaceWorse', o.surfaceWorse),
    surfaceOod: rate('surfaceOod', o.surfaceOod),
    subtleShare: rate('subtleShare', o.subtleShare),
  };
}

export function subsetSize(options: ResolvedWorldOptions, subset: string): number {
  return options.subsetSizes[subset] ?? options.subsetSize;
}
