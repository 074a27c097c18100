// Which answer a judge sees first. RewardBench draws the order per pair at
// random; judging both orders and combining cancels position bias at twice the
// cost. Either way the draw is a function of (seed, pair id), so a pair is shown
// the same way whatever else is in the run.
import type { PairLike } from '../train/bt.js';
import { deriveSeed, rng } from '../util/random.js';
import type { Verdict } from './prompt.js';
import { questionText } from './prompt.js';

/**
 * 'both': both orders; 'random': one order per pair drawn from (seed, pair id);
 * 'given': chosen as A, rejected as B - for judging one pair as the user wrote
 * it, never for measuring accuracy (it rewards a bias towards A).
 */
export type PositionMode = 'both' | 'random' | 'given';

export const POSITION_MODES: readonly PositionMode[] = ['both', 'random', 'given'];

/** One way of showing a pair: where the human-chosen answer sits. */
export interface Shown {
  chosenAt: Verdict;
  question: string;
  answerA: string;
  answerB: string;
}

export function positionsFor(pair: PairLike, mode: PositionMode, seed: number): Verdict[] {
  switch (mode) {
    case 'both':
      return ['A', 'B'];
    case 'given':
      return ['A'];
    case 'random':
      return [rng(deriveSeed(seed, 'position', pair.id))() < 0.5 ? 'A' : 'B'];
    default:
      throw new RangeError(`positions: expected one of ${POSITION_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
}

export function show(pair: PairLike, chosenAt: Verdict): Shown {
  const question = questionText(pair.prompt);
  return chosenAt === 'A'
    ? { chosenAt, question, answerA: pair.chosen, answerB: pair.rejected }
    : { chosenAt, question, answerA: pair.rejected, answerB: pair.chosen };
}

export function parsePositionMode(value: string): PositionMode {
  if (!(POSITION_MODES as readonly string[]).includes(value))
    throw new RangeError(`positions: expected one of ${POSITION_MODES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as PositionMode;
}
