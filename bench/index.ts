// `genrm bench`: runs the benchmark suites, prints a table, optionally writes JSON.
import { writeFileSync } from 'node:fs';
import { info } from '../lib/info.js';
import { native } from '../lib/native.js';
import { benchAttention } from './attention.js';
import { benchGemm } from './gemm.js';
import { benchGenerate } from './generate.js';
import { benchOps } from './ops.js';
import { benchPublishedTokenizers } from './published-tokenizers.js';
import { benchTokenizer } from './tokenizer.js';
import { benchTrain } from './train.js';
import type { BenchResult, TimeOptions } from './harness.js';

export interface BenchOptions {
  json?: string | boolean;
  filter?: string;
  threads?: number;
  quick?: boolean;
}

type Suite = (
  timing: TimeOptions,
  log: (line: string) => void,
  quick: boolean,
) => BenchResult[] | Promise<BenchResult[]>;

const SUITES: Record<string, Suite> = {
  ops: benchOps,
  gemm: benchGemm,
  attention: benchAttention,
  train: benchTrain,
  tokenizer: benchTokenizer,
  'published-tokenizers': benchPublishedTokenizers,
  generate: benchGenerate,
};

export async function runBench(options: BenchOptions = {}): Promise<BenchResult[]> {
  if (options.threads !== undefined) native().binding.configure({ threads: options.threads });
  const filter = options.filter !== undefined ? new RegExp(options.filter) : undefined;
  const toStdout = options.json === true;
  const log = (line: string) => (toStdout ? process.stderr : process.stdout).write(line + '\n');
  const timing: TimeOptions = options.quick
    ? { warmup: 1, minRuns: 2, minMs: 20 }
    : { warmup: 2, minRuns: 7, minMs: 500 };
  const i = info();
  log(`genrm ${i.version} bench: ${i.cpu.brand}, ${i.threads} threads, backend ${i.backend}`);
  const results: BenchResult[] = [];
  for (const [name, suite] of Object.entries(SUITES)) {
    if (filter && !filter.test(name)) continue;
    log(`\n# ${name}`);
    results.push(...(await suite(timing, log, options.quick ?? false)));
  }
  if (options.json !== undefined && options.json !== false) {
    const doc =
      JSON.stringify(
        { version: i.version, cpu: i.cpu.brand, threads: i.threads, date: new Date().toISOString(), results },
        null,
        2,
      ) + '\n';
    if (toStdout) process.stdout.write(doc);
    else writeFileSync(options.json as string, doc);
  }
  return results;
}
