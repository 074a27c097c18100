// Reading preference files for a command: each file's report is printed (rows,
// pairs, skipped rows with file/row/field/reason, ties), so nothing is dropped
// without the user seeing it; an optional group split picks one side.
import {
  loadPreferences,
  splitByGroup,
  formatIssue,
  type PreferenceFormat,
  type PreferencePair,
} from '../data/index.js';

export interface DataFlags {
  format?: PreferenceFormat | 'auto';
  strict?: boolean;
  keepTies?: boolean;
  limit?: number;
  heldOut?: number;
  take?: 'train' | 'held-out';
  splitSeed?: number;
}

export async function readPairs(
  files: readonly string[],
  flags: DataFlags,
  log: (line: string) => void,
): Promise<PreferencePair[]> {
  const all: PreferencePair[] = [];
  for (const file of files) {
    const { pairs, report } = await loadPreferences(file, {
      format: flags.format ?? 'auto',
      strict: flags.strict,
      keepTies: flags.keepTies,
      limit: flags.limit,
    });
    let note = `${file}: ${report.format} format, ${report.rows} rows, ${report.pairs} pairs`;
    if (report.ties) note += `, ${report.ties} ties ${flags.keepTies ? 'kept' : 'dropped (--keep-ties keeps them)'}`;
    if (report.skipped.length)
      note += `, ${report.skipped.length} malformed rows skipped (--strict stops at the first)`;
    log(note);
    for (const issue of report.skipped.slice(0, 5)) log(`  skipped: ${formatIssue(issue)}`);
    if (report.skipped.length > 5) log(`  ... and ${report.skipped.length - 5} more`);
    all.push(...pairs);
  }
  if (flags.heldOut === undefined) return all;
  const { train, heldOut } = splitByGroup(all, { heldOut: flags.heldOut, seed: flags.splitSeed ?? 0 });
  const side = (flags.take ?? 'train') === 'train' ? train : heldOut;
  log(
    `split by group (held out ${flags.heldOut}, seed ${flags.splitSeed ?? 0}): ${train.length} train, ${heldOut.length} held-out pairs; using ${flags.take ?? 'train'}`,
  );
  return side;
}
