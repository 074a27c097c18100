// Shared by the ava tests: seeded random data and the compiled CLI's path.
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { rng as seededRng } from '../lib/util/random.js';

/** Deterministic uniform values in [-1, 1), from the library's seeded generator (lib/util/random.ts). */
export function random(n: number, seed: number): Float32Array {
  const next = seededRng(seed);
  return Float32Array.from({ length: n }, () => 2 * next() - 1);
}

/** A seeded integer source in [lo, hi] for choosing shapes the test did not pick by hand. */
export function rng(seed: number): (lo: number, hi: number) => number {
  const next = seededRng(seed);
  return (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
}

export const cliPath = join(packageRoot(), 'dist', 'lib', 'cli', 'main.js');

// Preference-data rows in each dataset's own layout (lib/data tests). `i`
// varies every text; `over` replaces or adds columns.
type DataRow = Record<string, unknown>;

export function ultrafeedbackRow(i: number, over: DataRow = {}): DataRow {
  const prompt = [{ content: `question ${i}`, role: 'user' }];
  return {
    prompt: `question ${i}`,
    prompt_id: `p${i}`,
    chosen: [...prompt, { content: `good answer ${i}`, role: 'assistant' }],
    rejected: [...prompt, { content: `bad answer ${i}`, role: 'assistant' }],
    messages: [...prompt, { content: `good answer ${i}`, role: 'assistant' }],
    score_chosen: 8,
    score_rejected: 3.5,
    ...over,
  };
}

export function ultrainteractRow(i: number, over: DataRow = {}): DataRow {
  return {
    id: `u${i}`,
    parent_id: `task${Math.floor(i / 2)}`,
    task: 'Math_CoT',
    dataset: 'gsm8k',
    trajectory: [{ from: 'user', value: `solve ${i}` }],
    chosen: `right ${i}`,
    rejected: `wrong ${i}`,
    ...over,
  };
}

export function rewardbenchRow(i: number, over: DataRow = {}): DataRow {
  return {
    prompt: `ask ${i}`,
    chosen: `yes ${i}`,
    chosen_model: 'model-a',
    rejected: `no ${i}`,
    rejected_model: 'model-b',
    subset: 'alpacaeval-easy',
    id: i,
    ...over,
  };
}

/** How many of this process's file descriptors are open on `file` (Linux). */
export function openCount(file: string): number {
  const target = realpathSync(file);
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === target) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}
