// Causal attention forward+backward at the anchor's shape (B=2, H=8, T=1024,
// D=64), per kernel path, against PyTorch's CPU attention in the same run, and
// the memory the flash kernel needs (linear in T) next to a T x T score matrix.
import { native } from '../lib/native.js';
import { attention, attentionBackward } from '../lib/kernels.js';
import { randomArray, time, type BenchResult, type TimeOptions } from './harness.js';
import { runTorch } from './torch.js';

const SHAPES = [{ B: 2, H: 8, T: 1024, D: 64 }];

export function benchAttention(timing: TimeOptions, log: (line: string) => void, quick: boolean): BenchResult[] {
  const b = native().binding;
  const threads = b.info().threads;
  const results: BenchResult[] = [];
  const torch = runTorch({ threads, attention: SHAPES, min_seconds: quick ? 0.5 : 3 }, log);
  for (const s of SHAPES) {
    const n = s.B * s.T;
    const cuSeqlens = Int32Array.from({ length: s.B + 1 }, (_, i) => i * s.T);
    const q = randomArray(n * s.H * s.D, 1),
      k = randomArray(n * s.H * s.D, 2),
      v = randomArray(n * s.H * s.D, 3),
      dout = randomArray(n * s.H * s.D, 4);
    const flop = 3.5 * 4 * s.B * s.H * s.T * s.T * s.D * 0.5; // causal: half the score matrix
    const shape = `B${s.B} H${s.H} T${s.T} D${s.D} causal`;
    const torchMs = torch?.attention.find((x) => x.T === s.T && x.D === s.D)?.median_ms;
    if (torchMs !== undefined)
      results.push({
        name: 'attention_fwdbwd_torch',
        shape,
        medianMs: torchMs,
        gflops: flop / torchMs / 1e6,
        torch: torch!.torch,
      });
    for (const isa of ['avx512', 'avx2', 'portable'] as const) {
      if (!b.info().cpu.supportedIsas.includes(isa)) continue;
      const opts = { cuSeqlens, heads: s.H, headDim: s.D, q, k, v, isa };
      const ms = time(() => {
        const f = attention(opts);
        attentionBackward({ ...opts, dout, out: f.out, lse: f.lse });
      }, timing).medianMs;
      const r: BenchResult = { name: `attention_fwdbwd_${isa}`, shape, medianMs: ms, gflops: flop / ms / 1e6 };
      // Extra memory beyond inputs/outputs: lse and dO.O rows (tokens x heads) plus one tile scratch per thread.
      r.extraBytes = 2 * n * s.H * 4 + threads * (4 * 64 * 256 + 2 * 64 * 64) * 4;
      r.scoreMatrixBytes = s.B * s.H * s.T * s.T * 4;
      if (torchMs !== undefined) {
        r.baseline = 'torch';
        r.ratio = torchMs / ms;
      }
      results.push(r);
      log(
        `${shape.padEnd(26)} ${isa.padEnd(8)} ${ms.toFixed(1).padStart(8)} ms ${(flop / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` +
          (torchMs !== undefined ? `  torch ${torchMs.toFixed(1)} ms, ratio ${(torchMs / ms).toFixed(1)}x` : '') +
          `  extra memory ${(Number(r.extraBytes) / 2 ** 20).toFixed(1)} MiB (a T x T score matrix would be ${(Number(r.scoreMatrixBytes) / 2 ** 20).toFixed(0)} MiB)`,
      );
    }
  }
  return results;
}
