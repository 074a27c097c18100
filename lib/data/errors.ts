import type { RowIssue } from './types.js';

/** "train.jsonl row 17 (line 18), field chosen[1].content: expected a string, got number" */
export function formatIssue(issue: {
  file: string;
  row?: number | undefined;
  line?: number | undefined;
  field: string;
  reason: string;
}): string {
  let where = issue.file;
  if (issue.row !== undefined) where += ` row ${issue.row}`;
  if (issue.line !== undefined) where += ` (line ${issue.line})`;
  if (issue.field !== '') where += `${issue.row !== undefined ? ',' : ''} field ${issue.field}`;
  return `${where}: ${issue.reason}`;
}

/**
 * A data file genrm cannot read, a malformed row under `strict`, or a pair a
 * writer cannot store. `row` is undefined when the file as a whole is at fault.
 */
export class DataError extends Error {
  readonly file: string;
  /** 0-based data row (for writers: the pair's index). */
  readonly row: number | undefined;
  /** 1-based line of a JSON Lines file. */
  readonly line: number | undefined;
  /** The field at fault, e.g. "chosen[1].content"; '' for the row or file as a whole. */
  readonly field: string;
  readonly reason: string;

  constructor(
    file: string,
    row: number | undefined,
    field: string,
    reason: string,
    options: { line?: number | undefined; cause?: unknown } = {},
  ) {
    super(
      formatIssue({ file, row, line: options.line, field, reason }),
      options.cause !== undefined ? { cause: options.cause } : undefined,
    );
    this.name = 'DataError';
    this.file = file;
    this.row = row;
    this.line = options.line;
    this.field = field;
    this.reason = reason;
  }

  static fromIssue(issue: RowIssue): DataError {
    return new DataError(issue.file, issue.row, issue.field, issue.reason, { line: issue.line });
  }
}

/**
 * Thrown by the row checkers and caught by the reader, which adds the file
 * and row; cheaper to build than a DataError (no stack, no message).
 */
export class RowFault {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {}
}

export function fault(field: string, reason: string): never {
  throw new RowFault(field, reason);
}

/** A value's kind for "expected ..., got ..." messages. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value === '') return 'empty string';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}
