// The demo's report: the paper-shaped table (in distribution, each
// out-of-distribution section, their overall), means and spreads over seeds,
// and the charts: accuracy by method and section, by STaR iteration, the
// rationale keep rate, and the BT model's accuracy by surface-feature agreement.
import { markdownTable } from '../eval/index.js';
import { barChartSvg, lineChartSvg, writeReport } from '../report/index.js';
import type { DemoPreset } from './presets.js';
import type { SeedResult } from './run.js';

const SECTIONS = ['Chat', 'Chat Hard', 'Safety', 'Reasoning'];
export const COLUMNS = ['In distribution', ...SECTIONS, 'OOD overall'];

export interface Summary {
  method: string;
  /** Column -> mean over seeds (null when missing in any seed). */
  mean: Record<string, number | null>;
  /** Column -> sample standard deviation over seeds (0 with one seed). */
  spread: Record<string, number | null>;
}

function stats(values: Array<number | null>): { mean: number | null; spread: number | null } {
  if (values.length === 0 || values.some((v) => v === null || !Number.isFinite(v))) return { mean: null, spread: null };
  const xs = values as number[];
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const spread = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, spread };
}

export function summarize(seeds: readonly SeedResult[]): Summary[] {
  const names = seeds[0]?.methods.map((m) => m.method) ?? [];
  return names.map((method) => {
    const rows = seeds.map((s) => s.methods.find((m) => m.method === method)!);
    const mean: Record<string, number | null> = {};
    const spread: Record<string, number | null> = {};
    const col = (name: string, get: (r: SeedResult['methods'][number]) => number | null) => {
      const st = stats(rows.map(get));
      mean[name] = st.mean;
      spread[name] = st.spread;
    };
    col('In distribution', (r) => r.id);
    for (const s of SECTIONS) col(s, (r) => r.sections[s] ?? null);
    col('OOD overall', (r) => r.ood);
    return { method, mean, spread };
  });
}

export function summaryTable(summary: readonly Summary[], seeds: number): string {
  if (seeds <= 1)
    return markdownTable(
      summary.map((s) => ({ method: s.method, scores: s.mean })),
      COLUMNS,
    );
  // Mean ± standard deviation over seeds, as text.
  const fmt = (m: number | null, sd: number | null) =>
    m === null ? '-' : `${(100 * m).toFixed(1)} ± ${(100 * (sd ?? 0)).toFixed(1)}`;
  const header = `| Method | ${COLUMNS.join(' | ')} |\n| --- | ${COLUMNS.map(() => '---:').join(' | ')} |`;
  return [
    header,
    ...summary.map((s) => `| ${s.method} | ${COLUMNS.map((c) => fmt(s.mean[c]!, s.spread[c]!)).join(' | ')} |`),
  ].join('\n');
}

