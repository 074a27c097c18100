// The demo as a function: every seed's experiment, then the report.
import { cpus } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { info } from '../info.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { DEFAULT_PRESET, QUICK_PRESET, presetForBudget, type DemoPreset } from './presets.js';
import { writeDemoReport, type Summary } from './report.js';
import { runSeed, type DemoHooks, type SeedResult } from './run.js';

export { DEFAULT_PRESET, QUICK_PRESET, presetForBudget, type DemoPreset } from './presets.js';
export type { DemoEvent, DemoHooks, MethodScore, SeedResult, StarCurve } from './run.js';
export type { Summary } from './report.js';
export { probeChecks, type CheckProbe } from './probe.js';

export interface DemoOptions extends DemoHooks {
  /** Where runs/<timestamp>/ folders go. Default 'runs'. */
  runsDir?: string;
  /** Base models are cached here. Default '<runsDir>/cache'. */
  cacheDir?: string;
  quick?: boolean;
  /** Scale the default preset to this many minutes (not with quick). */
  budgetMinutes?: number;
  /** Seeds to run: first, first + 1, ... Default 1 seed from 1. */
  seeds?: number;
  firstSeed?: number;
  /** A preset of your own (for experiments); excludes quick and budgetMinutes. */
  preset?: DemoPreset;
}

export interface DemoResult {
  dir: string;
  seeds: SeedResult[];
  summary: Summary[];
  markdown: string;
}

export function demoPreset(o: Pick<DemoOptions, 'quick' | 'budgetMinutes' | 'preset'>): DemoPreset {
  if (o.quick && o.budgetMinutes !== undefined)
    throw new RangeError('quick and budget exclude each other: --quick is its own small preset');
  if (o.preset) {
    if (o.quick || o.budgetMinutes !== undefined) throw new RangeError('preset excludes quick and budget');
    return o.preset;
  }
  return o.quick ? QUICK_PRESET : o.budgetMinutes !== undefined ? presetForBudget(o.budgetMinutes) : DEFAULT_PRESET;
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const preset = demoPreset(o);
  const n = o.seeds ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new RangeError(`seeds: expected an integer from 1 to 100, got ${n}`);
  const first = o.firstSeed ?? 1;
  const runs = o.runsDir ?? 'runs';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(runs, stamp);
  await mkdir(dir, { recursive: true });
  const started = performance.now();
  const seeds: SeedResult[] = [];
  for (let s = first; s < first + n; s++) {
    const r = await runSeed(s, preset, { out: dir, cache: o.cacheDir ?? join(runs, 'cache') }, o);
    // Each seed's numbers on disk as soon as they exist: a long multi-seed run that stops keeps them.
    await writeFileAtomic(
      join(dir, `seed-${s}`, 'result.json'),
      new TextEncoder().encode(JSON.stringify(r, null, 1) + '\n'),
    );
    seeds.push(r);
  }
  const e = info();
  const machine = `${e.cpu.brand.trim()}, ${e.threads} threads of ${cpus().length} CPUs, ${e.cpu.isa} kernels`;
  const { markdown, summary } = await writeDemoReport(dir, preset, seeds, {
    totalSeconds: (performance.now() - started) / 1000,
    machine,
  });
  return { dir, seeds, summary, markdown };
}
