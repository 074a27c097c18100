// `genrm train-bt`, `genrm train-genrm` and `genrm star`: read the data, train
// with a progress bar, save on Ctrl-C, and say how to resume.
import { Option, type Command } from 'commander';
import { DPO_DEFAULTS, RATIONALIZER_LR, STAR_ITERATIONS } from '../defaults.js';
import { runTrainJob, type TrainKind } from '../genrm/jobs.js';
import { templateByName } from '../genrm/prompt.js';
import type { MultiTurnRule, ProtocolName } from '../genrm/protocol.js';
import { runStar, type StarMode } from '../genrm/star.js';
import type { VerdictRule } from '../genrm/verdict.js';
import type { TrainOutcome, TrainProgress } from '../train/trainer.js';
import { readPairs, type DataFlags } from './data.js';
import {
  addDataOptions,
  addProtocolOptions,
  addSamplingOptions,
  addTemplateOption,
  addTrainOptions,
  number,
  positiveInt,
  trainSettings,
  type TrainFlags,
} from './options.js';
import { interruptSignal, progressBar } from './progress.js';

const log = (line: string) => process.stderr.write(line + '\n');

const plural = (unit: string, n: number) => `${unit}${n === 1 ? '' : 's'}`;

/** This step's batch, for the progress bar: "3 pairs, 2871 tokens". */
function stepNote(p: TrainProgress): string {
  const unit = p.batches.unit;
  return `${p.batch.units} ${plural(unit, p.batch.units)}, ${p.batch.tokens} tokens`;
}

/** The plan's batches in one line: what a step held at least, on average and at most. */
function batchLine(b: TrainOutcome['batches']): string {
  const u = b.unitsPerStep;
  const t = b.tokensPerStep;
  return (
    `batches: ${u.min}-${u.max} ${b.unit}s per step (mean ${u.mean.toFixed(1)}), ${t.min}-${t.max} tokens (mean ${t.mean.toFixed(0)}); ` +
    `limits --batch-tokens ${b.batchTokens}${b.batchSize ? `, --batch-size ${b.batchSize}` : ''}`
  );
}

type TrainCommandFlags = DataFlags &
  TrainFlags & { data: string[]; model: string; out: string; template: string; pairwise?: boolean };

async function train(kind: TrainKind, f: TrainCommandFlags): Promise<void> {
  const pairs = await readPairs(f.data, f, log);
  const { signal, release } = interruptSignal(`saving a resumable checkpoint in ${f.out}/partial`);
  const bar = progressBar('train', 'steps');
  try {
    const r = await runTrainJob({
      kind,
      modelDir: f.model,
      outDir: f.out,
      pairs,
      template: templateByName(f.template),
      settings: trainSettings(f),
      seed: f.seed,
      signal,
      onProgress: (p: TrainProgress) => bar.update(p.step, p.totalSteps, { loss: p.metrics.loss, note: stepNote(p) }),
    });
    bar.stop();
    if (r.skipped.length)
      log(
        `${r.skipped.length} pairs skipped (too long for the model), e.g. ${r.skipped[0]!.id}: ${r.skipped[0]!.reason}`,
      );
    if (r.aborted) {
      log(`stopped at step ${r.outcome?.step} of ${r.outcome?.totalSteps}; run the same command again to resume`);
      process.exitCode = 130;
      return;
    }
    const last = r.outcome?.history.at(-1);
    log(
      `done: ${r.outcome?.totalSteps} steps${last ? `, last loss ${last.loss?.toFixed(4)}` : ''}; checkpoint in ${r.outDir}`,
    );
    if (r.outcome?.batches) log(batchLine(r.outcome.batches));
  } finally {
    bar.stop();
    release();
  }
}

