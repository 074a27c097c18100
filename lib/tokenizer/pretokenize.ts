// The pre-tokenizer: splits text into words that BPE never merges across. It is
// Llama 3's pattern (itself GPT-4's cl100k pattern) written so that JavaScript,
// Oniguruma (Rust `tokenizers`) and @huggingface/tokenizers read it alike:
//  - \p{White_Space} instead of \s, whose sets differ (JavaScript's \s has
//    U+FEFF and lacks U+0085; Oniguruma's is the Unicode property);
//  - the contractions ('s 't 're 've 'm 'll 'd) spelled in both ASCII cases
//    instead of (?i:...), which Node 20 lacks and which Oniguruma folds with
//    full Unicode case folding (so "'ſ" would match there).
// Digits go in runs of at most three; a letter run takes one leading non-letter
// (a space, or punctuation); whitespace before a word stays with the word.
// Every character starts a match, so the matches tile the text with no gaps.

/** The pattern as it appears in tokenizer.json (`Split` with `{ "Regex": PRETOKENIZE_PATTERN }`). */
export const PRETOKENIZE_PATTERN =
  "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])" +
  '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+' +
  '|\\p{N}{1,3}' +
  '| ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*' +
  '|\\p{White_Space}*[\\r\\n]+' +
  '|\\p{White_Space}+(?!\\P{White_Space})' +
  '|\\p{White_Space}+';

/**
 * Llama 3's pattern as Meta publishes it in tokenizer.json (Llama 3, 3.1, 3.2 and 3.3 share it). It is the
 * pattern above written for Oniguruma; genrm reads it with the JavaScript form.
 */
export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Qwen2's pattern as published (Qwen2, 2.5 and 3 share it): Llama 3's, but digits one at a time. */
export const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * GPT-4o's o200k pattern as published: a word is a run of upper-case letters then lower-case ones (so
 * "CamelCase" is two words), marks count as letters, a contraction stays on its word, and "/" joins the
 * punctuation run before a line break.
 */
export const O200K_PATTERN =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The JavaScript forms, with the substitutions PRETOKENIZE_PATTERN's comment gives.
const CONTRACTION = "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])";
const QWEN2_JS = PRETOKENIZE_PATTERN.replace('\\p{N}{1,3}', '\\p{N}');
const UPPER = '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]';
const LOWER = '[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]';
const O200K_JS =
  `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+(?:${CONTRACTION})?` +
  `|[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*(?:${CONTRACTION})?` +
  '|\\p{N}{1,3}' +
  '| ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n/]*' +
  '|\\p{White_Space}*[\\r\\n]+' +
  '|\\p{White_Space}+(?!\\P{White_Space})' +
  '|\\p{White_Space}+';

/** tokenizer.json Split patterns genrm reads, each with the JavaScript pattern that splits text the same way. */
export const SPLIT_PATTERNS: ReadonlyMap<string, string> = new Map([
  [PRETOKENIZE_PATTERN, PRETOKENIZE_PATTERN],
  [LLAMA3_PATTERN, PRETOKENIZE_PATTERN],
  [QWEN2_PATTERN, QWEN2_JS],
  [O200K_PATTERN, O200K_JS],
]);

const WORDS = new RegExp(PRETOKENIZE_PATTERN, 'gu');

/** The splitting regex for a tokenizer.json pattern in SPLIT_PATTERNS (undefined for any other). */
export function splitRegex(pattern: string): RegExp | undefined {
  const source = SPLIT_PATTERNS.get(pattern);
  return source === undefined ? undefined : source === PRETOKENIZE_PATTERN ? WORDS : new RegExp(source, 'gu');
}

/**
 * Splits text into pre-tokenized words (concatenated, they give back the text).
 * Expects well-formed text: a lone surrogate would be a word of its own here but
 * U+FFFD once encoded, so callers replace them first.
 */
export function preTokenize(text: string, regex: RegExp = WORDS): string[] {
  const words = text.match(regex);
  if (words === null) return [];
  // The pattern covers every character; this guards that claim (a gap would
  // silently drop text), at the cost of one pass over short numbers.
  let covered = 0;
  for (const w of words) covered += w.length;
  if (covered !== text.length)
    throw new Error(`pre-tokenizer left ${text.length - covered} characters unmatched (a bug in ${regex.source})`);
  return words;
}

// V8 keeps a substring of 13 or more characters as a view into its parent, so a
// cached word would keep a whole document alive. Concatenating and slicing again
// makes a new flat string of the word's own length.
export function detach(s: string): string {
  return s.length < 13 ? s : ('\0' + s).slice(1);
}

/** Replaces lone surrogates with U+FFFD, as TextEncoder (and so UTF-8) would. */
export function wellFormed(text: string): string {
  const s = text as unknown as { isWellFormed(): boolean; toWellFormed(): string };
  return s.isWellFormed() ? text : s.toWellFormed();
}
