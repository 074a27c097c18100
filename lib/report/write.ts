// Writes a report folder: report.json, report.md and charts/<name>.svg. Each
// file is replaced atomically; the charts go first and report.md last, so a
// report.md on disk never links a chart that is not there yet. The folder as a
// whole is not atomic, and charts from an earlier report that this one does not
// name are left in place (nothing is deleted).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { protocolMarkdown, type ProtocolRecord } from '../eval/provenance.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface Report {
  /** Written as report.json (two-space indented, trailing newline). */
  json: unknown;
  markdown: string;
  /**
   * How the report's numbers were made. Written as report.json's `protocol`
   * field (json must then be an object without one) and as a markdown section.
   */
  protocol?: ProtocolRecord;
  /** Chart name (file name without .svg) -> SVG text. */
  charts?: Readonly<Record<string, string>>;
}

export interface WriteReportOptions {
  /** fsync each file and the folders; default true. */
  fsync?: boolean;
}

// A plain file name: no separators, no leading dot, nothing a markdown link would need escaping for.
const CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Writes the report into `dir` (created if needed); returns the paths written, charts first. */
export async function writeReport(dir: string, report: Report, options: WriteReportOptions = {}): Promise<string[]> {
  const charts = Object.entries(report.charts ?? {});
  for (const [name, svg] of charts) {
    if (!CHART_NAME.test(name))
      throw new Error(
        `writeReport: chart name ${JSON.stringify(name)} must match ${CHART_NAME} (it becomes charts/<name>.svg)`,
      );
    if (typeof svg !== 'string' || !svg.trimStart().startsWith('<svg'))
      throw new Error(`writeReport: chart ${JSON.stringify(name)} is not SVG text`);
  }
  let body = report.json;
  if (report.protocol) {
    if (!body || typeof body !== 'object' || Array.isArray(body) || 'protocol' in body)
      throw new Error('writeReport: with a protocol, json must be an object without a protocol field');
    body = { ...body, protocol: report.protocol };
  }
  const json = JSON.stringify(body, null, 2);
  if (json === undefined) throw new Error('writeReport: json is not serializable');

  // Charts the markdown does not already show get a section of their own.
  let markdown = report.markdown.endsWith('\n') ? report.markdown : `${report.markdown}\n`;
  if (report.protocol) markdown += `\n${protocolMarkdown(report.protocol, '##')}`;
  const unlinked = charts.filter(([name]) => !markdown.includes(`(charts/${name}.svg)`));
  if (unlinked.length > 0)
    markdown += `\n## Charts\n\n${unlinked.map(([name]) => `![${name}](charts/${name}.svg)`).join('\n\n')}\n`;

  const write = { fsync: options.fsync ?? true };
  const encode = (text: string) => new TextEncoder().encode(text);
  const written: string[] = [];
  await mkdir(dir, { recursive: true });
  if (charts.length > 0) await mkdir(join(dir, 'charts'), { recursive: true });
  for (const [name, svg] of charts) {
    const path = join(dir, 'charts', `${name}.svg`);
    await writeFileAtomic(path, encode(svg), write);
    written.push(path);
  }
  for (const [file, text] of [
    ['report.json', `${json}\n`],
    ['report.md', markdown],
  ] as const) {
    const path = join(dir, file);
    await writeFileAtomic(path, encode(text), write);
    written.push(path);
  }
  return written;
}
