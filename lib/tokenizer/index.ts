// Byte-level BPE tokenizers: training, encoding, chat template, tokenizer.json.
export {
  Tokenizer,
  SPECIAL_TOKENS,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokenName,
  type TokenizerSpec,
} from './tokenizer.js';
export { BpeTrainer, MAX_VOCAB_SIZE, trainTokenizer, trainTokenizerSync, type TrainOptions } from './trainer.js';
export { loadTokenizer, parseTokenizerJson, saveTokenizer, tokenizerToJson } from './json.js';
export { TokenizerError } from './errors.js';
export { LLAMA3_PATTERN, PRETOKENIZE_PATTERN, SPLIT_PATTERNS, preTokenize } from './pretokenize.js';
export { BYTE_CHARS } from './bytes.js';
export type { ChatMessage, ChatOptions, ChatResult, ChatRole } from './chat.js';
export { chatTemplateOf, type ChatTemplateSpec } from './template.js';
