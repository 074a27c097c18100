#!/usr/bin/env node
// The `genrm` command line.
import { Command, InvalidArgumentError } from 'commander';
import { packageVersion } from '../package-root.js';
import { runInfo } from './info.js';
import { registerDemoCommand } from './demo.js';
import { registerEvalCommands } from './evaluate.js';
import { registerTrainCommands } from './train.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

const program = new Command()
  .name('genrm')
  .description('Generative reward models: a native C++/CUDA engine that trains and evaluates LLM judges')
  .version(packageVersion())
  .showHelpAfterError();

program
  .command('info')
  .description('show the version, the native binary in use and why, CPU features, threads and CUDA devices')
  .option('--json', 'print JSON instead of text')
  .action((options: { json?: boolean }) => runInfo(options));

program
  .command('bench')
  .description("benchmark the engine's kernels (medians of repeated runs; ratios measured in the same run)")
  .option('--json [file]', 'write results as JSON to a file, or to stdout when no file is given')
  .option('--filter <regex>', 'run only the benchmarks whose name matches')
  .option('--threads <n>', 'engine threads (default: all CPUs)', positiveInt)
  .option('--quick', 'fewer repetitions, for smoke tests')
  .action(async (options: { json?: string | boolean; filter?: string; threads?: number; quick?: boolean }) => {
    const { runBench } = await import('../../bench/index.js');
    await runBench(options);
  });

registerDemoCommand(program);
registerTrainCommands(program);
registerEvalCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`genrm: ${(e as Error).message ?? String(e)}\n`);
  process.exitCode = 1;
});
