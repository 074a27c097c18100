// A checkpoint folder written as one atomic unit, the way a database commits:
// the new version is written whole into a hidden sibling folder, made durable,
// and swapped with the old folder in one step (renameat2 RENAME_EXCHANGE), so a
// reader of the path sees the complete old checkpoint or the complete new one
// after a kill at any instant, a full disk or a failed write. Where the file
// system cannot exchange, two renames stand in, and a later save or load puts
// the old version back if a crash fell between them.
//
// Every version carries an identity (checkpoint.json, and the same id in the
// safetensors files' metadata), derived from its content, so equal saves get
// equal files: readers refuse parts of different saves and read again when a
// save landed while they read. One process saves into a
// folder at a time (a lock file beside it names the process); saves in one
// process queue. Hidden folders and files left by a writer that died are
// removed by the next save into the same place.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { native } from '../native.js';
import { syncDir, tempFileWriter, writeFileAtomic } from '../util/atomic-write.js';
import { processRuns } from '../util/processes.js';

/** checkpoint.json: which save wrote the folder. */
export interface CheckpointManifest {
  format: 'genrm-checkpoint';
  version: 1;
  /** A digest of everything the save wrote (checkpointId); also in the safetensors files' metadata as `genrm.checkpoint`. */
  id: string;
  /** The files this save wrote (not those carried over from the folder it replaced). */
  files: string[];
}

export const MANIFEST = 'checkpoint.json';
export const ID_METADATA = 'genrm.checkpoint';

/**
 * Accumulates a checkpoint's identity: SHA-256 over every part of its content
 * in the order given (names, shapes and bytes), first 24 hex digits. Two saves
 * share an id only when they wrote the same content, where mixing their files
 * changes nothing.
 */
export class CheckpointId {
  readonly #hash = createHash('sha256');
  add(name: string, bytes: ArrayBufferView | string): this {
    this.#hash.update(`${name}\u0000${typeof bytes === 'string' ? bytes.length : bytes.byteLength}\u0000`);
    this.#hash.update(
      typeof bytes === 'string' ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
    return this;
  }
  digest(): string {
    return this.#hash.digest('hex').slice(0, 24);
  }
}

/** Adds every file now in `folder` (sorted by name) to `id`: the files a save wrote besides its tensors. */
export async function addFolderFiles(id: CheckpointId, folder: string): Promise<void> {
  for (const name of (await readdir(folder)).sort()) {
    if (!isTempFile(name)) id.add(name, await readFile(join(folder, name)));
  }
}

// Sibling names: .<name>.genrm-<kind>.<pid>.<hex> (save: a version being
// written; old: the replaced version; lock: the writer's lock file).
const SIBLING = /^\.(.+)\.genrm-(save|old)\.(\d+)\.[0-9a-f]+$/;
const sibling = (name: string, kind: 'save' | 'old') =>
  `.${name}.genrm-${kind}.${process.pid}.${randomBytes(6).toString('hex')}`;
const lockName = (name: string) => `.${name}.genrm-lock`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const isTempFile = (name: string) => tempFileWriter(name) !== undefined;

const exists = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );

// Saves into one folder from this process run one after another.
const queues = new Map<string, Promise<unknown>>();

