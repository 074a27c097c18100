// GEMM at the shapes training uses (tokens x hidden projections, both
// backward products) and the 1024^3 anchor, against OpenBLAS when the machine
// has it (same thread count, same run), and as a fraction of the measured FMA peak.
import { native } from '../lib/native.js';
import { gemm } from '../lib/kernels.js';
import { measuredPeak, randomArray, time, type BenchResult, type TimeOptions } from './harness.js';

interface Shape {
  label: string;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
}

// Llama-style blocks at d256/d512 with 2048 tokens per step (B8 x T256): the
// forward x W^T (NT), the input gradient dY W (NN) and the weight gradient dY^T X (TN).
const SHAPES: Shape[] = [
  { label: 'square 1024', m: 1024, n: 1024, k: 1024 },
  { label: 'd256 qkv fwd', m: 2048, n: 768, k: 256, transB: true },
  { label: 'd256 mlp up fwd', m: 2048, n: 1376, k: 256, transB: true },
  { label: 'd256 mlp down dX', m: 2048, n: 688, k: 256 },
  { label: 'd256 mlp down dW', m: 256, n: 688, k: 2048, transA: true },
  { label: 'd512 qkv fwd', m: 2048, n: 1536, k: 512, transB: true },
  { label: 'd512 lm head fwd', m: 512, n: 32000, k: 512, transB: true },
  { label: 'decode batch 8', m: 8, n: 1376, k: 512, transB: true },
];

export function benchGemm(timing: TimeOptions, log: (line: string) => void): BenchResult[] {
  const b = native().binding;
  const results: BenchResult[] = [];
  const threads = b.info().threads;
  const isas = b.info().cpu.supportedIsas.slice().reverse();
  const peaks: Record<string, number> = {};
  for (const isa of isas) {
    peaks[isa] = measuredPeak(isa);
    log(`FMA peak (measured, ${isa}, ${threads} threads): ${peaks[isa]!.toFixed(0)} GFLOP/s`);
    results.push({ name: 'fma_peak', shape: `${isa} x${threads}`, medianMs: 0, gflops: peaks[isa]! });
  }
  const blas = b.bench.openblasInfo();
  if (!blas.available) log(`OpenBLAS comparison skipped: ${blas.reason}`);
  else
    log(
      `OpenBLAS: ${blas.config} (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'}; its kernel choice is fixed when it loads)`,
    );
  for (const s of SHAPES) {
    const a = randomArray(s.m * s.k, 1),
      bm = randomArray(s.k * s.n, 2),
      c = new Float32Array(s.m * s.n);
    const flop = 2 * s.m * s.n * s.k;
    const shape = `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'} m${s.m} n${s.n} k${s.k}`;
    const opts = { m: s.m, n: s.n, k: s.k, a, b: bm, c, transA: s.transA ?? false, transB: s.transB ?? false };
    let blasMs: number | undefined;
    if (blas.available) {
      blasMs = time(() => b.bench.openblasGemm(opts), timing).medianMs;
      results.push({
        name: 'gemm_openblas',
        shape,
        medianMs: blasMs,
        gflops: flop / blasMs / 1e6,
        openblas: blas.config,
      });
    }
    for (const isa of isas) {
      const ms = time(() => gemm({ ...opts, isa }), timing).medianMs;
      const gflops = flop / ms / 1e6,
        peak = peaks[isa]!;
      const r: BenchResult = { name: `gemm_${isa}`, shape, medianMs: ms, gflops, peakFraction: gflops / peak };
      if (blasMs !== undefined) {
        r.baseline = 'openblas';
        r.ratio = blasMs / ms;
      }
      results.push(r);
      log(
        `${s.label.padEnd(18)} ${shape.padEnd(26)} ${isa.padEnd(8)} ${ms.toFixed(3).padStart(9)} ms ${gflops.toFixed(1).padStart(7)} GFLOP/s ${((100 * gflops) / peak).toFixed(0).padStart(3)}% peak` +
          (blasMs !== undefined
            ? `  openblas ${(flop / blasMs / 1e6).toFixed(1)} GFLOP/s, ratio ${(blasMs / ms).toFixed(2)}x`
            : ''),
      );
    }
  }
  return results;
}
