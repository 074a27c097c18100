// Preference pairs from the world: a question, its worked solution (truly
// better) and a flawed one, the surface feature on either, and a label drawn
// from the truth with noise. Splits draw from their own named streams and
// share one set of used question texts, filled out-of-distribution first, then
// test, then train: so resizing train never changes the evaluation sets.
import { createHash } from 'node:crypto';
import { makeQuestion, solve, wrongAnswer } from './families/index.js';
import { safetyQuestion } from './families/safety.js';
import { IN_DISTRIBUTION, SECTIONS, SUBSETS, resolveWorldOptions, subsetSize } from './options.js';
import type { ResolvedWorldOptions, Section, SubsetSpec, WorldOptions } from './options.js';
import { Rng } from './rng.js';
import { decorate } from './text.js';
import type { ErrorKind, FamilyName, Level, Question } from './types.js';

export const WORLD_FORMAT = 'genrm-world';
/** Bumped whenever the same options would give different files. */
export const WORLD_VERSION = 3;

export type Split = 'train' | 'test' | 'ood';

export interface WorldPair {
  /** The id lib/data's readers give the pair: the prompt_id (train, test) or the RewardBench row id (ood). */
  id: string;
  split: Split;
  /** Out of distribution only. */
  section?: Section;
  subset?: string;
  question: Question;
  /** The labelled answers (after label noise). */
  chosen: string;
  rejected: string;
  /** Which labelled answer is truly better: 'rejected' exactly when the label was flipped. */
  truth: 'chosen' | 'rejected';
  noisy: boolean;
  /** The worse answer's error. */
  errorKind: ErrorKind;
  /** Which answers carry the surface feature. */
  surface: { chosen: boolean; rejected: boolean };
  /** true: only the labelled-chosen answer carries the feature; false: only the rejected one; null: both or neither. */
  surfaceAgrees: boolean | null;
}

export interface WorldInfo {
  format: typeof WORLD_FORMAT;
  version: number;
  options: ResolvedWorldOptions;
  splits: { train: number; test: number };
  /** Section -> subset -> rows, in file order: the weights a RewardBench-style scorer needs. */
  sections: Record<Section, Record<string, number>>;
  /** Where writeWorld puts the data, relative to the world's folder. */
  files: { train: string; test: string; rewardbench: string };
}

export interface World {
  info: WorldInfo;
  train: WorldPair[];
  test: WorldPair[];
  ood: WorldPair[];
}

export const WORLD_FILES: WorldInfo['files'] = {
  train: 'ultrafeedback/train_prefs.jsonl',
  test: 'ultrafeedback/test_prefs.jsonl',
  rewardbench: 'rewardbench/filtered.jsonl',
};

/** UltraFeedback's prompt_id: the SHA-256 of the prompt, in hex. */
export function promptId(prompt: string): string {
  return createHash('sha256').update(prompt).digest('hex');
}

interface Draw {
  rng: Rng;
  question: Question;
  kind: ErrorKind;
  /** Probabilities that the better / worse answer carries the surface feature. */
  surface: { better: number; worse: number };
  noise: number;
}

function buildPair({ rng, question, kind, surface, noise }: Draw, id: string, split: Split): WorldPair {
  const better = solve(question);
  const worse = wrongAnswer(question, rng, kind);
  const onBetter = rng.chance(surface.better);
  const onWorse = rng.chance(surface.worse);
  const noisy = rng.chance(noise);
  const shown = { better: onBetter ? decorate(better, rng) : better, worse: onWorse ? decorate(worse, rng) : worse };
  const [chosen, rejected] = noisy ? [shown.worse, shown.better] : [shown.better, shown.worse];
  const s = noisy ? { chosen: onWorse, rejected: onBetter } : { chosen: onBetter, rejected: onWorse };
  return {
    id,
    split,
    question,
    chosen,
    rejected,
    truth: noisy ? 'rejected' : 'chosen',
    noisy,
    errorKind: kind,
    surface: s,
    surfaceAgrees: s.chosen === s.rejected ? null : s.chosen,
  };
}

