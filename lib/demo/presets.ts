// How big each part of the demo is. The default is sized for about ten
// minutes on two cores (pretraining included on the first run), --quick for
// about ninety seconds; --budget scales the default's data and steps linearly.
import type { BaseSpec } from './base.js';

export interface DemoPreset {
  name: string;
  base: Omit<BaseSpec, 'seed' | 'exclude'>;
  world: { trainSize: number; testSize: number; subsetSize: number };
  /** Learning rates and epochs of the trained judges (small models need far more than the paper's 1e-6). */
  bt: { lr: number; epochs: number };
  genrm: { lr: number; epochs: number };
  star: { lr: number; dpoLr: number; rationalizerLr: number; epochs: number; k: number; iterations: number };
  /** Tokens per optimizer step of every trained judge. */
  batchTokens: number;
  /** Longest rationale. */
  maxNewTokens: number;
  /** Samples per pair of the final CoT evaluations (majority vote); the first one alone is the single-sample score. */
  voteK: number;
}

export const DEFAULT_PRESET: DemoPreset = {
  name: 'default',
  base: {
    hiddenSize: 128,
    layers: 4,
    vocabSize: 384,
    maxPositions: 1024,
    tokens: 8_000_000,
    batchTokens: 2048,
    lr: 2e-3,
  },
  world: { trainSize: 600, testSize: 150, subsetSize: 15 },
  bt: { lr: 3e-4, epochs: 2 },
  genrm: { lr: 3e-4, epochs: 2 },
  star: { lr: 3e-4, dpoLr: 3e-5, rationalizerLr: 3e-4, epochs: 1, k: 4, iterations: 3 },
  batchTokens: 8192,
  maxNewTokens: 256,
  voteK: 5,
};

export const QUICK_PRESET: DemoPreset = {
  name: 'quick',
  base: { hiddenSize: 64, layers: 2, vocabSize: 320, maxPositions: 1024, tokens: 250_000, batchTokens: 8192, lr: 3e-3 },
  world: { trainSize: 90, testSize: 40, subsetSize: 4 },
  bt: { lr: 1e-3, epochs: 1 },
  genrm: { lr: 1e-3, epochs: 1 },
  star: { lr: 3e-4, dpoLr: 3e-5, rationalizerLr: 3e-4, epochs: 1, k: 2, iterations: 3 },
  batchTokens: 4096,
  maxNewTokens: 96,
  voteK: 3,
};

/** The default preset with its data and pretraining scaled to `minutes` (10 = the default). */
export function presetForBudget(minutes: number): DemoPreset {
  if (!Number.isFinite(minutes) || minutes <= 0)
    throw new RangeError(`budget: expected a positive number of minutes, got ${minutes}`);
  const f = minutes / 10;
  const d = DEFAULT_PRESET;
  const p: DemoPreset = {
    ...d,
    name: `budget ${minutes} min`,
    base: { ...d.base, tokens: Math.round(d.base.tokens * f) },
    world: {
      trainSize: Math.round(d.world.trainSize * f),
      testSize: Math.round(d.world.testSize * Math.min(f, 1)),
      subsetSize: Math.round(d.world.subsetSize * Math.min(f, 1)),
    },
  };
  const need = [
    [
      p.base.tokens >= 20 * p.base.batchTokens,
      `pretraining gets ${p.base.tokens} tokens, fewer than 20 steps of ${p.base.batchTokens}`,
    ],
    [
      p.world.trainSize >= 3 * p.star.iterations * 4,
      `${p.world.trainSize} training pairs cannot feed ${p.star.iterations} STaR iterations`,
    ],
    [p.world.testSize >= 20, `${p.world.testSize} held-out pairs are too few to measure accuracy`],
    [p.world.subsetSize >= 2, `${p.world.subsetSize} pairs per out-of-distribution subset are too few`],
  ] as const;
  const missing = need.filter(([ok]) => !ok).map(([, why]) => why);
  if (missing.length)
    throw new RangeError(
      `budget: ${minutes} minutes is too small to train anything meaningful: ${missing.join('; ')}. Use --quick for a smoke run, or a budget of at least ${Math.ceil(minutes * 2)} minutes`,
    );
  return p;
}
