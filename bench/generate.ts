// Generation throughput with the key/value cache: decode tokens/s at batch 1 and
// 64 for the ~1M and ~5M Llama configs, and what a shared prompt costs: 32
// samples of 64 new tokens from one 256-token prompt against the decoding alone
// and against prefilling the prompt 32 times. Then what the sampling filter
// costs with a realistic vocabulary (32,000): top-p, which orders the whole
// vocabulary at every draw, against greedy decoding of the same model.
import { Model } from '../lib/model/model.js';
import type { BenchResult, TimeOptions } from './harness.js';
import { runTorch } from './torch.js';
import { native } from '../lib/native.js';

const CONFIGS = [
  {
    label: 'llama d128 L4',
    vocab_size: 256,
    hidden_size: 128,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 344,
  },
  {
    label: 'llama d256 L6',
    vocab_size: 512,
    hidden_size: 256,
    num_hidden_layers: 6,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    intermediate_size: 688,
  },
];
const PROMPT = 256,
  NEW = 64;

async function median(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1]!;
}

export async function benchGenerate(
  timing: TimeOptions,
  log: (line: string) => void,
  quick: boolean,
): Promise<BenchResult[]> {
  const runs = quick ? 1 : Math.max(3, timing.minRuns ?? 3);
  const threads = native().binding.info().threads;
  const results: BenchResult[] = [];
  for (const { label, ...config } of CONFIGS) {
    const torchShape = {
      vocab: config.vocab_size,
      hidden: config.hidden_size,
      layers: config.num_hidden_layers,
      heads: config.num_attention_heads,
      kv_heads: config.num_key_value_heads,
      ff: config.intermediate_size,
      prompt: PROMPT,
      new: NEW,
    };
    const torch = quick
      ? undefined
      : runTorch({ threads, generate: [1, 64].map((batch) => ({ ...torchShape, batch })), min_seconds: 2 }, log);
    const model = Model.create({ ...config, max_position_embeddings: 512 }, { seed: 1 });
    const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 37 + 11) % config.vocab_size);
    const gen = (n: number, maxNewTokens: number, copies = 1) =>
      model.generate(
        Array.from({ length: copies }, (_, i) => ({ ids: prompt, n, seed: i })),
        { maxNewTokens, temperature: 1 },
      );
    for (const batch of [1, 64]) {
      const full = await median(() => gen(batch, NEW), runs);
      const first = await median(() => gen(batch, 1), runs); // prefill + the first token
      const decodeMs = full - first;
      const tokensPerS = (batch * (NEW - 1)) / (decodeMs / 1000);
      const t = torch?.generate.find((x) => x.batch === batch);
      const r: BenchResult = {
        name: 'decode',
        shape: `${label} batch ${batch} prompt ${PROMPT} +${NEW}`,
        medianMs: decodeMs,
        tokensPerS,
      };
      if (t) {
        results.push({
          name: 'decode_torch',
          shape: r.shape,
          medianMs: t.decode_ms,
          tokensPerS: t.tokens_per_s,
          torch: torch!.torch,
        });
        r.baseline = 'torch';
        r.ratio = tokensPerS / t.tokens_per_s;
      }
      results.push(r);
      log(
        `${label.padEnd(14)} decode batch ${String(batch).padStart(2)}: ${tokensPerS.toFixed(0).padStart(7)} tokens/s (${decodeMs.toFixed(0)} ms for ${NEW - 1} steps; prefill + first token ${first.toFixed(0)} ms)` +
          (t
            ? `  torch ${t.tokens_per_s.toFixed(0)} tokens/s, ratio ${(tokensPerS / t.tokens_per_s).toFixed(1)}x`
            : ''),
      );
    }
    const shared = await median(() => gen(32, NEW), runs);
    const prefillOnce = await median(() => gen(1, 1), runs);
    const separate = await median(() => gen(1, NEW, 32), runs);
    const ratio = shared / (shared - prefillOnce);
    results.push({
      name: 'shared_prefix',
      shape: `${label} 32 x +${NEW} from one ${PROMPT}-token prompt`,
      medianMs: shared,
      ratioToDecodingAlone: ratio,
      separatePrefillsMs: separate,
    });
    log(
      `${label.padEnd(14)} 32 samples from one prompt: ${shared.toFixed(0)} ms = ${ratio.toFixed(2)}x the decoding alone; with 32 separate prefills ${separate.toFixed(0)} ms`,
    );
    model.dispose();
  }
  const big = Model.create(
    {
      vocab_size: 32000,
      hidden_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 344,
      max_position_embeddings: 512,
    },
    { seed: 1 },
  );
  const prompts = Array.from({ length: 64 }, (_, i) => ({ ids: [1, 2, 3, (i * 7) % 100], seed: i }));
  const greedy = await median(() => big.generate(prompts, { maxNewTokens: 32, temperature: 0 }), runs);
  const topP = await median(() => big.generate(prompts, { maxNewTokens: 32, temperature: 1, topP: 0.95 }), runs);
  big.dispose();
  results.push({
    name: 'sampling',
    shape: 'd128 L2 vocab 32000 batch 64 +32: top-p 0.95 vs greedy',
    medianMs: topP,
    greedyMs: greedy,
    tokensPerS: (64 * 32) / (topP / 1000),
    ratioToGreedy: topP / greedy,
  });
  log(
    `sampling, vocab 32000, batch 64: top-p 0.95 ${topP.toFixed(0)} ms, greedy ${greedy.toFixed(0)} ms (${(topP / greedy).toFixed(2)}x)`,
  );
  return results;
}
