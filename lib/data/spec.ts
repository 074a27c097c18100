import type { PreferenceFormat, PreferencePair } from './types.js';
import type { Row } from './check.js';

/** How one dataset's rows map to and from PreferencePair. */
export interface FormatSpec {
  name: PreferenceFormat;
  /** The columns read (Parquet reads only these); other columns are ignored. */
  columns: readonly string[];
  /** Columns only this format has: auto-detection looks for them. */
  signature: readonly string[];
  /** Checks every field; throws a RowFault at the first bad one. */
  parse(row: Row, source: string): PreferencePair;
  /** The row in the dataset's own layout; throws a RowFault if the format cannot hold the pair. */
  toRow(pair: PreferencePair): Row;
}