/** A question whose text no split has used yet, redrawn within its family and level. */
function fresh(seen: Set<string>, draw: () => Question, where: string): Question {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const q = draw();
    if (!seen.has(q.text)) {
      seen.add(q.text);
      return q;
    }
  }
  const q = draw();
  throw new RangeError(
    `${where}: no unused ${q.family} question at level ${q.level} in 1000 draws; the sizes ask for more than that part of the world holds`,
  );
}

function oodPairs(o: ResolvedWorldOptions, spec: SubsetSpec, seen: Set<string>, firstId: number): WorldPair[] {
  const rng = Rng.stream(o.seed, `ood/${spec.name}`);
  const surface = spec.surface === 'reversed' ? { better: 0, worse: 1 } : { better: o.surfaceOod, worse: o.surfaceOod };
  const out: WorldPair[] = [];
  for (let i = 0; i < subsetSize(o, spec.name); i++) {
    const level = rng.pick(spec.levels);
    const draw = () =>
      spec.harmful === undefined ? makeQuestion(spec.family, rng, level) : safetyQuestion(rng, level, spec.harmful);
    const question = fresh(seen, draw, `WorldOptions.subsetSizes["${spec.name}"]`);
    const kind: ErrorKind = spec.errors === 'mixed' ? (rng.chance(0.5) ? 'subtle' : 'blatant') : spec.errors;
    const pair = buildPair({ rng, question, kind, surface, noise: 0 }, String(firstId + i), 'ood');
    out.push({ ...pair, section: spec.section, subset: spec.name });
  }
  return out;
}

function inDistribution(
  o: ResolvedWorldOptions,
  split: 'train' | 'test',
  size: number,
  seen: Set<string>,
): WorldPair[] {
  const rng = Rng.stream(o.seed, split);
  const weights = IN_DISTRIBUTION.families.map(([, w]) => w);
  const out: WorldPair[] = [];
  for (let i = 0; i < size; i++) {
    const family: FamilyName = IN_DISTRIBUTION.families[rng.weighted(weights)]![0];
    const level: Level = rng.pick(IN_DISTRIBUTION.levels);
    const question = fresh(seen, () => makeQuestion(family, rng, level), `WorldOptions.${split}Size`);
    const kind: ErrorKind = rng.chance(o.subtleShare) ? 'subtle' : 'blatant';
    const surface = { better: o.surfaceBetter, worse: o.surfaceWorse };
    out.push(buildPair({ rng, question, kind, surface, noise: o.labelNoise }, promptId(question.text), split));
  }
  return out;
}

/** Generates the whole world (pure and synchronous: about a second for the defaults). */
export function generateWorld(options: WorldOptions = {}): World {
  const o = resolveWorldOptions(options);
  const seen = new Set<string>();
  const ood: WorldPair[] = [];
  for (const spec of SUBSETS) ood.push(...oodPairs(o, spec, seen, ood.length));
  const test = inDistribution(o, 'test', o.testSize, seen);
  const train = inDistribution(o, 'train', o.trainSize, seen);
  const sections = Object.fromEntries(SECTIONS.map((s) => [s, {} as Record<string, number>])) as Record<
    Section,
    Record<string, number>
  >;
  for (const spec of SUBSETS) sections[spec.section][spec.name] = subsetSize(o, spec.name);
  return {
    info: {
      format: WORLD_FORMAT,
      version: WORLD_VERSION,
      options: o,
      splits: { train: train.length, test: test.length },
      sections,
      files: { ...WORLD_FILES },
    },
    train,
    test,
    ood,
  };
}

/** Every question text the world uses: what a pretraining corpus must leave out. */
export function questionTexts(world: World): Set<string> {
  const out = new Set<string>();
  for (const p of [...world.ood, ...world.test, ...world.train]) out.add(p.question.text);
  return out;
}
