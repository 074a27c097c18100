// writePreferencesJsonl: pairs -> JSON Lines in a dataset's own row layout, so
// the file is what that dataset's users expect and readPreferences reads back
// the same pairs. Each row is read back through the format's checks before it
// is written; a pair the format cannot hold exactly throws instead of losing a
// field on the way.
import { writeFileAtomic } from '../util/atomic-write.js';
import type { AtomicWriteOptions } from '../util/atomic-write.js';
import { isRow, messages } from './check.js';
import { DataError, RowFault, kindOf } from './errors.js';
import { FORMATS } from './formats.js';
import { PREFERENCE_FORMATS } from './types.js';
import type { PreferenceFormat, PreferencePair } from './types.js';

// Lines are gathered into pieces of about this size before encoding.
const PIECE = 1 << 20;

/** The path of the first field where a and b differ, if any; plain JSON values only. */
function difference(a: unknown, b: unknown, path: string): string | undefined {
  if (a === b) return undefined;
  if (
    typeof a !== 'object' ||
    typeof b !== 'object' ||
    a === null ||
    b === null ||
    Array.isArray(a) !== Array.isArray(b)
  )
    return path;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return path;
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    if (ra[k] === undefined && rb[k] === undefined) continue;
    const d = difference(ra[k], rb[k], path === '' ? k : `${path}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}

function rowOf(pair: PreferencePair, format: PreferenceFormat, file: string, index: number): string {
  const spec = FORMATS[format];
  try {
    if (!isRow(pair)) throw new RowFault('', `expected a pair object, got ${kindOf(pair)}`);
    messages(pair.prompt, 'prompt', 1);
    const row = spec.toRow(pair);
    const line = JSON.stringify(row);
    // Through JSON and back, as the reader will see it.
    const back = spec.parse(JSON.parse(line) as Record<string, unknown>, pair.source);
    const field = difference(pair, back, '');
    if (field !== undefined) {
      throw new RowFault(
        field,
        `the ${format} format cannot hold it exactly: it would read back as ${JSON.stringify(pick(back, field)) ?? 'nothing'}`,
      );
    }
    return line;
  } catch (e) {
    if (!(e instanceof RowFault)) throw e;
    throw new DataError(
      file,
      index,
      e.field,
      `pair ${JSON.stringify((pair as { id?: unknown } | null)?.id)}: ${e.reason}`,
    );
  }
}

/** The value at a path made by difference(). */
function pick(value: unknown, path: string): unknown {
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Writes pairs as JSON Lines in `format`'s own layout (ultrafeedback: prompt,
 * prompt_id, chosen, rejected, score_*; rewardbench: prompt, chosen,
 * chosen_model, rejected, rejected_model, subset, id; ultrainteract: id,
 * parent_id, task, dataset, trajectory, chosen, rejected), replacing `file`
 * atomically. A pair the format cannot hold (ultrafeedback without scores or
 * group; rewardbench with a multi-turn prompt, a group or scores; ...) throws
 * a DataError whose row is the pair's index; nothing is written then. The
 * encoded file is held in memory until it is written. Returns the row count.
 */
export async function writePreferencesJsonl(
  file: string,
  pairs: Iterable<PreferencePair> | AsyncIterable<PreferencePair>,
  format: PreferenceFormat,
  options: AtomicWriteOptions = {},
): Promise<number> {
  if (!PREFERENCE_FORMATS.includes(format)) {
    throw new TypeError(
      `writePreferencesJsonl: format: expected ${PREFERENCE_FORMATS.map((f) => `'${f}'`).join(', ')}, got ${JSON.stringify(format)}`,
    );
  }
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let piece: string[] = [];
  let pieceLength = 0;
  let rows = 0;
  for await (const pair of pairs) {
    const line = rowOf(pair, format, file, rows++);
    piece.push(line, '\n');
    pieceLength += line.length + 1;
    if (pieceLength >= PIECE) {
      chunks.push(encoder.encode(piece.join('')));
      piece = [];
      pieceLength = 0;
    }
  }
  if (piece.length > 0) chunks.push(encoder.encode(piece.join('')));
  await writeFileAtomic(file, chunks, options);
  return rows;
}
