// `genrm eval` (judge files of pairs and score them: RewardBench's sections when
// the subsets are RewardBench's or a benchmark file is given, else accuracy)
// and `genrm judge` (one pair from the command line, rationale and verdict).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { RATIONALE_SAMPLING_DEFAULTS } from '../defaults.js';
import {
  REWARDBENCH,
  accuracy,
  benchmarkFromCounts,
  benchmarkTable,
  scoreBenchmark,
  scoreToMarkdown,
  validateBenchmark,
  wilsonInterval,
  type Benchmark,
  type BenchmarkScore,
} from '../eval/index.js';
import { evaluateJudge, JUDGE_KINDS, type JudgeKind, type Judged } from '../genrm/jobs.js';
import { judgeDirect } from '../genrm/judge.js';
import { templateByName } from '../genrm/prompt.js';
import { sampleRationales } from '../genrm/rationales.js';
import { loadLanguageModel } from '../model/language-model.js';
import { barChartSvg, writeReport } from '../report/index.js';
import { readPairs, type DataFlags } from './data.js';
import { addDataOptions, addSamplingOptions, addTemplateOption, integer, number, positiveInt } from './options.js';
import { interruptSignal, progressBar } from './progress.js';

const log = (line: string) => process.stderr.write(line + '\n');

async function loadBenchmark(spec: string): Promise<Benchmark> {
  if (spec === 'rewardbench') return REWARDBENCH;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(spec, 'utf8'));
  } catch (e) {
    throw new Error(`--benchmark ${spec}: ${(e as Error).message}`);
  }
  // A built-in world's world.json lists its sections' subsets with their row counts.
  const world = parsed as { format?: string; sections?: Record<string, Record<string, number>> };
  if (world.format === 'genrm-world' && world.sections) {
    const sections = Object.fromEntries(
      Object.entries(world.sections).map(([name, subsets]) => [name, Object.keys(subsets)]),
    );
    return benchmarkFromCounts(spec, sections, Object.assign({}, ...Object.values(world.sections)));
  }
  const bench = parsed as Benchmark;
  try {
    validateBenchmark(bench);
  } catch (e) {
    throw new Error(`--benchmark ${spec}: ${(e as Error).message}`);
  }
  return bench;
}

interface FileResult {
  file: string;
  judged: Judged;
  accuracy: { accuracy: number; count: number; ties: number; low: number; high: number };
  benchmark?: BenchmarkScore;
}

type EvalFlags = DataFlags & {
  data: string[];
  model: string;
  judge: JudgeKind;
  template: string;
  benchmark?: string;
  out?: string;
  json?: boolean;
  seed: number;
  k: number;
  temperature: number;
  topP: number;
  maxNewTokens: number;
  maxBatch: number;
  positions?: 'random' | 'both';
};

