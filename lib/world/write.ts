// The world on disk, in the public data sets' own row formats, so lib/data's
// readers load it and the RewardBench scorer scores it: UltraFeedback binarized
// train/test prefs and RewardBench's filtered split as JSON Lines, each row with
// an extra `world` column (the truth behind the label), and world.json (options,
// version, section map). Rows are written in generation order; bytes depend on
// the options alone.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { DEFAULT_WORLD_OPTIONS, SECTIONS, SUBSETS, resolveWorldOptions } from './options.js';
import type { Section } from './options.js';
import { WORLD_FILES, WORLD_FORMAT, WORLD_VERSION } from './world.js';
import type { World, WorldInfo, WorldPair } from './world.js';

export const WORLD_INFO_FILE = 'world.json';

/** UltraFeedback ratings: fixed and unequal, so the readers never drop a pair as a tie. */
const SCORE_CHOSEN = 8;
const SCORE_REJECTED = 4;

function meta(p: WorldPair) {
  return {
    split: p.split,
    ...(p.section !== undefined ? { section: p.section, subset: p.subset } : {}),
    family: p.question.family,
    level: p.question.level,
    truth: p.truth,
    noisy: p.noisy,
    errorKind: p.errorKind,
    surface: p.surface,
    surfaceAgrees: p.surfaceAgrees,
    question: p.question,
  };
}

function ultrafeedbackRow(p: WorldPair) {
  const user = { content: p.question.text, role: 'user' };
  const chosen = [user, { content: p.chosen, role: 'assistant' }];
  return {
    prompt: p.question.text,
    prompt_id: p.id,
    chosen,
    rejected: [user, { content: p.rejected, role: 'assistant' }],
    messages: chosen,
    score_chosen: SCORE_CHOSEN,
    score_rejected: SCORE_REJECTED,
    world: meta(p),
  };
}

/** RewardBench names the model that wrote each answer; here, which kind of answer it is. */
function model(p: WorldPair, side: 'chosen' | 'rejected'): string {
  return p.truth === side ? 'world-solver' : `world-${p.errorKind}-error`;
}

function rewardbenchRow(p: WorldPair) {
  return {
    prompt: p.question.text,
    chosen: p.chosen,
    chosen_model: model(p, 'chosen'),
    rejected: p.rejected,
    rejected_model: model(p, 'rejected'),
    subset: p.subset,
    id: Number(p.id),
    world: meta(p),
  };
}

function jsonl(rows: readonly object[]): Uint8Array {
  return Buffer.from(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** Writes the world under `dir`; returns the paths written, relative to it. */
export async function writeWorld(dir: string, world: World, options: { fsync?: boolean } = {}): Promise<string[]> {
  const files: Array<[string, Uint8Array]> = [
    [world.info.files.train, jsonl(world.train.map(ultrafeedbackRow))],
    [world.info.files.test, jsonl(world.test.map(ultrafeedbackRow))],
    [world.info.files.rewardbench, jsonl(world.ood.map(rewardbenchRow))],
    // Last, so a world.json on disk means the data files beside it are complete.
    [WORLD_INFO_FILE, Buffer.from(`${JSON.stringify(world.info, null, 2)}\n`)],
  ];
  for (const [path, data] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFileAtomic(join(dir, path), data, { fsync: options.fsync ?? true });
  }
  return files.map(([path]) => path);
}

/** Reads and validates `dir`/world.json; the error names the file and the field at fault. */
export async function loadWorldInfo(dir: string): Promise<WorldInfo> {
  const file = join(dir, WORLD_INFO_FILE);
  const bad = (field: string, detail: string): never => {
    throw new Error(`${file}: ${field}: ${detail}`);
  };
  const text = await readFile(file, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return bad('(file)', `not valid JSON (${(e as Error).message})`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) return bad('(file)', 'expected a JSON object');
  if (raw.format !== WORLD_FORMAT)
    bad('format', `expected ${JSON.stringify(WORLD_FORMAT)}, got ${JSON.stringify(raw.format)}`);
  if (raw.version !== WORLD_VERSION) {
    bad(
      'version',
      `expected ${WORLD_VERSION}, got ${JSON.stringify(raw.version)}; the world was written by another genrm version, generate it again`,
    );
  }
  if (!isObject(raw.options)) return bad('options', 'expected an object');
  // Complete, so a default changed later cannot silently change what the file means.
  for (const key of Object.keys(DEFAULT_WORLD_OPTIONS)) if (!(key in raw.options)) bad(`options.${key}`, 'missing');
  let options;
  try {
    options = resolveWorldOptions(raw.options);
  } catch (e) {
    return bad('options', (e as Error).message);
  }
  const splits = raw.splits;
  if (!isObject(splits)) return bad('splits', 'expected an object');
  for (const s of ['train', 'test'] as const) {
    const n = splits[s];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      bad(`splits.${s}`, `expected an integer >= 0, got ${JSON.stringify(n)}`);
  }
  if (!isObject(raw.sections)) return bad('sections', 'expected an object');
  const sections = {} as Record<Section, Record<string, number>>;
  for (const section of SECTIONS) {
    const subsets = raw.sections[section];
    if (!isObject(subsets)) return bad(`sections["${section}"]`, 'expected an object of subset -> rows');
    const expected = SUBSETS.filter((s) => s.section === section).map((s) => s.name);
    if (Object.keys(subsets).join() !== expected.join())
      bad(
        `sections["${section}"]`,
        `expected the subsets ${expected.join(', ')}, got ${Object.keys(subsets).join(', ') || 'none'}`,
      );
    for (const [name, n] of Object.entries(subsets)) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
        bad(`sections["${section}"]["${name}"]`, `expected an integer >= 1, got ${JSON.stringify(n)}`);
    }
    sections[section] = subsets as Record<string, number>;
  }
  const extra = Object.keys(raw.sections).filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (extra.length > 0) bad('sections', `unknown section ${JSON.stringify(extra[0])}; expected ${SECTIONS.join(', ')}`);
  const files = raw.files;
  if (!isObject(files)) return bad('files', 'expected an object');
  for (const [k, v] of Object.entries(WORLD_FILES)) {
    if (files[k] !== v) bad(`files.${k}`, `expected ${JSON.stringify(v)}, got ${JSON.stringify(files[k])}`);
  }
  return {
    format: WORLD_FORMAT,
    version: WORLD_VERSION,
    options,
    splits: { train: splits.train as number, test: splits.test as number },
    sections,
    files: { ...WORLD_FILES },
  };
}
