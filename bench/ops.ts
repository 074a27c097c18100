// Every CPU path of every op in the engine's table of ops (native/ops/table.h),
// timed at the op's bench shape: GFLOP/s for products, GB/s for memory-bound
// ops. CUDA paths are left to bench/gpu: through this table each call would
// also copy its tensors to the device and back.
import { ops, prepareOp } from '../lib/kernels.js';
import { time, type BenchResult, type TimeOptions } from './harness.js';

export function benchOps(timing: TimeOptions, log: (line: string) => void): BenchResult[] {
  const results: BenchResult[] = [];
  for (const op of ops()) {
    for (const path of op.paths) {
      if (path.backend !== 'cpu' || !path.available) continue;
      const prepared = prepareOp({ op: op.name, path: path.name });
      const ms = time(() => prepared.run(), timing).medianMs;
      const r: BenchResult = { name: `${op.name} ${path.name}`, shape: prepared.shape, medianMs: ms };
      let rate: string;
      if (prepared.flops > 0) {
        r.gflops = prepared.flops / ms / 1e6;
        rate = `${r.gflops.toFixed(1).padStart(7)} GFLOP/s`;
      } else {
        r.gbps = prepared.bytes / ms / 1e6;
        rate = `${(r.gbps as number).toFixed(1).padStart(7)} GB/s`;
      }
      results.push(r);
      log(
        `${op.name.padEnd(20)} ${path.name.padEnd(22)} ${prepared.shape.padEnd(38)} ${ms.toFixed(3).padStart(9)} ms ${rate}`,
      );
    }
  }
  return results;
}