export function registerTrainCommands(program: Command): void {
  const bt = program
    .command('train-bt')
    .description(
      'train the Bradley-Terry reward model (a scalar head on the model) on preference pairs; --pairwise trains the PairRM-style baseline instead',
    )
    .requiredOption(
      '--model <dir>',
      'starting checkpoint (config.json, model.safetensors, tokenizer.json); a new reward head is added',
    )
    .requiredOption('--out <dir>', 'where the trained checkpoint goes; an interrupted run in it resumes')
    .option(
      '--pairwise',
      "one pass over question and both answers, trained on both orders (the paper's pairwise baseline)",
    );
  addTemplateOption(
    addTrainOptions(
      addDataOptions(bt, 'preference files (JSON Lines or Parquet: UltraFeedback, UltraInteract, RewardBench)'),
    ),
  );
  bt.action((f: TrainCommandFlags) => train(f.pairwise ? 'pairwise' : 'bt', f));

  const g = program
    .command('train-genrm')
    .description(
      'train a GenRM judge (direct): SFT on the verdict token [[A]]/[[B]] after the judge prompt, both orders of every pair',
    )
    .requiredOption('--model <dir>', 'starting checkpoint (config.json, model.safetensors, tokenizer.json)')
    .requiredOption('--out <dir>', 'where the trained checkpoint goes; an interrupted run in it resumes');
  addTemplateOption(addTrainOptions(addDataOptions(g, 'preference files (JSON Lines or Parquet)')));
  g.action((f: TrainCommandFlags) => train('genrm', f));

  const s = program
    .command('star')
    .description(
      'the STaR loop: per iteration, sample rationales on a fresh part of the pairs, keep those reaching the human label, and train (sft, dpo or rationalizer)',
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'sft: SFT on kept rationales; dpo: right vs wrong rationales; rationalizer: also rationales from a hint where none was right',
      )
        .choices(['sft', 'dpo', 'rationalizer'])
        .makeOptionMandatory(),
    )
    .requiredOption('--model <dir>', 'starting checkpoint (config.json, model.safetensors, tokenizer.json)')
    .requiredOption(
      '--out <dir>',
      'iterations, rationales, checkpoints and metrics go here; an interrupted run in it resumes',
    )
    .option('--iterations <n>', 'STaR iterations, each on a disjoint part of the pairs', positiveInt, STAR_ITERATIONS)
    .option('--beta <b>', 'DPO beta', number, DPO_DEFAULTS.beta)
    .option(
      '--rationalizer-samples <n>',
      'hinted samples for each pair no sample got right (rationalizer)',
      positiveInt,
      1,
    );
  addProtocolOptions(
    addTemplateOption(
      addSamplingOptions(addTrainOptions(addDataOptions(s, 'preference files (JSON Lines or Parquet)'))),
      true,
    ),
    ['paper', 'genrm'],
    "settings of the run: paper (its hyper-parameters; RewardBench's verdict rule and 2,048-token rationales) or genrm (default)",
  );
  s.option('--rationalizer-lr <lr>', 'learning rate of the rationalizer mode', number, RATIONALIZER_LR);
  s.action(
    async (
      f: TrainCommandFlags & {
        mode: string;
        iterations: number;
        beta: number;
        rationalizerSamples: number;
        rationalizerLr: number;
        k?: number;
        temperature?: number;
        topP?: number;
        maxNewTokens?: number;
        maxBatch: number;
        positions?: 'random' | 'both';
        protocol?: ProtocolName;
        verdictRule?: VerdictRule;
        multiTurn?: MultiTurnRule;
        template?: string;
      },
    ) => {
      const mode = f.mode as StarMode;
      const pairs = await readPairs(f.data, f, log);
      const { signal, release } = interruptSignal(`saving progress in ${f.out}`);
      const bar = progressBar('star', 'items');
      try {
        const r = await runStar({
          mode,
          baseDir: f.model,
          outDir: f.out,
          pairs,
          protocol: f.protocol,
          template: f.template === undefined ? undefined : templateByName(f.template),
          multiTurn: f.multiTurn,
          iterations: f.iterations,
          seed: f.seed,
          sampling: {
            k: f.k,
            temperature: f.temperature,
            topP: f.topP,
            maxNewTokens: f.maxNewTokens,
            maxBatch: f.maxBatch,
            positions: f.positions,
            verdictRule: f.verdictRule,
          },
          rationalizerSamples: f.rationalizerSamples,
          dpo: { beta: f.beta },
          train: { ...trainSettings(f), lr: mode === 'rationalizer' ? f.rationalizerLr : f.lr },
          signal,
          onProgress: (p) =>
            bar.update(p.done, p.total, {
              loss: p.train?.metrics.loss,
              note: `iteration ${p.iteration}/${p.iterations} ${p.phase}${p.train ? `, ${stepNote(p.train)}` : ''}`,
            }),
        });
        bar.stop();
        for (const it of r.iterations) {
          log(
            `iteration ${it.iteration}: ${it.pairs} pairs, ${it.samples} rationales, ${it.agreeing} agree with the label, kept ${it.kept} (${(100 * it.keepRate).toFixed(1)}%), trained ${it.trainSteps} steps${it.trainLoss === null ? '' : `, loss ${it.trainLoss.toFixed(4)}`}`,
          );
          if (it.skipped.length)
            log(`  ${it.skipped.length} pairs skipped, e.g. ${it.skipped[0]!.id}: ${it.skipped[0]!.reason}`);
          if (it.trainSteps === 0) log('  nothing to train on in this iteration: no rationale was kept');
          else if (it.batches) log(`  ${batchLine(it.batches)}`);
        }
        const pr = r.protocol;
        log(
          `protocol: ${pr.name}${pr.differences.length ? `; differs: ${pr.differences.map((d) => `${d.setting} ${d.used} (protocol: ${d.protocol})`).join('; ')}` : ''}` +
            (pr.unstated.length ? `; not stated by the source: ${pr.unstated.map((u) => u.setting).join(', ')}` : ''),
        );
        if (r.aborted) {
          log('stopped; run the same command again to resume');
          process.exitCode = 130;
          return;
        }
        log(`done; final checkpoint in ${r.finalDir}`);
      } finally {
        bar.stop();
        release();
      }
    },
  );
}
