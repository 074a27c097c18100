// Reading a JSON object file that a folder may or may not have (tokenizer_config.json,
// generation_config.json), with errors that name the file through the caller's error type.

import { readFile } from 'node:fs/promises';

/**
 * The JSON object in `path`, or undefined when there is no such file. Any other
 * failure (unreadable, not JSON, not an object) throws `fail(detail)`.
 */
export async function readOptionalJsonObject(
  path: string,
  fail: (detail: string) => Error,
): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fail(`cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    const shown = JSON.stringify(json) ?? String(json);
    throw fail(`expected a JSON object, got ${shown.length > 80 ? `${shown.slice(0, 77)}...` : shown}`);
  }
  return json as Record<string, unknown>;
}
