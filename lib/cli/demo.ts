// `genrm demo`: the paper's experiment on the built-in world, with progress
// bars, a printed table and a report folder.
import type { Command } from 'commander';
import { runDemo, type DemoEvent } from '../demo/index.js';
import { integer, number, positiveInt } from './options.js';
import { interruptSignal, progressBar, type Bar } from './progress.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'train and evaluate every judge of the GenRM paper on a built-in preference world: zero-shot, Bradley-Terry, GenRM, STaR-SFT/DPO/Rationalizer, voting; prints the table and writes runs/<timestamp>/',
    )
    .option('--quick', 'a small smoke run (about 20 s on 2 cores); its numbers mean little')
    .option(
      '--budget <minutes>',
      'scale the default run (about 12 minutes the first time) to this many minutes',
      number,
    )
    .option('--seeds <n>', 'repeat with this many seeds and report mean and spread', positiveInt, 1)
    .option('--seed <n>', 'first seed', integer, 1)
    .option('--runs <dir>', 'where run folders and the base-model cache go', 'runs')
    .action(async (f: { quick?: boolean; budget?: number; seeds: number; seed: number; runs: string }) => {
      const { signal, release } = interruptSignal(
        'stopping the demo (finished stages and the base-model cache are kept)',
      );
      let bar: Bar | null = null;
      let stage = '';
      const onEvent = (e: DemoEvent) => {
        const name = `seed ${e.seed}: ${e.stage}`;
        if (name !== stage) {
          bar?.stop();
          process.stderr.write(`${name}\n`);
          bar = progressBar('', 'steps');
          stage = name;
        }
        bar!.update(e.done, e.total, e.loss === undefined ? {} : { loss: e.loss });
      };
      try {
        const r = await runDemo({
          quick: f.quick,
          budgetMinutes: f.budget,
          seeds: f.seeds,
          firstSeed: f.seed,
          runsDir: f.runs,
          signal,
          onEvent,
          log: (line) => {
            bar?.stop();
            stage = '';
            process.stderr.write(`${line}\n`);
          },
        });
        (bar as Bar | null)?.stop();
        process.stdout.write(`\n${r.markdown}\n\nreport: ${r.dir}/report.md (charts in ${r.dir}/charts)\n`);
      } finally {
        (bar as Bar | null)?.stop();
        release();
      }
    });
}
