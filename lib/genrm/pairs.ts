// Which answer a judge sees first. RewardBench draws the order per pair at
// random; judging both orders and combining cancels position bias at twice the
// cost. Either way the draw is a function of (seed, pair id), so a pair is shown
// the same way whatever else is in the run.
import type { ChatMessage } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { PairLike } from '../train/bt.js';
import { deriveSeed, rng } from '../util/random.js';
import {
  judgePromptIds,
  multiTurnJudgeMessages,
  questionText,
  twoTurns,
  type JudgeTemplate,
  type MultiTurnJudgeTemplate,
  type Verdict,
} from './prompt.js';

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
  /** The conversation as one question (the single-turn prompt's text). */
  question: string;
  answerA: string;
  answerB: string;
  /** The conversation the answers continue, as messages. */
  prompt: readonly ChatMessage[];
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
    ? { chosenAt, question, answerA: pair.chosen, answerB: pair.rejected, prompt: pair.prompt }
    : { chosenAt, question, answerA: pair.rejected, answerB: pair.chosen, prompt: pair.prompt };
}

/** What renders a judge prompt: the tokenizer, the prompt, and optionally the multi-turn prompt. */
export interface JudgePrompts {
  tokenizer: Tokenizer;
  template: JudgeTemplate;
  /**
   * When set, a two-turn conversation is shown with this prompt (RewardBench's
   * way) and longer ones cannot be shown (see unshowable); when unset, every
   * conversation is written out as one question (questionText).
   */
  multiTurnTemplate?: MultiTurnJudgeTemplate;
}

const singleTurn = (prompt: readonly ChatMessage[]) => prompt.length === 1 && prompt[0]!.role === 'user';

/** Why a pair cannot be shown to this judge, or null when it can. */
export function unshowable(ctx: JudgePrompts, pair: PairLike): string | null {
  if (!ctx.multiTurnTemplate || singleTurn(pair.prompt) || twoTurns(pair.prompt)) return null;
  return (
    `a conversation of ${pair.prompt.length} messages (${pair.prompt.map((m) => m.role).join(', ')}); ` +
    'the multi-turn judge prompt shows one or two user turns, and RewardBench drops longer conversations'
  );
}

/** Token ids of the judge prompt for one way of showing a pair, with the right template for its turns. */
export function shownPromptIds(ctx: JudgePrompts, s: Shown, hint?: Verdict): Int32Array {
  const turns = ctx.multiTurnTemplate && !singleTurn(s.prompt) ? twoTurns(s.prompt) : null;
  if (ctx.multiTurnTemplate && !singleTurn(s.prompt) && !turns)
    throw new RangeError(`judge prompt: ${unshowable(ctx, { id: '', prompt: s.prompt, chosen: '', rejected: '' })}`);
  if (!turns) return judgePromptIds(ctx.tokenizer, ctx.template, s.question, s.answerA, s.answerB, hint);
  return ctx.tokenizer.applyChatTemplate(
    multiTurnJudgeMessages(ctx.multiTurnTemplate!, turns, s.answerA, s.answerB, hint),
    { addGenerationPrompt: true },
  ).ids;
}

export function parsePositionMode(value: string): PositionMode {
  if (!(POSITION_MODES as readonly string[]).includes(value))
    throw new RangeError(`positions: expected one of ${POSITION_MODES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as PositionMode;
}
