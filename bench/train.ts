// Training throughput of Llama-style models: one trainStep (SFT over every
// position, AdamW) per timed run, against the same model in PyTorch timed in the
// same run. Configs are those of the reference measurements the targets were set from.
import { Model } from '../lib/model/model.js';
import { packSequences } from '../lib/model/batch.js';
import { native } from '../lib/native.js';
import { measuredPeak, type BenchResult, type TimeOptions } from './harness.js';
import { runTorch, type TrainConfig } from './torch.js';

const CONFIGS: Array<TrainConfig & { label: string; heavy?: boolean }> = [
  { label: 'llama d128 L4', vocab: 256, hidden: 128, layers: 4, heads: 4, kv_heads: 2, ff: 344, T: 256, B: 8 },
  { label: 'llama d256 L6', vocab: 512, hidden: 256, layers: 6, heads: 8, kv_heads: 4, ff: 688, T: 256, B: 8 },
  {
    label: 'llama d512 L8 V32000',
    vocab: 32000,
    hidden: 512,
    layers: 8,
    heads: 8,
    kv_heads: 4,
    ff: 1376,
    T: 256,
    B: 4,
    heavy: true,
  },
];

export async function benchTrain(
  timing: TimeOptions,
  log: (line: string) => void,
  quick: boolean,
): Promise<BenchResult[]> {
  const b = native().binding;
  const threads = b.info().threads;
  const configs = CONFIGS.filter((c) => !quick || !c.heavy);
  const isa = b.info().cpu.isa;
  const peak = measuredPeak(isa);
  const results: BenchResult[] = [];
  for (const c of configs) {
    // PyTorch right before genrm on the same config: the machine is shared, and
    // adjacent runs see the most similar load.
    const { label: _label, heavy: _heavy, ...torchConfig } = c;
    // The same number of timed steps on both sides (7 in a full run): PyTorch used
    // to stop at its own default of 3 (a 56M-parameter step takes ~6 s), and the
    // median of 3 moved the ratio by 20-40% between runs.
    const minRuns = Math.max(quick ? 1 : 5, timing.minRuns ?? 3);
    const torch = runTorch({ threads, train: [torchConfig], min_seconds: quick ? 0.5 : 3, min_runs: minRuns }, log);
    const model = Model.create({
      vocab_size: c.vocab,
      hidden_size: c.hidden,
      num_hidden_layers: c.layers,
      num_attention_heads: c.heads,
      num_key_value_heads: c.kv_heads,
      intermediate_size: c.ff,
      max_position_embeddings: c.T,
      rms_norm_eps: 1e-5,
    });
    let seed = 1;
    const batch = packSequences(
      Array.from({ length: c.B }, () => ({
        ids: Array.from({ length: c.T }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % c.vocab),
        promptLength: 1,
      })),
    );
    const step = async () => {
      await model.trainStep({ type: 'sft' }, batch, { lr: 1e-4 });
    };
    await step();
    await step();
    const samples: number[] = [];
    const start = performance.now();
    while (samples.length < minRuns || performance.now() - start < (timing.minMs ?? 3000)) {
      const t0 = performance.now();
      await step();
      samples.push(performance.now() - t0);
    }
    samples.sort((x, y) => x - y);
    const ms = samples[samples.length >> 1]!;
    const params = model.numParameters;
    model.dispose();
    // llm.c's convention: 6 N FLOPs per token plus attention's 6 L d T.
    const gflops = ((6 * params + 6 * c.layers * c.hidden * c.T) * c.B * c.T) / ms / 1e6;
    const tokensPerS = (c.B * c.T) / (ms / 1000);
    const shape = `V${c.vocab} d${c.hidden} L${c.layers} H${c.heads}/${c.kv_heads} ff${c.ff} T${c.T} B${c.B}`;
    const t = torch?.train.find((x) => x.hidden === c.hidden && x.vocab === c.vocab);
    const r: BenchResult = {
      name: 'train_step',
      shape,
      medianMs: ms,
      gflops,
      tokensPerS,
      params,
      isa,
      peakFraction: gflops / peak,
    };
    if (t) {
      results.push({
        name: 'train_step_torch',
        shape,
        medianMs: t.median_ms,
        tokensPerS: t.tokens_per_s,
        torch: torch!.torch,
      });
      r.baseline = 'torch';
      r.ratio = t.median_ms / ms;
    }
    results.push(r);
    log(
      `${c.label.padEnd(22)} ${(params / 1e6).toFixed(2)}M params ${ms.toFixed(0).padStart(6)} ms/step ${tokensPerS.toFixed(0).padStart(7)} tokens/s ${gflops.toFixed(0).padStart(4)} GFLOP/s (${((100 * gflops) / peak).toFixed(0)}% of ${isa} peak)` +
        (t ? `  torch ${t.tokens_per_s.toFixed(0)} tokens/s, ratio ${(t.median_ms / ms).toFixed(2)}x` : ''),
    );
  }
  return results;
}
