// `genrm eval` (judge files of pairs and score them: RewardBench's sections when
// the subsets are RewardBench's or a benchmark file is given, else accuracy)
// and `genrm judge` (one pair from the command line, rationale and verdict).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import {
  REWARDBENCH,
  accuracy,
  benchmarkFromCounts,
  benchmarkTable,
  protocolMarkdown,
  scoreBenchmark,
  scoreToMarkdown,
  validateBenchmark,
  wilsonInterval,
  type Benchmark,
  type BenchmarkScore,
} from '../eval/index.js';
import { evaluateJudge, JUDGE_KINDS, type JudgeKind, type Judged } from '../genrm/jobs.js';
import { judgeDirect } from '../genrm/judge.js';
import { protocolRecord, resolveProtocol, type MultiTurnRule, type ProtocolName } from '../genrm/protocol.js';
import { templateByName } from '../genrm/prompt.js';
import { sampleRationales } from '../genrm/rationales.js';
import type { VerdictRule } from '../genrm/verdict.js';
import { loadLanguageModel } from '../model/language-model.js';
import { barChartSvg, writeReport } from '../report/index.js';
import type { TieRule } from '../train/bt.js';
import { readPairs, type DataFlags } from './data.js';
import {
  ALL_PROTOCOLS,
  addDataOptions,
  addProtocolOptions,
  addSamplingOptions,
  addTemplateOption,
  integer,
  number,
  positiveInt,
} from './options.js';
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

type ProtocolFlags = {
  protocol?: ProtocolName;
  template?: string;
  k?: number;
  temperature?: number;
  topP?: number;
  maxNewTokens?: number;
  maxBatch: number;
  verdictRule?: VerdictRule;
  multiTurn?: MultiTurnRule;
};

type EvalFlags = DataFlags &
  ProtocolFlags & {
    data: string[];
    model: string;
    judge: JudgeKind;
    benchmark?: string;
    out?: string;
    json?: boolean;
    seed: number;
    positions?: 'random' | 'both';
    ties?: TieRule;
  };

const hasRewardBenchSubsets = (subsets: Iterable<string>) => {
  const all = new Set(subsets);
  return Object.values(REWARDBENCH.sections).some((s) => Object.keys(s.subsets).some((x) => all.has(x)));
};

