// Timing for benchmarks: warm up, then repeat until both a minimum count and a
// minimum time are reached, and report the median (robust on shared machines).
import { native, type Isa } from '../lib/native.js';
import { rng } from '../lib/util/random.js';

export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
}

export interface TimeOptions {
  warmup?: number;
  minRuns?: number;
  minMs?: number;
  maxRuns?: number;
}

export function time(fn: () => void, options: TimeOptions = {}): Timing {
  const { warmup = 2, minRuns = 5, minMs = 300, maxRuns = 1000 } = options;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxRuns && (samples.length < minRuns || performance.now() - start < minMs)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const medianMs = samples.length % 2 ? samples[mid]! : (samples[mid - 1]! + samples[mid]!) / 2;
  return { medianMs, minMs: samples[0]!, runs: samples.length };
}

/** One row of `genrm bench --json`. */
export interface BenchResult {
  name: string;
  shape: string;
  medianMs: number;
  gflops?: number;
  /** What ratio compares against, e.g. "openblas". */
  baseline?: string;
  /** This result's speed over the baseline's (> 1 is faster), measured in the same run. */
  ratio?: number;
  [extra: string]: unknown;
}

export function randomArray(n: number, seed: number): Float32Array {
  // Uniform in [-1, 1) from the library's seeded generator.
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * next() - 1);
}

/**
 * The FMA peak of `isa` on every engine thread (GFLOP/s): the best of five short
 * measurements, since a peak is a maximum and a shared machine only ever takes
 * from it.
 */
export function measuredPeak(isa: Isa): number {
  const b = native().binding;
  let best = 0;
  for (let i = 0; i < 5; i++) best = Math.max(best, b.bench.fmaPeak({ isa, seconds: 0.1 }));
  return best;
}