// The lock file holds "<pid> <host>". It is created whole (written under a
// temporary name, then hard-linked to the lock's name, which fails if the lock
// exists), so no reader sees it empty. A dead writer's lock is taken over by
// renaming it aside and checking that what was renamed is still the dead
// writer's, so two processes taking over at once cannot both succeed.
async function takeLock(lock: string, dir: string): Promise<void> {
  const mine = `${process.pid} ${hostname()}\n`;
  const temp = `${lock}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(temp, mine, { flag: 'wx' }); // private until linked; a dead writer's is removed by recoverFolder
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(temp, lock);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = await readFile(lock, 'utf8').catch(() => '');
      const [pidText, host] = held.trim().split(' ');
      const pid = Number(pidText);
      if (host !== hostname()) {
        throw new Error(
          `${dir}: a process on ${host} holds the save lock ${lock}; delete it if no save is running there`,
        );
      }
      if (Number.isInteger(pid) && pid > 0 && processRuns(pid)) {
        throw new Error(
          `${dir}: process ${pid} is saving a checkpoint into this folder (lock ${lock}); wait for it, or delete the lock if that process is not a genrm writer`,
        );
      }
      const aside = `${lock}.dead.${process.pid}.${randomBytes(6).toString('hex')}`;
      if (
        await rename(lock, aside).then(
          () => true,
          () => false,
        )
      ) {
        const moved = await readFile(aside, 'utf8').catch(() => '');
        if (moved !== held) {
          // Another process's fresh lock was moved: put it back; this save gives way.
          await link(aside, lock).catch(() => undefined);
          await unlink(aside).catch(() => undefined);
          throw new Error(`${dir}: another process took over the save lock ${lock} at the same moment; try again`);
        }
        await unlink(aside).catch(() => undefined);
      }
    }
    throw new Error(`${dir}: could not take the save lock ${lock}`);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * Puts back a version that a crash left between the two renames of the
 * fallback commit (dir missing, its replaced version hidden beside it), and
 * removes what dead writers left: hidden versions beside `dir` and temp files
 * inside it. Never touches anything of a live process.
 */
export async function recoverFolder(dir: string, options: { clean?: boolean } = {}): Promise<void> {
  dir = resolve(dir);
  const clean = options.clean ?? true;
  const parent = dirname(dir),
    name = basename(dir);
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch {
    return;
  }
  const dead = entries.flatMap((e) => {
    const m = SIBLING.exec(e);
    return m && m[1] === name && !processRuns(Number(m[3])) ? [{ entry: e, kind: m[2] as 'save' | 'old' }] : [];
  });
  // A lock's temporary and set-aside copies (takeLock) of writers that died.
  const lockCopy = new RegExp(`^${escapeRegExp(lockName(name))}\\.(?:dead\\.)?(\\d+)\\.[0-9a-f]+$`);
  const deadLockCopies = entries.filter((e) => {
    const m = lockCopy.exec(e);
    return m !== null && !processRuns(Number(m[1]));
  });
  if (!(await exists(dir))) {
    const old = dead.find((d) => d.kind === 'old');
    if (old) {
      await rename(join(parent, old.entry), dir);
      await syncDir(parent);
      dead.splice(dead.indexOf(old), 1);
    }
  }
  if (!clean) return;
  for (const d of dead) await rm(join(parent, d.entry), { recursive: true, force: true });
  for (const e of deadLockCopies) await rm(join(parent, e), { force: true });
  if (await exists(dir)) {
    for (const e of await readdir(dir).catch(() => [] as string[])) {
      const pid = tempFileWriter(e);
      if (pid !== undefined && !processRuns(pid)) await rm(join(dir, e), { force: true });
    }
  }
}

// Copies the folder's other entries into the new version by hard link (a file
// is shared, not copied; folders are recreated), so a checkpoint saved into a
// folder that holds more keeps the rest.
async function carryOver(from: string, to: string, keep: (name: string) => boolean): Promise<void> {
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (!keep(e.name) || isTempFile(e.name)) continue;
    const src = join(from, e.name),
      dst = join(to, e.name);
    if (e.isDirectory()) {
      await mkdir(dst);
      await carryOver(src, dst, () => true);
    } else if (e.isSymbolicLink()) {
      await symlink(await readlink(src), dst);
    } else {
      await link(src, dst);
    }
  }
}

export interface WriteFolderOptions {
  /**
   * Which entries of the folder being replaced belong to the checkpoint (they
   * are not carried into the new version, even if this save does not write
   * them: an optimizer file of an older save must not sit beside new weights).
   */
  owns: (name: string) => boolean;
}

/**
 * Writes the checkpoint folder `dir` as one unit: `write(staging)` fills a
 * hidden folder beside it (with writeFileAtomic or any writer that fsyncs) and
 * returns the new version's id (CheckpointId); then the manifest
 * (checkpoint.json, listing what `write` wrote) is added and `dir` replaced atomically.
 */
export async function writeCheckpointFolder(
  dir: string,
  write: (staging: string) => Promise<string>,
  options: WriteFolderOptions,
): Promise<string> {
  dir = resolve(dir);
  const previous = queues.get(dir) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => writeLocked(dir, write, options));
  const tail = run.catch(() => undefined);
  queues.set(dir, tail);
  tail.then(() => {
    if (queues.get(dir) === tail) queues.delete(dir);
  });
  return run;
}

async function writeLocked(
  dir: string,
  write: (staging: string) => Promise<string>,
  options: WriteFolderOptions,
): Promise<string> {
  const parent = dirname(dir),
    name = basename(dir);
  await mkdir(parent, { recursive: true });
  const lock = join(parent, lockName(name));
  await takeLock(lock, dir);
  const staging = join(parent, sibling(name, 'save'));
  try {
    await recoverFolder(dir);
    await mkdir(staging);
    const id = await write(staging);
    const files = (await readdir(staging)).filter((f) => !isTempFile(f)).sort();
    const manifest: CheckpointManifest = { format: 'genrm-checkpoint', version: 1, id, files };
    await writeFileAtomic(join(staging, MANIFEST), new TextEncoder().encode(JSON.stringify(manifest, null, 1) + '\n'));
    const replacing = await exists(dir);
    const written = new Set(files);
    if (replacing) await carryOver(dir, staging, (e) => e !== MANIFEST && !written.has(e) && !options.owns(e));
    await syncDir(staging);
    await commit(staging, dir, parent, name, replacing);
    return id;
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    await unlink(lock).catch(() => undefined);
  }
}

async function commit(staging: string, dir: string, parent: string, name: string, replacing: boolean): Promise<void> {
  if (!replacing) {
    await rename(staging, dir);
  } else if (native().binding.files.exchange(staging, dir)) {
    // staging now holds the replaced version; the caller removes it.
  } else {
    const old = join(parent, sibling(name, 'old'));
    await rename(dir, old);
    await syncDir(parent);
    await rename(staging, dir);
    await syncDir(parent);
    await rm(old, { recursive: true, force: true });
  }
  await syncDir(parent);
}

/** The manifest of the checkpoint at `dir`, or undefined for a folder written without one (older genrm, or another tool). */
export async function readManifest(dir: string): Promise<CheckpointManifest | undefined> {
  const file = join(dir, MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let m: Partial<CheckpointManifest>;
  try {
    m = JSON.parse(text) as Partial<CheckpointManifest>;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
  if (m.format !== 'genrm-checkpoint' || m.version !== 1 || typeof m.id !== 'string' || !Array.isArray(m.files)) {
    throw new Error(`${file}: expected {"format": "genrm-checkpoint", "version": 1, "id": string, "files": [...]}`);
  }
  return m as CheckpointManifest;
}

/**
 * Reads a checkpoint folder consistently: `read()` runs between two reads of
 * its manifest and is repeated when a save replaced the folder meanwhile (a
 * reader never mixes files of two saves). First puts back a version that a
 * crash hid (recoverFolder), where it can; leftovers are the next save's to remove.
 */
export async function readCheckpointFolder<T>(
  dir: string,
  read: (manifest: CheckpointManifest | undefined) => Promise<T>,
  dispose?: (value: T) => void,
): Promise<T> {
  if (!(await exists(dir))) await recoverFolder(dir, { clean: false }).catch(() => undefined);
  for (let attempt = 0; ; attempt++) {
    const before = await readManifest(dir);
    const value = await read(before);
    const after = await readManifest(dir).catch(() => undefined);
    if (before?.id === after?.id) return value;
    dispose?.(value);
    if (attempt >= 4)
      throw new Error(`${dir}: the checkpoint was replaced while it was read, five times in a row; try again`);
  }
}