export function registerEvalCommands(program: Command): void {
  const e = program
    .command('eval')
    .description(
      'judge preference pairs and score them: accuracy, and for RewardBench (or --benchmark) its per-subset, per-section and overall scores',
    )
    .requiredOption('--model <dir>', 'checkpoint to judge with (bt and pairwise need a reward model from train-bt)')
    .addOption(
      new Option(
        '--judge <kind>',
        'direct: p([[A]]) vs p([[B]]); cot: k sampled rationales, majority vote; bt / pairwise: reward models',
      )
        .choices([...JUDGE_KINDS])
        .default('direct'),
    )
    .option(
      '--benchmark <spec>',
      '"rewardbench", or a JSON file of sections and subset weights (a world.json works); default: rewardbench when the subsets are RewardBench\'s',
    )
    .option('--out <dir>', 'write report.json, report.md, judgements.jsonl and charts here')
    .option('--json', 'print the results as JSON instead of markdown')
    .option('--seed <n>', 'seed of position draws and sampling', integer, 0);
  addSamplingOptions(addTemplateOption(addDataOptions(e, 'preference files to judge (JSON Lines or Parquet)')), 8);
  e.action(async (f: EvalFlags) => {
    // A bad benchmark file fails before any judging.
    const given = f.benchmark ? await loadBenchmark(f.benchmark) : undefined;
    const lm = await loadLanguageModel(f.model);
    const { signal, release } = interruptSignal('stopping');
    try {
      const results: FileResult[] = [];
      for (const file of f.data) {
        const pairs = await readPairs([file], f, log);
        const bar = progressBar('judge', 'pairs');
        let judged: Judged;
        try {
          judged = await evaluateJudge(lm, pairs, {
            kind: f.judge,
            template: templateByName(f.template),
            positions: f.positions,
            seed: f.seed,
            signal,
            sampling: {
              k: f.k,
              temperature: f.temperature,
              topP: f.topP,
              maxNewTokens: f.maxNewTokens,
              maxBatch: f.maxBatch,
            },
            onProgress: (p) => bar.update(Math.round(p.done), p.total),
          });
        } finally {
          bar.stop();
        }
        if (judged.skipped.length)
          log(
            `${file}: ${judged.skipped.length} pairs skipped, e.g. ${judged.skipped[0]!.id}: ${judged.skipped[0]!.reason}`,
          );
        const acc = accuracy(judged.judgements);
        if (acc.count === 0) {
          log(`${file}: no pair was judged (${pairs.length} read, ${judged.skipped.length} skipped); nothing to score`);
          results.push({ file, judged, accuracy: { ...acc, low: NaN, high: NaN } });
          continue;
        }
        const ci = wilsonInterval(acc.accuracy, acc.count);
        const subsets = new Set(judged.judgements.map((j) => j.subset).filter((s): s is string => s !== undefined));
        const rbKnown = Object.values(REWARDBENCH.sections).some((s) => [...subsets].some((x) => x in s.subsets));
        const bench = given ?? (rbKnown ? REWARDBENCH : undefined);
        results.push({
          file,
          judged,
          accuracy: { ...acc, low: ci.low, high: ci.high },
          ...(bench ? { benchmark: scoreBenchmark(judged.judgements, bench) } : {}),
        });
      }
      const md = results
        .map((r) => {
          if (r.accuracy.count === 0) return `## ${r.file}\n\nno pair judged (${r.judged.skipped.length} skipped)\n`;
          let s =
            `## ${r.file}\n\njudge: ${f.judge}; positions: ${r.judged.positions ?? 'n/a'}\n\naccuracy ${(100 * r.accuracy.accuracy).toFixed(2)}% ` +
            `(95% CI ${(100 * r.accuracy.low).toFixed(1)}-${(100 * r.accuracy.high).toFixed(1)}) over ${r.accuracy.count} pairs; ${r.accuracy.ties} scored 0.5 (no verdict or tie)` +
            (r.judged.noVerdict
              ? `; ${r.judged.noVerdict.samples} of ${r.judged.noVerdict.of} samples gave no verdict`
              : '') +
            (r.judged.skipped.length ? `; ${r.judged.skipped.length} pairs skipped (too long)` : '') +
            '\n';
          if (r.benchmark) s += `\n${scoreToMarkdown(r.benchmark)}\n`;
          return s;
        })
        .join('\n');
      const json = results.map((r) => ({
        file: r.file,
        judge: f.judge,
        positions: r.judged.positions,
        accuracy: r.accuracy,
        noVerdict: r.judged.noVerdict,
        skipped: r.judged.skipped,
        benchmark: r.benchmark,
      }));
      process.stdout.write(f.json ? JSON.stringify(json, null, 1) + '\n' : md);
      if (f.out) {
        const charts: Record<string, string> = {};
        for (const [i, r] of results.entries()) {
          if (!r.benchmark) continue;
          const data = Object.entries(r.benchmark.sections)
            .filter(([, s]) => s.score !== null)
            .map(([group, s]) => ({ group, series: f.judge, value: s.score! }));
          charts[`sections-${i + 1}`] = await barChartSvg({
            title: `${r.file}: accuracy by section`,
            data,
            yTitle: 'accuracy',
            yDomain: [0, 1],
          });
        }
        const rows = results.flatMap((r) => r.judged.judgements.map((j) => JSON.stringify({ file: r.file, ...j })));
        await writeReport(f.out, {
          json,
          markdown:
            md +
            (results.some((r) => r.benchmark)
              ? `\n${benchmarkTable(results.filter((r) => r.benchmark).map((r) => ({ method: `${f.judge} ${r.file}`, score: r.benchmark! })))}\n`
              : ''),
          charts,
        });
        const { writeFileAtomic } = await import('../util/atomic-write.js');
        await writeFileAtomic(join(f.out, 'judgements.jsonl'), new TextEncoder().encode(rows.join('\n') + '\n'));
        log(`report written to ${f.out}`);
      }
    } finally {
      release();
      lm.model.dispose();
    }
  });

  const j = program
    .command('judge')
    .description(
      'judge one pair from the command line: print each sampled rationale and the verdict (or, with --direct, p([[A]]) and p([[B]]))',
    )
    .requiredOption('--model <dir>', 'judge checkpoint (config.json, model.safetensors, tokenizer.json)')
    .requiredOption('--question <text>', 'the user question')
    .requiredOption('--a <text>', "assistant A's answer")
    .requiredOption('--b <text>', "assistant B's answer")
    .option('--direct', 'no sampling: compare the probabilities of [[A]] and [[B]], averaged over both orders')
    .option('--seed <n>', 'sampling seed', integer, 0)
    .option('--k <n>', 'rationales to sample (for the order given)', positiveInt, 1)
    .option('--temperature <t>', 'sampling temperature', number, RATIONALE_SAMPLING_DEFAULTS.temperature)
    .option('--top-p <p>', 'nucleus sampling threshold', number, RATIONALE_SAMPLING_DEFAULTS.topP)
    .option('--max-new-tokens <n>', 'longest rationale', positiveInt, RATIONALE_SAMPLING_DEFAULTS.maxNewTokens);
  addTemplateOption(j);
  j.action(
    async (f: {
      model: string;
      question: string;
      a: string;
      b: string;
      direct?: boolean;
      seed: number;
      template: string;
      k: number;
      temperature: number;
      topP: number;
      maxNewTokens: number;
    }) => {
      const lm = await loadLanguageModel(f.model);
      try {
        const ctx = { ...lm, template: templateByName(f.template) };
        // Labelled as if A were the chosen answer, so "agrees" reads as "prefers A".
        const pair = {
          id: 'cli',
          prompt: [{ role: 'user' as const, content: f.question }],
          chosen: f.a,
          rejected: f.b,
        };
        if (f.direct) {
          const { judgements, skipped } = await judgeDirect(ctx, [pair], { positions: 'both' });
          if (skipped.length) throw new Error(skipped[0]!.reason);
          // Summed over both orders; half of it is the mean log-odds of preferring A.
          const m = judgements[0]!.margin / 2;
          const pA = 1 / (1 + Math.exp(-m));
          process.stdout.write(
            `mean over both orders of log p(verdict for A) - log p(verdict for B) = ${m.toFixed(4)}; p(A | A or B) = ${pA.toFixed(4)}\nverdict: ${m > 0 ? '[[A]]' : m < 0 ? '[[B]]' : 'tie'}\n`,
          );
          return;
        }
        const { results, skipped } = await sampleRationales(ctx, [pair], {
          k: f.k,
          temperature: f.temperature,
          topP: f.topP,
          maxNewTokens: f.maxNewTokens,
          seed: f.seed,
          positions: 'given',
        });
        if (skipped.length) throw new Error(skipped[0]!.reason);
        const given = results[0]!.samples;
        let a = 0,
          b = 0;
        given.forEach((s, i) => {
          process.stdout.write(
            `--- rationale ${i + 1} (${s.finishReason}) ---\n${s.text}\nverdict: ${s.verdict ? `[[${s.verdict}]]` : 'none'}\n`,
          );
          if (s.verdict === 'A') a++;
          else if (s.verdict === 'B') b++;
        });
        process.stdout.write(
          `\nverdict: ${a > b ? '[[A]]' : b > a ? '[[B]]' : 'tie'} (${a} for A, ${b} for B, ${given.length - a - b} without a verdict)\n`,
        );
      } finally {
        lm.model.dispose();
      }
    },
  );
}
