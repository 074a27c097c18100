// Prompts for text generation: plain text or chat messages to token ids, and the
// fit into the model's context (an error naming the prompt by default, or the
// prompt's last tokens when asked, as HF's truncation_side='left' keeps them).
import type { ChatMessage } from '../tokenizer/chat.js';
import { describe } from '../tokenizer/errors.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface TextPrompt {
  /**
   * Plain text, encoded with the tokenizer's template (`<|begin_of_text|>` first),
   * or chat messages, rendered with the chat template and an assistant header
   * for the model to answer.
   */
  prompt: string | readonly ChatMessage[];
  /** Samples to draw. Default 1. */
  n?: number;
  /** As Model.generate's: sample j draws from a stream seeded by (seed, j). Default 0. */
  seed?: number;
}

/** What to do with a prompt longer than max_position_embeddings - maxNewTokens. */
export type Truncation = 'error' | 'left';

export function promptIds(tokenizer: Tokenizer, entry: string | TextPrompt, index: number): Int32Array {
  const p = typeof entry === 'string' ? entry : entry?.prompt;
  if (typeof p === 'string') return tokenizer.encode(p, { addSpecialTokens: true });
  if (Array.isArray(p)) return tokenizer.applyChatTemplate(p, { addGenerationPrompt: true }).ids;
  throw new TypeError(
    `generateText: prompts[${index}]: expected a string or { prompt: string | ChatMessage[], n?, seed? }, got ${describe(entry)}`,
  );
}

/**
 * The ids to generate from, given `room` positions for the prompt. 'left' keeps
 * the last tokens, and a leading BOS before them (the model was trained on
 * sequences that start with one).
 */
export function fitPrompt(
  ids: Int32Array,
  room: number,
  bos: number | undefined,
  truncate: Truncation,
  index: number,
  maxNewTokens: number,
  limit: number,
): Int32Array {
  if (room < 1)
    throw new RangeError(
      `generateText: maxNewTokens: expected at most ${limit - 1} (max_position_embeddings ${limit} less room for a prompt), got ${maxNewTokens}`,
    );
  if (ids.length <= room) return ids;
  if (truncate !== 'left') {
    throw new RangeError(
      `generateText: prompts[${index}]: ${ids.length} prompt tokens + maxNewTokens ${maxNewTokens} exceed max_position_embeddings (${limit}); shorten it, lower maxNewTokens, or pass truncate: 'left'`,
    );
  }
  if (bos === undefined || ids[0] !== bos || room < 2) return ids.slice(ids.length - room);
  const out = new Int32Array(room);
  out[0] = bos;
  out.set(ids.subarray(ids.length - (room - 1)), 1);
  return out;
}
