// Row sources: a file's rows, one at a time, with the file read piece by piece
// (JSON Lines in 256 KiB chunks, Parquet one row group at a time), so a file
// larger than memory can be read. The consumer pulls; nothing is read ahead.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
// hyparquet alone reads uncompressed and snappy pages; datasets are also
// published with zstd, gzip, brotli or lz4 pages.
import { compressors } from 'hyparquet-compressors';
import { DataError } from './errors.js';
import { isRow } from './check.js';
import type { Row } from './check.js';

export interface RawRow {
  /** 0-based data row. */
  row: number;
  /** 1-based line (JSON Lines). */
  line?: number;
  /** The row, or why it is not one. */
  value?: Row;
  fault?: { field: string; reason: string };
}

export type FileKind = 'jsonl' | 'parquet';

export function fileKind(file: string): FileKind {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.json') return 'jsonl';
  if (ext === '.parquet') return 'parquet';
  throw new DataError(
    file,
    undefined,
    '',
    `unknown extension ${JSON.stringify(ext)}; expected .jsonl or .json (JSON Lines) or .parquet`,
  );
}

async function openFile(file: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : `cannot open it (${(e as Error).message})`;
    throw new DataError(file, undefined, '', reason, { cause: e });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new DataError(file, undefined, '', 'not a regular file');
    return { handle, size: stat.size };
  } catch (e) {
    await handle.close().catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------
// JSON Lines.

const CHUNK = 256 * 1024;
const NEWLINE = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The file's lines as bytes (without "\n"); lines are split on bytes, so a chunk boundary never splits a character. */
async function* lines(handle: FileHandle): AsyncGenerator<Uint8Array> {
  const chunk = Buffer.allocUnsafe(CHUNK);
  let pending: Buffer[] = [];
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK, null);
    if (bytesRead === 0) break;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0 || nl >= bytesRead) break;
      const piece = chunk.subarray(start, nl);
      if (pending.length > 0) {
        pending.push(piece);
        yield Buffer.concat(pending);
        pending = [];
      } else {
        yield piece;
      }
      start = nl + 1;
    }
    // The buffer is reused for the next read: keep a copy of the unfinished line.
    if (start < bytesRead) pending.push(Buffer.from(chunk.subarray(start, bytesRead)));
  }
  if (pending.length > 0) yield Buffer.concat(pending);
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

export async function* jsonlRows(file: string): AsyncGenerator<RawRow> {
  const { handle } = await openFile(file);
  try {
    let line = 0;
    let row = 0;
    for await (const bytes of lines(handle)) {
      line++;
      if (isBlank(bytes)) continue;
      let source: string;
      try {
        source = utf8.decode(bytes);
      } catch {
        yield { row: row++, line, fault: { field: '', reason: 'not valid UTF-8' } };
        continue;
      }
      if (row === 0 && source.charCodeAt(0) === 0xfeff) source = source.slice(1);
      let value: unknown;
      try {
        value = JSON.parse(source);
      } catch (e) {
        if (row === 0 && source.trimStart().startsWith('[')) {
          throw new DataError(
            file,
            undefined,
            '',
            'starts with "[", like a JSON array; genrm reads JSON Lines, one object per line ' +
              "(convert it with, e.g., jq -c '.[]')",
            { line },
          );
        }
        yield { row: row++, line, fault: { field: '', reason: `not valid JSON (${(e as Error).message})` } };
        continue;
      }
      if (!isRow(value)) {
        if (row === 0 && Array.isArray(value)) {
          throw new DataError(file, undefined, '', 'holds a JSON array; genrm reads JSON Lines, one object per line', {
            line,
          });
        }
        yield {
          row: row++,
          line,
          fault: {
            field: '',
            reason: `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
          },
        };
        continue;
      }
      yield { row: row++, line, value };
    }
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------
// Parquet.

/** hyparquet's view of the file: byte ranges read on demand through one handle. */
function fileBuffer(handle: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const out = new Uint8Array(Math.max(0, end - start));
      let done = 0;
      while (done < out.byteLength) {
        const { bytesRead } = await handle.read(out, done, out.byteLength - done, start + done);
        if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + done} (wanted ${start}-${end})`);
        done += bytesRead;
      }
      return out.buffer;
    },
  };
}

/** The top-level column names in schema order. */
export function parquetColumns(metadata: FileMetaData): string[] {
  return parquetSchema(metadata).children.map((c) => c.element.name);
}

/**
 * `pick` sees the schema's top-level columns and names the ones to read; the
 * file's total row count is reported through `onTotal`.
 */
export async function* parquetRows(
  file: string,
  pick: (columns: string[]) => string[],
  onTotal?: (rows: number) => void,
): AsyncGenerator<RawRow> {
  const { handle, size } = await openFile(file);
  // hyparquet's own errors (not Parquet, an unsupported codec) become DataErrors naming the file.
  const unreadable = (e: unknown, where: string): DataError =>
    e instanceof DataError
      ? e
      : new DataError(
          file,
          undefined,
          '',
          `cannot read it as Parquet (${where}): ${(e as Error)?.message ?? String(e)}`,
          { cause: e },
        );
  try {
    const buffer = fileBuffer(handle, size);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw unreadable(e, 'footer');
    }
    onTotal?.(Number(metadata.num_rows));
    const present = new Set(parquetColumns(metadata));
    const columns = pick([...present]).filter((c) => present.has(c));
    let rowStart = 0;
    for (const [g, group] of metadata.row_groups.entries()) {
      const rowEnd = rowStart + Number(group.num_rows);
      if (rowEnd === rowStart) continue;
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: buffer, metadata, columns, rowStart, rowEnd, compressors });
      } catch (e) {
        throw unreadable(e, `row group ${g}, rows ${rowStart}-${rowEnd - 1}`);
      }
      for (const [i, value] of rows.entries()) yield { row: rowStart + i, value };
      rowStart = rowEnd;
    }
  } finally {
    await handle.close();
  }
}
