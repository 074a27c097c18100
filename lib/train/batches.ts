// Batches by token budget. Training units (a sequence, or the two sequences of a
// preference pair, which must share a batch) are shuffled per epoch from a seed
// and packed greedily, so the plan - and therefore a resumed run - is a pure
// function of (sizes, budget, seed).
import { deriveSeed, shuffled } from '../util/random.js';

/**
 * Groups unit indices into batches of at most `budget` tokens (a larger unit
 * gets a batch of its own) and at most `maxUnits` units (0 = no limit).
 */
export function packByBudget(
  order: readonly number[],
  sizes: readonly number[],
  budget: number,
  maxUnits = 0,
): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let tokens = 0;
  for (const i of order) {
    const size = sizes[i]!;
    if (current.length > 0 && (tokens + size > budget || (maxUnits > 0 && current.length >= maxUnits))) {
      batches.push(current);
      current = [];
      tokens = 0;
    }
    current.push(i);
    tokens += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The batches of every epoch, in training order. */
export function planEpochs(
  sizes: readonly number[],
  options: { budget: number; epochs: number; seed: number; maxUnits?: number },
): number[][] {
  const all: number[][] = [];
  const indices = sizes.map((_, i) => i);
  for (let e = 0; e < options.epochs; e++)
    all.push(
      ...packByBudget(
        shuffled(indices, deriveSeed(options.seed, 'epoch', e)),
        sizes,
        options.budget,
        options.maxUnits ?? 0,
      ),
    );
  return all;
}

/** Consecutive batches in input order (evaluation: no shuffling). */
export function planInOrder(sizes: readonly number[], budget: number): number[][] {
  return packByBudget(
    sizes.map((_, i) => i),
    sizes,
    budget,
  );
}
