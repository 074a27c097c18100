// Writes a file so that readers (and a crash) see either the old content or the
// complete new content, never a partial file: write a temp file in the same folder
// (rename is only atomic within one file system), fsync it, rename it over the
// target, then fsync the folder so the rename itself is durable.
import { open, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { processRuns } from './processes.js';

export interface AtomicWriteOptions {
  /** Permission bits of the new file (before the umask); default 0o666. */
  mode?: number;
  /** fsync the file and its folder; default true. Off only for scratch files in tests. */
  fsync?: boolean;
}

// Linux transfers at most 0x7ffff000 bytes per write(2); smaller pieces also keep
// a single huge chunk from pinning a large kernel buffer.
const MAX_WRITE = 1 << 30;

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < chunk.byteLength) {
    const length = Math.min(chunk.byteLength - done, MAX_WRITE);
    const { bytesWritten } = await handle.write(chunk, done, length, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} bytes`);
    done += bytesWritten;
  }
  return done;
}

// Small chunks (a checkpoint's norms and biases, thousands of them) are gathered
// into one staging buffer so each costs a copy, not a system call; large ones are
// written from the caller's memory.
const STAGING = 1 << 20;

async function writeChunks(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let staging: Uint8Array | undefined;
  let staged = 0;
  let position = 0;
  const flush = async () => {
    if (staged > 0) position += await writeAll(handle, staging!.subarray(0, staged), position);
    staged = 0;
  };
  for (const chunk of chunks) {
    if (chunk.byteLength >= STAGING / 4) {
      await flush();
      position += await writeAll(handle, chunk, position);
      continue;
    }
    if (staged + chunk.byteLength > STAGING) await flush();
    staging ??= new Uint8Array(STAGING);
    staging.set(chunk, staged);
    staged += chunk.byteLength;
  }
  await flush();
}

/**
 * Atomically replaces `path` with `data` (one buffer, or a list of chunks written
 * back to back so callers need not concatenate large pieces). On failure the temp
 * file is removed and the target is left as it was.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  const chunks = Array.isArray(data) ? data : [data];
  const sync = options.fsync ?? true;
  const dir = dirname(path);
  // Hidden, unique per process and call, so concurrent writers never share a temp file.
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  await removeDeadTemps(dir, basename(path));
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx', options.mode ?? 0o666);
    await writeChunks(handle, chunks);
    if (sync) await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (e) {
    if (handle) await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw namingPath(e, path);
  }
  if (sync) await syncDir(dir);
}

/**
 * The process that wrote `name` if it is one of writeFileAtomic's temp files
 * (".<file>.<pid>.<hex>.tmp"), else undefined.
 */
export function tempFileWriter(name: string): number | undefined {
  const m = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

// A writer killed mid-write leaves its temp file; the next write of the same
// file removes those of processes that no longer run (never a live writer's).
async function removeDeadTemps(dir: string, name: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return; // the open below reports a missing folder
  }
  for (const e of entries) {
    if (!e.startsWith(`.${name}.`)) continue;
    const pid = tempFileWriter(e);
    if (pid !== undefined && !processRuns(pid)) await unlink(join(dir, e)).catch(() => undefined);
  }
}

// fs errors such as "ENOSPC: no space left on device, write" name no file:
// the error says which file could not be written, and keeps its code.
function namingPath(e: unknown, path: string): unknown {
  if (!(e instanceof Error) || e.message.includes(path)) return e;
  const named = new Error(`${path}: ${e.message}`, { cause: e });
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== undefined) Object.assign(named, { code });
  return named;
}

/** fsync a folder, so renames and new entries in it are durable (a no-op where the file system cannot). */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    // Some file systems cannot fsync a folder; the file itself is already durable.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
