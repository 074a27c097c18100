// readPreferences: a file's rows -> checked, normalized pairs, streamed. Every
// row ends up in exactly one place: a pair, the report's skipped list, or the
// tie count; a read that stops early (limit, break, abort) leaves a report
// that says how far it got.
import { DataError, RowFault } from './errors.js';
import { FORMATS, detectFormat } from './formats.js';
import type { FormatSpec } from './spec.js';
import { fileKind, jsonlRows, parquetRows } from './rows.js';
import type { FileKind, RawRow } from './rows.js';
import { PREFERENCE_FORMATS } from './types.js';
import type { PreferencePair, ReadOptions, ReadReport, RowIssue } from './types.js';

function checkOptions(options: ReadOptions): void {
  const { format, limit } = options;
  if (format !== undefined && format !== 'auto' && !PREFERENCE_FORMATS.includes(format)) {
    throw new TypeError(
      `readPreferences: format: expected 'auto', ${PREFERENCE_FORMATS.map((f) => `'${f}'`).join(', ')}, got ${JSON.stringify(format)}`,
    );
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new RangeError(`readPreferences: limit: expected a non-negative integer, got ${limit}`);
  }
}

/**
 * Throws the signal's reason if it is a plain Error; a DOMException (the
 * default reason, AbortSignal.timeout's) or a non-Error becomes a plain Error
 * of the same name (default AbortError), as elsewhere in genrm, with the
 * reason as its cause.
 */
function stopIfAborted(signal: AbortSignal | undefined, file: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof Error && Object.prototype.toString.call(reason) === '[object Error]') throw reason;
  const name = reason instanceof Error ? reason.name : 'AbortError';
  throw Object.assign(
    new Error(`readPreferences: ${file}: ${reason instanceof Error ? reason.message : 'aborted'}`, { cause: reason }),
    { name },
  );
}

async function* read(
  file: string,
  kind: FileKind,
  options: ReadOptions,
  report: ReadReport,
): AsyncGenerator<PreferencePair> {
  const { strict = false, keepTies = false, limit = Infinity, signal } = options;
  stopIfAborted(signal, file);
  if (limit === 0) return;
  let spec: FormatSpec | undefined = report.format === undefined ? undefined : FORMATS[report.format];
  const detect = (columns: string[], row?: number, line?: number): FormatSpec => {
    const found = detectFormat(columns);
    if (typeof found === 'string') throw new DataError(file, row, '', found, { line });
    spec = found;
    report.format = found.name;
    return found;
  };
  const source: AsyncGenerator<RawRow> =
    kind === 'parquet'
      ? parquetRows(
          file,
          (columns) => [...(spec ?? detect(columns)).columns],
          (total) => {
            report.totalRows = total;
          },
        )
      : jsonlRows(file);

  const skip = (raw: RawRow, field: string, reason: string) => {
    const issue: RowIssue =
      raw.line === undefined
        ? { file, row: raw.row, field, reason }
        : { file, row: raw.row, line: raw.line, field, reason };
    report.skipped.push(issue);
    if (strict) throw DataError.fromIssue(issue);
  };

  for await (const raw of source) {
    stopIfAborted(signal, file);
    report.rows++;
    if (raw.value === undefined) {
      skip(raw, raw.fault?.field ?? '', raw.fault?.reason ?? 'unreadable');
      continue;
    }
    const format = spec ?? detect(Object.keys(raw.value), raw.row, raw.line);
    let pair: PreferencePair;
    try {
      pair = format.parse(raw.value, options.source ?? format.name);
    } catch (e) {
      if (!(e instanceof RowFault)) throw e;
      skip(raw, e.field, e.reason);
      continue;
    }
    if (pair.scores !== undefined && pair.scores.chosen === pair.scores.rejected) {
      report.ties++;
      if (!keepTies) continue;
    }
    report.pairs++;
    yield pair;
    if (report.pairs >= limit) return;
  }
  report.exhausted = true;
}

/**
 * Streams the preference pairs of a JSON Lines (.jsonl, .json) or Parquet
 * (.parquet) file. The file is opened when iteration starts; `pairs` can be
 * iterated once. Malformed rows are skipped and listed in report.skipped (with
 * `strict`, the first one throws a DataError instead). An unknown extension
 * throws here; a missing or unreadable file or an undetectable format throws
 * a DataError from the iteration.
 */
export function readPreferences(
  file: string,
  options: ReadOptions = {},
): { pairs: AsyncIterable<PreferencePair>; report: ReadReport } {
  checkOptions(options);
  const kind = fileKind(file);
  const format = options.format === undefined || options.format === 'auto' ? undefined : options.format;
  const report: ReadReport = { file, format, rows: 0, pairs: 0, skipped: [], ties: 0, exhausted: false };
  return { pairs: read(file, kind, options, report), report };
}

/** readPreferences, collected. */
export async function loadPreferences(
  file: string,
  options: ReadOptions = {},
): Promise<{ pairs: PreferencePair[]; report: ReadReport }> {
  const { pairs: stream, report } = readPreferences(file, options);
  const pairs: PreferencePair[] = [];
  for await (const pair of stream) pairs.push(pair);
  return { pairs, report };
}
