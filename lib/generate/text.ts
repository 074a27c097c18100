// Text in, text out: prompts (plain text or chat messages) are tokenized, fitted
// into the model's context, sampled in one Model.generate call (the engine checks
// stop strings on the tokens' bytes as it decodes), and each sample's text is
// decoded from those same bytes and cut before the stop string that ended it.
import { stopTokensOf, type LanguageModel } from '../model/language-model.js';
import type { GenerateOptions, Sample } from '../model/model.js';
import { describe } from '../tokenizer/errors.js';
import { fitPrompt, promptIds, type TextPrompt, type Truncation } from './prompts.js';

export interface GenerateTextOptions extends Omit<GenerateOptions, 'tokenBytes' | 'tokenOffsets' | 'returnLogits'> {
  /**
   * Default: the model's eos_token_id (generation_config.json, else config.json), else `<|eot_id|>` and
   * `<|end_of_text|>` (special tokens add no text). Pass [] for none.
   */
  stopTokens?: ArrayLike<number>;
  /**
   * A sample stops as soon as its generated text contains one of these (see
   * Model.generate); its text is cut before it. Special tokens have no text here,
   * so "<|eot_id|>" never matches: use stopTokens for those.
   */
  stopStrings?: readonly string[];
  /**
   * A prompt with more than max_position_embeddings - maxNewTokens tokens is an
   * error naming it ('error', the default), or keeps its last tokens after its
   * BOS ('left'; `promptIds` shows what was kept).
   */
  truncate?: Truncation;
}

export interface TextSample {
  /**
   * The generated text: the UTF-8 bytes of its tokens (special tokens give none),
   * cut before the stop string that ended the sample, if one did. A character
   * whose bytes were cut off by maxNewTokens decodes as U+FFFD.
   */
  text: string;
  /** Every generated token, including the one that completed a stop string or was a stop token. */
  tokens: Int32Array;
  /** Sum of the generated tokens' log-probs under the model (temperature 1, unfiltered). */
  logprob: number;
  finishReason: Sample['finishReason'];
  /** The stop string that ended the sample, as given in stopStrings. */
  stopString?: string;
}

export interface GenerateTextResult {
  /** results[i] holds prompt i's samples. */
  results: TextSample[][];
  /** The token ids each prompt was generated from (after truncation). */
  promptIds: Int32Array[];
  /** Bytes of the key/value cache the call used. */
  cacheBytes: number;
}

/** Samples continuations of text or chat prompts; one native call off the event loop. */
export async function generateText(
  lm: LanguageModel,
  prompts: ReadonlyArray<string | TextPrompt>,
  options: GenerateTextOptions = {},
): Promise<GenerateTextResult> {
  const { model, tokenizer } = lm;
  if (!Array.isArray(prompts))
    throw new TypeError(
      `generateText: prompts: expected an array of strings or { prompt, n?, seed? }, got ${describe(prompts)}`,
    );
  const { truncate = 'error', stopTokens = stopTokensOf(lm), ...rest } = options;
  if (truncate !== 'error' && truncate !== 'left')
    throw new TypeError(`generateText: truncate: expected 'error' or 'left', got ${describe(truncate)}`);
  const limit = model.config.max_position_embeddings;
  const bos = tokenizer.hasSpecialToken('bos') ? tokenizer.bos : undefined;
  const maxNew = options.maxNewTokens ?? 16;
  const ids = prompts.map((p, i) => {
    const raw = promptIds(tokenizer, p, i);
    // A bad maxNewTokens is left for the engine to name.
    return Number.isInteger(maxNew) && maxNew >= 1
      ? fitPrompt(raw, limit - maxNew, bos, truncate, i, maxNew, limit)
      : raw;
  });
  const table = tokenizer.byteTable(model.config.vocab_size);
  const { results, cacheBytes } = await model.generate(
    prompts.map((p, i) => (typeof p === 'string' ? { ids: ids[i]! } : { ids: ids[i]!, n: p.n, seed: p.seed })),
    { ...rest, stopTokens, ...(rest.stopStrings?.length ? table : {}) },
  );
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const { tokenBytes, tokenOffsets } = table;
  const toText = (s: Sample): TextSample => {
    let total = 0;
    for (const t of s.tokens) total += tokenOffsets[t + 1]! - tokenOffsets[t]!;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const t of s.tokens) {
      bytes.set(tokenBytes.subarray(tokenOffsets[t]!, tokenOffsets[t + 1]!), at);
      at += tokenOffsets[t + 1]! - tokenOffsets[t]!;
    }
    const matched = s.stopString === undefined ? undefined : rest.stopStrings![s.stopString]!;
    return {
      text: decoder.decode(s.stopOffset === undefined ? bytes : bytes.subarray(0, s.stopOffset)),
      tokens: s.tokens,
      logprob: s.logprob,
      finishReason: s.finishReason,
      ...(matched === undefined ? {} : { stopString: matched }),
    };
  };
  return { results: results.map((r) => r.map(toText)), promptIds: ids, cacheBytes };
}
