// Markdown tables of scores. Accuracies are fractions in [0, 1] everywhere else
// in genrm; tables show them as percentages with one decimal, as the RewardBench
// leaderboard does. A missing value prints as "-", never as 0.
import { protocolMarkdown } from './provenance.js';
import type { BenchmarkScore, SectionScore } from './score.js';

export interface TableOptions {
  /** Header of the first column; default "Method". */
  label?: string;
  /** Show values x100; default true. */
  percent?: boolean;
  /** Decimals; default 1. */
  digits?: number;
}

/** A cell's text with the characters that would break a table row escaped. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function formatValue(v: number | null | undefined, percent: boolean, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return (percent ? v * 100 : v).toFixed(digits);
}

function table(header: string[], align: ('l' | 'r')[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(align.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** One row per method, one column per name in `columns` (a score missing from a row prints "-"). */
export function markdownTable(
  rows: readonly { method: string; scores: Readonly<Record<string, number | null>> }[],
  columns: readonly string[],
  options: TableOptions = {},
): string {
  const percent = options.percent ?? true;
  const digits = options.digits ?? 1;
  return table(
    [cell(options.label ?? 'Method'), ...columns.map(cell)],
    ['l', ...columns.map(() => 'r' as const)],
    rows.map((r) => [cell(r.method), ...columns.map((c) => formatValue(r.scores[c], percent, digits))]),
  );
}

/** The section and overall scores of several methods side by side. */
export function benchmarkTable(
  rows: readonly { method: string; score: BenchmarkScore }[],
  options: TableOptions = {},
): string {
  const sections = [...new Set(rows.flatMap((r) => Object.keys(r.score.sections)))];
  const withPrior = rows.some((r) => r.score.priorOverall !== undefined);
  const columns = ['Overall', ...sections, ...(withPrior ? ['Prior Sets', 'Older overall'] : [])];
  return markdownTable(
    rows.map(({ method, score }) => ({
      method,
      scores: {
        Overall: score.overall,
        ...Object.fromEntries(Object.entries(score.sections).map(([name, s]) => [name, s.score])),
        'Prior Sets': score.prior?.score ?? null,
        'Older overall': score.priorOverall ?? null,
      },
    })),
    columns,
    options,
  );
}

/**
 * One benchmark result: sections with the overall, then every subset, then the
 * notes. An incomplete section's score is marked "(partial)"; a subset whose
 * rows differ from the benchmark's shows both counts. `names` maps subset ids to
 * display names (e.g. REWARDBENCH_DISPLAY_NAMES).
 */
export function scoreToMarkdown(score: BenchmarkScore, names: Readonly<Record<string, string>> = {}): string {
  const pct = (v: number | null) => formatValue(v, true, 1);
  const sectionRow = (name: string, s: SectionScore) => [
    cell(name),
    s.complete || s.score === null ? pct(s.score) : `${pct(s.score)} (partial)`,
    String(s.count),
    String(s.ties),
  ];
  const sectionRows = Object.entries(score.sections).map(([name, s]) => sectionRow(name, s));
  sectionRows.push(['**Overall**', pct(score.overall), String(score.count), String(score.ties)]);
  if (score.prior) {
    sectionRows.push(sectionRow('Prior Sets', score.prior));
    sectionRows.push(['Older overall (with prior sets)', pct(score.priorOverall ?? null), '', '']);
  }

  const subsetRows = Object.entries(score.subsets).map(([name, s]) => {
    const rows =
      s.expectedRows !== undefined && s.expectedRows !== s.count
        ? `${s.count} (expected ${s.expectedRows})`
        : String(s.count);
    return [cell(s.section ?? ''), cell(names[name] ?? name), pct(s.accuracy), rows, String(s.ties)];
  });

  const parts = [
    `### ${cell(score.benchmark)}`,
    table(['Section', 'Score', 'Rows', 'Ties (0.5)'], ['l', 'r', 'r', 'r'], sectionRows),
    table(['Section', 'Subset', 'Accuracy', 'Rows', 'Ties (0.5)'], ['l', 'l', 'r', 'r', 'r'], subsetRows),
  ];
  if (score.notes.length > 0) parts.push(score.notes.map((n) => `- ${n}`).join('\n'));
  if (score.protocol) parts.push(protocolMarkdown(score.protocol, '####').trimEnd());
  return parts.join('\n\n') + '\n';
}
