// Small JSON Lines files that a run wrote itself (rationales, chunks): read
// whole. Datasets stream through lib/data instead.
import { readFile } from 'node:fs/promises';

/** Every non-blank line parsed; a bad line throws naming the file and its line number, then `hint`. */
export async function readJsonl<T>(file: string, hint = ''): Promise<T[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      throw new Error(`${file} line ${i + 1}: not JSON (${(e as Error).message})${hint ? `; ${hint}` : ''}`);
    }
  });
  return out;
}
