// Field checkers shared by the formats. Each returns the value in the shape the
// pair wants or throws a RowFault naming the field path (`chosen[2].role`).
// JSON Lines and Parquet rows go through the same checks; the differences are
// Parquet's nulls for missing values and bigints for INT64 columns.
import type { ChatMessage, ChatRole } from '../tokenizer/chat.js';
import { fault, kindOf } from './errors.js';

export type Row = Record<string, unknown>;

function expected(field: string, what: string, value: unknown): never {
  fault(field, value === undefined ? 'missing' : `expected ${what}, got ${kindOf(value)}`);
}

export function isRow(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function text(value: unknown, field: string): string {
  if (typeof value !== 'string') expected(field, 'a string', value);
  return value;
}

/** Metadata genrm does not use (model names, source dataset): a string or null, but present. */
export function textOrNull(value: unknown, field: string): string | null {
  if (typeof value !== 'string' && value !== null) expected(field, 'a string or null', value);
  return value;
}

export function nonEmptyText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') expected(field, 'a non-empty string', value);
  return value;
}

/** An id: a non-empty string, or an integer (JSON number or Parquet INT64), as a string. */
export function key(value: unknown, field: string): string {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  expected(field, 'a non-empty string or an integer', value);
}

export function finite(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(value);
  expected(field, 'a finite number', value);
}

function list(value: unknown, field: string, min: number): unknown[] {
  if (!Array.isArray(value)) expected(field, 'an array', value);
  if (value.length < min) fault(field, `expected at least ${min} message${min === 1 ? '' : 's'}, got ${value.length}`);
  return value;
}

function object(value: unknown, field: string): Row {
  if (!isRow(value)) expected(field, 'an object', value);
  return value;
}

/**
 * A message list; `roleKey`/`contentKey` name the fields ({role, content} or
 * UltraInteract's {from, value}) and `roles` maps the names a file may use.
 */
export function messages(value: unknown, field: string, min: number, spec: MessageSpec = CHAT): ChatMessage[] {
  const items = list(value, field, min);
  return items.map((item, i) => {
    const at = `${field}[${i}]`;
    const m = object(item, at);
    const name = m[spec.roleKey];
    const role = typeof name === 'string' ? spec.roles.get(name) : undefined;
    if (role === undefined) {
      if (typeof name !== 'string') expected(`${at}.${spec.roleKey}`, 'a string', name);
      fault(
        `${at}.${spec.roleKey}`,
        `unknown ${spec.roleKey} ${JSON.stringify(name)}; expected ${[...spec.roles.keys()].join(', ')}`,
      );
    }
    return { role, content: text(m[spec.contentKey], `${at}.${spec.contentKey}`) };
  });
}

export interface MessageSpec {
  roleKey: string;
  contentKey: string;
  roles: ReadonlyMap<string, ChatRole>;
}

export const CHAT: MessageSpec = {
  roleKey: 'role',
  contentKey: 'content',
  roles: new Map<string, ChatRole>([
    ['system', 'system'],
    ['user', 'user'],
    ['assistant', 'assistant'],
  ]),
};

/** The prompt must end with the user's turn, and that turn must say something. */
export function endsWithUser(
  prompt: readonly ChatMessage[],
  field: (i: number) => string,
  roleKey = 'role',
  contentKey = 'content',
): void {
  const i = prompt.length - 1;
  const last = prompt[i];
  if (last === undefined) fault(field(0), 'the prompt is empty; expected at least one user message');
  if (last.role !== 'user')
    fault(
      `${field(i)}.${roleKey}`,
      `the prompt ends with ${last.role === 'assistant' ? 'an' : 'a'} ${last.role} message; expected it to end with the user's`,
    );
  if (last.content === '') fault(`${field(i)}.${contentKey}`, "expected a non-empty string (the user's last message)");
}
