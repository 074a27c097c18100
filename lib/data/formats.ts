import type { PreferenceFormat } from './types.js';
import type { FormatSpec } from './spec.js';
import { ultrafeedback } from './ultrafeedback.js';
import { ultrainteract } from './ultrainteract.js';
import { rewardbench } from './rewardbench.js';

export const FORMATS: Readonly<Record<PreferenceFormat, FormatSpec>> = { ultrafeedback, ultrainteract, rewardbench };

/** The format whose signature columns appear among `columns`, or why none (or several) does. */
export function detectFormat(columns: readonly string[]): FormatSpec | string {
  const seen = new Set(columns);
  const found = Object.values(FORMATS).filter((f) => f.signature.some((c) => seen.has(c)));
  if (found.length === 1) return found[0]!;
  const expected = Object.values(FORMATS)
    .map((f) => `${f.name} (${f.signature.join(', ')})`)
    .join(', ');
  const shown = columns.length > 0 ? columns.map((c) => JSON.stringify(c)).join(', ') : 'none';
  return (
    `cannot tell the format from the columns ${shown}: ${found.length === 0 ? 'none of' : 'more than one of'} ` +
    `${expected} match; pass options.format`
  );
}
