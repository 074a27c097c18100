// Preference data: readers for UltraFeedback, UltraInteract and RewardBench
// files (JSON Lines or Parquet, streamed), one normalized PreferencePair, a
// deterministic split by group, and a writer in each dataset's own layout.
export type { PreferenceFormat, PreferencePair, ReadOptions, ReadReport, RowIssue } from './types.js';
export { PREFERENCE_FORMATS } from './types.js';
export { DataError, formatIssue } from './errors.js';
export { loadPreferences, readPreferences } from './read.js';
export { groupHash, splitByGroup, type SplitOptions } from './split.js';
export { writePreferencesJsonl } from './write.js';
