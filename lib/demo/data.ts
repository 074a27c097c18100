// The demo's data: the world written to disk in UltraFeedback's and
// RewardBench's layouts and read back by the library's own readers (so the
// demo exercises the path a user's downloads take), with the world's hidden
// facts (truth, noise, surface feature) kept beside the pairs by id.
import { join } from 'node:path';
import { loadPreferences, type PreferencePair } from '../data/index.js';
import { benchmarkFromCounts, type Benchmark } from '../eval/index.js';
import { generateWorld, writeWorld, type WorldOptions, type WorldPair } from '../world/index.js';

export interface DemoData {
  dir: string;
  train: PreferencePair[];
  test: PreferencePair[];
  ood: PreferencePair[];
  /** The world's facts of every pair, by the pair's id. */
  facts: Map<string, WorldPair>;
  benchmark: Benchmark;
  /** Question texts of every pair, kept out of the base model's corpus. */
  questions: Set<string>;
  labelNoise: number;
}

export async function demoData(dir: string, options: WorldOptions): Promise<DemoData> {
  const world = generateWorld(options);
  await writeWorld(dir, world, { fsync: false });
  const read = async (file: string) => {
    const { pairs, report } = await loadPreferences(join(dir, file), { strict: true });
    if (report.pairs !== report.rows)
      throw new Error(
        `${file}: read ${report.pairs} pairs of ${report.rows} rows (ties ${report.ties}); the world must round-trip whole`,
      );
    return pairs;
  };
  const [train, test, ood] = [
    await read(world.info.files.train),
    await read(world.info.files.test),
    await read(world.info.files.rewardbench),
  ];
  const facts = new Map<string, WorldPair>();
  for (const p of [...world.train, ...world.test, ...world.ood]) facts.set(p.split === 'ood' ? `ood:${p.id}` : p.id, p);
  // RewardBench ids are row numbers, unique only within the file: key them apart from the prompt ids.
  for (const p of ood) p.id = `ood:${p.id}`;
  for (const p of [...train, ...test, ...ood])
    if (!facts.has(p.id))
      throw new Error(`pair ${p.id} read back from ${dir} has no counterpart in the generated world`);
  const counts: Record<string, number> = {};
  const sections: Record<string, string[]> = {};
  for (const [section, subsets] of Object.entries(world.info.sections)) {
    sections[section] = Object.keys(subsets);
    Object.assign(counts, subsets);
  }
  const questions = new Set([...world.train, ...world.test, ...world.ood].map((p) => p.question.text));
  return {
    dir,
    train,
    test,
    ood,
    facts,
    benchmark: benchmarkFromCounts('genrm world', sections, counts),
    questions,
    labelNoise: world.info.options.labelNoise,
  };
}
