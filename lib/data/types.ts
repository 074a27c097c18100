// The shapes every reader produces and every consumer (templates, trainers,
// evaluators) takes: one normalized preference pair, whatever the source file.
import type { ChatMessage } from '../tokenizer/chat.js';

export type PreferenceFormat = 'ultrafeedback' | 'ultrainteract' | 'rewardbench';

export const PREFERENCE_FORMATS: readonly PreferenceFormat[] = ['ultrafeedback', 'ultrainteract', 'rewardbench'];

export interface PreferencePair {
  id: string;
  /** The conversation before the final answer; it ends with a user turn. */
  prompt: ChatMessage[];
  /** The preferred final assistant answer. */
  chosen: string;
  rejected: string;
  /** The format it was read from, or ReadOptions.source. */
  source: PreferenceFormat | string;
  /** RewardBench subset name; UltraInteract task (e.g. 'Math_CoT'); absent for UltraFeedback. */
  subset?: string;
  /** What must not straddle a split: UltraFeedback prompt_id, UltraInteract parent_id. */
  group?: string;
  /** UltraFeedback's ratings of the two answers. */
  scores?: { chosen: number; rejected: number };
}

/** One malformed row: where it is and what is wrong with it. */
export interface RowIssue {
  file: string;
  /** 0-based data row (JSON Lines: blank lines are not rows). */
  row: number;
  /** 1-based line of a JSON Lines file; absent for Parquet. */
  line?: number;
  /** The field at fault, e.g. "chosen[1].content"; '' when the row as a whole is (not JSON, not an object). */
  field: string;
  reason: string;
}

/**
 * What a read saw. Live: the counters grow as pairs are consumed, and are
 * final once iteration ends, also after a break, a limit, an abort or an error.
 * Always rows = pairs + skipped.length + (keepTies ? 0 : ties).
 */
export interface ReadReport {
  file: string;
  /** The format read; undefined under 'auto' until a row (JSON Lines) or the schema (Parquet) is seen. */
  format: PreferenceFormat | undefined;
  /** Data rows read. */
  rows: number;
  /** Pairs produced. */
  pairs: number;
  /** Malformed rows, in file order (under strict, the one that stopped the read). */
  skipped: RowIssue[];
  /** Valid rows whose two scores are equal; dropped unless keepTies. */
  ties: number;
  /** Rows in the file, where the format says up front (Parquet); for progress. */
  totalRows?: number;
  /** True once the last row of the file was read (false after a limit, a break, an abort or an error). */
  exhausted: boolean;
}

export interface ReadOptions {
  /** Default 'auto': detect from the first row's columns (Parquet: the schema's). */
  format?: PreferenceFormat | 'auto';
  /** Throw a DataError at the first malformed row instead of skipping it. Default false. */
  strict?: boolean;
  /** UltraFeedback: keep pairs whose two scores are equal. Default false. */
  keepTies?: boolean;
  /** Stop after this many pairs. Default: no limit. */
  limit?: number;
  /** The `source` written into each pair. Default: the format's name. */
  source?: string;
  /** Stops the read between rows: iteration throws the signal's reason if it is an Error, else an Error named AbortError. */
  signal?: AbortSignal;
}