/** The paper's four findings, each checked against this run's means (a difference counts from 2 points). */
export function findings(summary: readonly Summary[], voteK: number): string[] {
  const get = (method: string, col: string) => summary.find((s) => s.method === method)?.mean[col] ?? null;
  const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(1)}%`);
  const ID = 'In distribution',
    OOD = 'OOD overall';
  const bt = get('Bradley-Terry', ID),
    btOod = get('Bradley-Terry', OOD);
  const out: string[] = [];
  const verdict = (holds: boolean | null) =>
    holds === null ? 'not measured' : holds ? 'reproduces' : 'does not reproduce';
  const zs = [get('Zero-shot (direct)', ID), get(`Zero-shot CoT + vote@${voteK}`, ID)];
  out.push(
    `Zero-shot judges below BT in distribution: direct ${pct(zs[0]!)}, CoT + vote ${pct(zs[1]!)} vs BT ${pct(bt)}: ${verdict(bt === null || zs.some((z) => z === null) ? null : zs.every((z) => z! < bt - 0.02))}.`,
  );
  const g = get('GenRM', ID);
  out.push(
    `GenRM about equal to BT in distribution (within 3 points): ${pct(g)} vs ${pct(bt)}: ${verdict(g === null || bt === null ? null : Math.abs(g - bt) <= 0.03)}.`,
  );
  const star = ['STaR-SFT', 'STaR-DPO', 'STaR-Rationalizer']
    .map((m) => ({ m, v: get(`${m} + vote@${voteK}`, OOD) }))
    .filter((x) => x.v !== null);
  const best = star.sort((a, b) => b.v! - a.v!)[0];
  out.push(
    `A STaR judge above BT out of distribution: best ${best ? `${best.m} + vote ${pct(best.v)}` : '-'} vs BT ${pct(btOod)}: ${verdict(!best || btOod === null ? null : best.v! > btOod + 0.02)}.`,
  );
  const gains = ['STaR-SFT', 'STaR-DPO', 'STaR-Rationalizer']
    .map((m) => {
      const a = get(m, OOD),
        b = get(`${m} + vote@${voteK}`, OOD);
      return a === null || b === null ? null : b - a;
    })
    .filter((x): x is number => x !== null);
  const mean = gains.length ? gains.reduce((a, b) => a + b, 0) / gains.length : null;
  out.push(
    `Voting over ${voteK} samples adds a little out of distribution: mean change ${mean === null ? '-' : `${(100 * mean).toFixed(1)} points`}: ${verdict(mean === null ? null : mean > 0)}.`,
  );
  return out;
}

/** The data behind the STaR and Bradley-Terry charts, from the seeds' own runs. */
export function chartData(seeds: readonly SeedResult[], summary: readonly Summary[]) {
  const zero = summary.find((s) => s.method === 'Zero-shot CoT');
  // The iterations the runs have (the preset says how many), not a fixed list.
  const iterations = [...new Set(seeds.flatMap((s) => s.curves.map((c) => c.iteration)))].sort((a, b) => a - b);
  const curve = (pick: 'id' | 'ood') =>
    ['sft', 'dpo', 'rationalizer'].flatMap((mode) => {
      const points = iterations
        .map((it) => {
          const vals = seeds
            .map((s) => s.curves.find((c) => c.mode === mode && c.iteration === it))
            .filter((c) => c !== undefined)
            .map((c) => c[pick]);
          const st = stats(vals);
          return st.mean === null ? null : { x: it, series: `STaR-${mode}`, value: st.mean };
        })
        .filter((p) => p !== null);
      const start = zero?.mean[pick === 'id' ? 'In distribution' : 'OOD overall'];
      return [
        ...(start === null || start === undefined ? [] : [{ x: 0, series: `STaR-${mode}`, value: start }]),
        ...points,
      ];
    });
  const keep = ['sft', 'dpo', 'rationalizer'].flatMap((mode) =>
    iterations.flatMap((it) => {
      const cs = seeds
        .map((s) => s.curves.find((c) => c.mode === mode && c.iteration === it))
        .filter((c) => c !== undefined);
      if (!cs.length) return [];
      const k = stats(cs.map((c) => c.keepRate)).mean!;
      const f = stats(cs.map((c) => c.faithful)).mean;
      return [
        { x: it, series: `${mode}: kept`, value: k },
        ...(f === null ? [] : [{ x: it, series: `${mode}: faithful`, value: f }]),
      ];
    }),
  );
  // A split no seed measured is left out, not drawn as 0%.
  const splits = [...new Set(seeds.flatMap((s) => s.btSurface.map((b) => b.split)))];
  const btSurface = splits.flatMap((split) => {
    const mean = stats(seeds.map((s) => s.btSurface.find((b) => b.split === split)?.accuracy ?? null)).mean;
    return mean === null ? [] : [{ group: split, series: 'Bradley-Terry', value: mean }];
  });
  return { inDistribution: curve('id'), ood: curve('ood'), keep, btSurface };
}

export async function writeDemoReport(
  dir: string,
  preset: DemoPreset,
  seeds: readonly SeedResult[],
  extra: { totalSeconds: number; machine: string },
): Promise<{ markdown: string; summary: Summary[] }> {
  const summary = summarize(seeds);
  const ceiling = seeds[0]!.ceiling;
  const table = summaryTable(summary, seeds.length);
  const charts: Record<string, string> = {};
  charts['accuracy-by-method'] = await barChartSvg({
    title: `Accuracy by method and section (mean of ${seeds.length} seed${seeds.length > 1 ? 's' : ''})`,
    data: summary.flatMap((s) =>
      COLUMNS.filter((c) => s.mean[c] !== null).map((c) => ({
        group: s.method,
        series: c,
        value: s.mean[c]!,
        ...(seeds.length > 1 ? { low: s.mean[c]! - s.spread[c]!, high: s.mean[c]! + s.spread[c]! } : {}),
      })),
    ),
    yTitle: 'accuracy',
    yDomain: [0, 1],
    seriesTitle: 'evaluation',
  });
  const data = chartData(seeds, summary);
  charts['star-iterations-in-distribution'] = await lineChartSvg({
    title: 'STaR: in-distribution accuracy by iteration (0 = zero-shot CoT)',
    data: data.inDistribution,
    xTitle: 'iteration',
    yTitle: 'accuracy',
    yDomain: [0, 1],
  });
  charts['star-iterations-ood'] = await lineChartSvg({
    title: 'STaR: out-of-distribution accuracy by iteration (0 = zero-shot CoT)',
    data: data.ood,
    xTitle: 'iteration',
    yTitle: 'accuracy',
    yDomain: [0, 1],
  });
  charts['star-keep-rate'] = await lineChartSvg({
    title: 'STaR: share of rationales kept; share of the kept ones whose checks and verdict are true',
    data: data.keep,
    xTitle: 'iteration',
    yTitle: 'fraction',
    yDomain: [0, 1],
  });
  charts['bt-surface-feature'] = await barChartSvg({
    title: 'Bradley-Terry, held-out pairs: accuracy by whether the surface feature points to the label',
    data: data.btSurface,
    yTitle: 'accuracy',
    yDomain: [0, 1],
  });
  const timing = Object.entries(seeds[0]!.seconds)
    .map(([k, v]) => `${k} ${v.toFixed(0)} s`)
    .join(', ');
  const markdown = [
    `# genrm demo: generative judges vs Bradley-Terry on the built-in world`,
    '',
    `${seeds.length} seed${seeds.length > 1 ? 's' : ''} (${seeds.map((s) => s.seed).join(', ')}), preset ${preset.name}; ${extra.machine}; ${extra.totalSeconds.toFixed(0)} s in all.`,
    '',
    `Accuracy (%)${seeds.length > 1 ? ', mean ± standard deviation over seeds' : ''}. In distribution: held-out pairs like the training pairs, labels with ${(100 * (1 - ceiling)).toFixed(0)}% noise, so the ceiling is about ${(100 * ceiling).toFixed(0)}%. Out of distribution: four RewardBench-like sections, clean labels; OOD overall is their plain mean.`,
    '',
    table,
    '',
    '## Against the paper',
    '',
    ...findings(summary, preset.voteK).map((f) => `- ${f}`),
    '',
    `Single-sample CoT rows use the first of ${preset.voteK} sampled rationales; "+ vote@${preset.voteK}" rows take their majority (ties 0.5). Pairs without a verdict score 0.5.`,
    '',
    `The base model's own checks (greedy, ${seeds[0]!.baseChecks.count} answers to questions drawn independently of its corpus; seed ${seeds[0]!.seed}): the judgement is right ${(100 * seeds[0]!.baseChecks.judgement).toFixed(1)}% of the time (${Object.entries(
      seeds[0]!.baseChecks.byFamily,
    )
      .map(([f, v]) => `${f} ${(100 * v.judgement).toFixed(0)}%`)
      .join(
        ', ',
      )}), the worked solution reaches the right answer ${(100 * seeds[0]!.baseChecks.solve).toFixed(1)}% (${Object.entries(
      seeds[0]!.baseChecks.byFamily,
    )
      .map(([f, v]) => `${f} ${(100 * v.solve).toFixed(0)}%`)
      .join(
        ', ',
      )}), the reply's answer is quoted right ${(100 * seeds[0]!.baseChecks.quote).toFixed(1)}%, the whole check matches the reference ${(100 * seeds[0]!.baseChecks.exact).toFixed(1)}%. A judge that reasons can only be as good as these checks.`,
    '',
    `Bradley-Terry on held-out pairs by surface feature: ${seeds[0]!.btSurface.map((b) => `${b.split}: ${(100 * b.accuracy).toFixed(1)}% of ${b.count}`).join('; ')} (seed ${seeds[0]!.seed}).`,
    '',
    `Time per stage (seed ${seeds[0]!.seed}): ${timing}.`,
  ].join('\n');
  await writeReport(dir, { json: { preset, seeds, summary, ...extra }, markdown, charts });
  return { markdown, summary };
}
