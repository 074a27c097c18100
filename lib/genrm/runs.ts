// What resumable runs (training jobs, STaR) share: a fingerprint of the options
// that a run folder must match, checkpoints written as one atomic unit
// (model/checkpoint.ts), and the interrupted state (weights, optimizer, the steps' history) that
// a resumed run continues from.
import { readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { saveLanguageModel, type LanguageModel } from '../model/language-model.js';
import type { PairLike } from '../train/bt.js';
import type { TrainOutcome } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { hash32 } from '../util/random.js';

export const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );
export const utf8 = (s: string) => new TextEncoder().encode(s);

/** JSON with object keys sorted, so equal options give equal text whatever order they were written in. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** A run's identity: its options (paths made absolute) and a hash of its pairs' ids and texts. */
export function runFingerprint(options: Record<string, unknown>, pairs: readonly PairLike[], baseDir: string): string {
  const content = hash32(
    pairs.map((p) => `${p.id}\u0000${JSON.stringify(p.prompt)}\u0000${p.chosen}\u0000${p.rejected}`).join('\u0001'),
  );
  return stableJson({ version: 2, ...options, baseDir: resolve(baseDir), pairs: pairs.length, content });
}

/** Writes run.json on a fresh folder; refuses a folder that holds a run with other options. */
export async function claimRunFolder(dir: string, print: string, what: string): Promise<void> {
  const file = join(dir, 'run.json');
  if (await exists(file)) {
    const previous = (await readFile(file, 'utf8')).trim();
    if (previous !== print)
      throw new Error(
        `${file}: ${dir} holds a ${what} with other options or data; use another output folder (or delete it to start over).\n  saved: ${previous}\n  now:   ${print}`,
      );
  } else await writeFileAtomic(file, utf8(print + '\n'));
}

/** Pair ids key positions, seeds and resumption: two pairs with one id would share them. */
export function assertUniqueIds(pairs: readonly PairLike[], where: string): void {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const p of pairs) {
    if (seen.has(p.id)) dup.push(p.id);
    seen.add(p.id);
  }
  if (dup.length)
    throw new Error(
      `${where}: ${dup.length} pair ids occur more than once (${dup
        .slice(0, 3)
        .map((d) => JSON.stringify(d))
        .join(', ')}${dup.length > 3 ? ', ...' : ''}); ids must be unique, e.g. prefix them with their file`,
    );
}

type History = TrainOutcome['history'];

/** Saves an interrupted training state (weights, optimizer, the steps so far) as one atomic checkpoint. */
export async function savePartial(dir: string, lm: LanguageModel, history: History): Promise<void> {
  await removeLegacyTemp(dir);
  await saveLanguageModel(dir, lm, {
    optimizer: true,
    extraFiles: (folder) => writeFileAtomic(join(folder, 'history.json'), utf8(JSON.stringify(history) + '\n')),
  });
}

// Earlier versions wrote a checkpoint into `<dir>.tmp` and renamed it; a kill
// could leave that folder behind.
async function removeLegacyTemp(dir: string): Promise<void> {
  await rm(`${dir}.tmp`, { recursive: true, force: true });
}

/** The history an interrupted state was saved with ([] when there is none). */
export async function partialHistory(dir: string): Promise<History> {
  const file = join(dir, 'history.json');
  return (await exists(file)) ? (JSON.parse(await readFile(file, 'utf8')) as History) : [];
}

/** Saves a finished checkpoint with extra JSON files, as one atomic checkpoint. */
export async function saveCheckpoint(dir: string, lm: LanguageModel, files: Record<string, unknown>): Promise<void> {
  await removeLegacyTemp(dir);
  await saveLanguageModel(dir, lm, {
    extraFiles: async (folder) => {
      for (const [name, value] of Object.entries(files))
        await writeFileAtomic(join(folder, name), utf8(JSON.stringify(value, null, 1) + '\n'));
    },
  });
}