/** The protocol of one file: the one given, else rewardbench for RewardBench's data, else genrm; and why. */
function pickProtocol(f: EvalFlags, subsets: Iterable<string>): { name: ProtocolName; chosenBy: string } {
  if (f.protocol) return { name: f.protocol, chosenBy: 'given with --protocol' };
  if (f.benchmark === 'rewardbench') return { name: 'rewardbench', chosenBy: 'the default of --benchmark rewardbench' };
  if (!f.benchmark && hasRewardBenchSubsets(subsets))
    return { name: 'rewardbench', chosenBy: "the default for RewardBench's subsets" };
  return { name: 'genrm', chosenBy: 'the default' };
}

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
    .option('--seed <n>', 'seed of position draws and sampling', integer, 0)
    .addOption(
      new Option(
        '--ties <rule>',
        "bt and pairwise: an exact reward tie scores 'strict' 0 (RewardBench) or 'half' 0.5 (default: the protocol's)",
      ).choices(['strict', 'half']),
    );
  addProtocolOptions(
    addSamplingOptions(addTemplateOption(addDataOptions(e, 'preference files to judge (JSON Lines or Parquet)'), true)),
    ALL_PROTOCOLS,
    "how pairs are judged and scored: rewardbench (the official harness), paper (vote@32, the paper's settings), genrm (both orders, last tag); default: rewardbench for --benchmark rewardbench or RewardBench's subsets, else genrm",
  );
  e.action(async (f: EvalFlags) => {
    // A bad benchmark file fails before any judging.
    const given = f.benchmark ? await loadBenchmark(f.benchmark) : undefined;
    const lm = await loadLanguageModel(f.model);
    const { signal, release } = interruptSignal('stopping');
    try {
      const results: FileResult[] = [];
      for (const file of f.data) {
        const pairs = await readPairs([file], f, log);
        const picked = pickProtocol(
          f,
          pairs.map((p) => p.subset).filter((x): x is string => x !== undefined),
        );
        const bar = progressBar('judge', 'pairs');
        let judged: Judged;
        try {
          judged = await evaluateJudge(lm, pairs, {
            kind: f.judge,
            protocol: picked.name,
            protocolChosenBy: picked.chosenBy,
            template: f.template === undefined ? undefined : templateByName(f.template),
            positions: f.positions,
            verdictRule: f.verdictRule,
            multiTurn: f.multiTurn,
            ties: f.ties,
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
        const subsets = judged.judgements.map((j) => j.subset).filter((s): s is string => s !== undefined);
        const bench = given ?? (hasRewardBenchSubsets(subsets) ? REWARDBENCH : undefined);
        results.push({
          file,
          judged,
          accuracy: { ...acc, low: ci.low, high: ci.high },
          ...(bench ? { benchmark: scoreBenchmark(judged.judgements, bench, { protocol: judged.protocol }) } : {}),
        });
      }
      const md = results
        .map((r) => {
          if (r.accuracy.count === 0)
            return `## ${r.file}\n\nno pair judged (${r.judged.skipped.length} skipped)\n\n${protocolMarkdown(r.judged.protocol)}`;
          let s =
            `## ${r.file}\n\njudge: ${f.judge}; protocol: ${r.judged.protocol.name}; positions: ${r.judged.positions ?? 'n/a'}\n\naccuracy ${(100 * r.accuracy.accuracy).toFixed(2)}% ` +
            `(95% CI ${(100 * r.accuracy.low).toFixed(1)}-${(100 * r.accuracy.high).toFixed(1)}) over ${r.accuracy.count} pairs; ${r.accuracy.ties} scored 0.5 (no verdict or tie)` +
            (r.judged.noVerdict
              ? `; ${r.judged.noVerdict.samples} of ${r.judged.noVerdict.of} samples gave no verdict`
              : '') +
            (r.judged.skipped.length ? `; ${r.judged.skipped.length} pairs skipped (see skipped in the JSON)` : '') +
            '\n';
          // A benchmark's table ends with the protocol; otherwise it follows the accuracy.
          s += r.benchmark ? `\n${scoreToMarkdown(r.benchmark)}\n` : `\n${protocolMarkdown(r.judged.protocol)}`;
          return s;
        })
        .join('\n');
      const json = results.map((r) => ({
        file: r.file,
        judge: f.judge,
        protocol: r.judged.protocol,
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
    .option(
      '--direct',
      "no sampling: compare the probabilities of [[A]] and [[B]], in the protocol's answer order (genrm: both orders)",
    )
    .option('--seed <n>', 'sampling seed', integer, 0)
    .option('--k <n>', "rationales to sample (for the order given) (default: the protocol's)", positiveInt)
    .option('--temperature <t>', "sampling temperature; 0 = greedy (default: the protocol's)", number)
    .option('--top-p <p>', "nucleus sampling threshold (default: the protocol's)", number)
    .option('--max-new-tokens <n>', "longest rationale (default: the protocol's)", positiveInt);
  addProtocolOptions(
    addTemplateOption(j, true),
    ALL_PROTOCOLS,
    'settings of the judge: rewardbench, paper or genrm (default genrm)',
  );
  j.action(
    async (
      f: ProtocolFlags & {
        model: string;
        question: string;
        a: string;
        b: string;
        direct?: boolean;
        seed: number;
      },
    ) => {
      const resolved = resolveProtocol(f.protocol ?? 'genrm', {
        template: f.template,
        k: f.k,
        temperature: f.temperature,
        topP: f.topP,
        maxNewTokens: f.maxNewTokens,
        verdictRule: f.verdictRule,
        multiTurn: f.multiTurn,
      });
      const s = resolved.settings;
      const chosenBy = f.protocol ? 'given with --protocol' : 'the default';
      const lm = await loadLanguageModel(f.model);
      try {
        const ctx = { ...lm, template: templateByName(s.template) };
        // Labelled as if A were the chosen answer, so "agrees" reads as "prefers A".
        const pair = {
          id: 'cli',
          prompt: [{ role: 'user' as const, content: f.question }],
          chosen: f.a,
          rejected: f.b,
        };
        if (f.direct) {
          const positions = s.directPositions;
          const { judgements, skipped } = await judgeDirect(ctx, [pair], { positions, seed: f.seed });
          if (skipped.length) throw new Error(skipped[0]!.reason);
          const orders = judgements[0]!.chosenAt;
          // Summed over the orders shown; divided by their number, the mean log-odds of preferring A.
          const m = judgements[0]!.margin / orders.length;
          const pA = 1 / (1 + Math.exp(-m));
          const shown =
            orders.length === 2
              ? 'mean over both orders of'
              : `with the answers shown ${orders[0] === 'A' ? 'as given' : 'swapped'},`;
          process.stdout.write(
            `${shown} log p(verdict for A) - log p(verdict for B) = ${m.toFixed(4)}; p(A | A or B) = ${pA.toFixed(4)}\nverdict: ${m > 0 ? '[[A]]' : m < 0 ? '[[B]]' : 'tie'}\n`,
          );
          process.stdout.write(judgeProtocolLine(protocolRecord(resolved, 'direct', chosenBy)));
          return;
        }
        const { results, skipped } = await sampleRationales(ctx, [pair], {
          k: s.k,
          temperature: s.temperature,
          topP: s.topP,
          maxNewTokens: s.maxNewTokens,
          verdictRule: s.verdictRule,
          seed: f.seed,
          positions: 'given',
        });
        if (skipped.length) throw new Error(skipped[0]!.reason);
        const given = results[0]!.samples;
        let a = 0,
          b = 0;
        given.forEach((x, i) => {
          process.stdout.write(
            `--- rationale ${i + 1} (${x.finishReason}) ---\n${x.text}\nverdict: ${x.verdict ? `[[${x.verdict}]]` : 'none'}\n`,
          );
          if (x.verdict === 'A') a++;
          else if (x.verdict === 'B') b++;
        });
        process.stdout.write(
          `\nverdict: ${a > b ? '[[A]]' : b > a ? '[[B]]' : 'tie'} (${a} for A, ${b} for B, ${given.length - a - b} without a verdict)\n`,
        );
        process.stdout.write(judgeProtocolLine(protocolRecord(resolved, 'cot', chosenBy)));
      } finally {
        lm.model.dispose();
      }
    },
  );
}

/** One line for `genrm judge`: the protocol and what differs from it. */
function judgeProtocolLine(r: ReturnType<typeof protocolRecord>): string {
  const diff = r.differences.map((d) => `${d.setting} ${d.used} (protocol: ${d.protocol})`).join('; ');
  return `protocol: ${r.name}${diff ? `; differs: ${diff}` : ''}\n`;
}
