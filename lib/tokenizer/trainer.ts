// BPE training: count the corpus's pre-tokenized words, then repeatedly merge
// the most frequent adjacent pair of tokens into a new token until the
// vocabulary is full. Pair counts are updated incrementally: a merge visits only
// the words that contain its pair and adjusts the counts of the pairs around
// each occurrence, so a merge costs the size of its pair's words, not a recount
// of the corpus. The result is deterministic: ties go to the pair with the
// smallest (left id, right id), ids being bytes 0..255 then merges in order.
import { BYTE_CHARS } from './bytes.js';
import { TokenizerError, describe } from './errors.js';
import { detach, preTokenize, wellFormed } from './pretokenize.js';
import { SPECIAL_TOKENS, Tokenizer } from './tokenizer.js';

export interface TrainOptions {
  /** Total ids wanted: 256 byte tokens + merges + special tokens. An upper bound: training stops early when no pair is frequent enough. */
  vocabSize: number;
  /** Special tokens besides genrm's own (SPECIAL_TOKENS, always added); ids follow the BPE tokens, genrm's first. */
  specialTokens?: readonly string[];
  /** A pair must occur at least this often to be merged. Default 2. */
  minFrequency?: number;
  /**
   * Learn no merges inside numbers, so every ASCII digit stays a token of its
   * own and arithmetic can be written digit by digit. The tokenizer.json is
   * standard (it simply has no digit merges). Default false.
   */
  splitDigits?: boolean;
}

const SOURCE = 'trainTokenizer';
/** Ids are packed in pair keys as left * vocabSize + right, exact below 2^53. */
export const MAX_VOCAB_SIZE = 1 << 24;

function checkOptions(options: TrainOptions): {
  vocabSize: number;
  specials: string[];
  minFrequency: number;
  splitDigits: boolean;
} {
  if (typeof options !== 'object' || options === null)
    throw new TokenizerError(SOURCE, `expected an options object, got ${describe(options)}`, 'options');
  const extra = options.specialTokens ?? [];
  if (!Array.isArray(extra))
    throw new TokenizerError(SOURCE, `expected an array of strings, got ${describe(extra)}`, 'specialTokens');
  const specials: string[] = Object.values(SPECIAL_TOKENS);
  extra.forEach((s, i) => {
    if (typeof s !== 'string' || s === '')
      throw new TokenizerError(SOURCE, `expected a non-empty string, got ${describe(s)}`, `specialTokens[${i}]`);
    if (wellFormed(s) !== s)
      throw new TokenizerError(
        SOURCE,
        `${describe(s)} has a lone surrogate, which UTF-8 cannot hold`,
        `specialTokens[${i}]`,
      );
    if (BYTE_CHARS.includes(s))
      throw new TokenizerError(
        SOURCE,
        `${describe(s)} is the token of a byte; a special token needs a string of its own`,
        `specialTokens[${i}]`,
      );
    // genrm's own may be listed again (they are added anyway); other repeats are mistakes.
    if (specials.includes(s)) {
      if (extra.indexOf(s) !== i)
        throw new TokenizerError(SOURCE, `${describe(s)} is listed twice`, `specialTokens[${i}]`);
      return;
    }
    specials.push(s);
  });
  const { vocabSize } = options;
  const least = 256 + specials.length;
  if (!Number.isInteger(vocabSize) || vocabSize < least || vocabSize > MAX_VOCAB_SIZE) {
    throw new TokenizerError(
      SOURCE,
      `expected an integer from ${least} (256 byte tokens + ${specials.length} special tokens) to ${MAX_VOCAB_SIZE}, got ${describe(vocabSize)}`,
      'vocabSize',
    );
  }
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new TokenizerError(SOURCE, `expected a positive integer, got ${describe(minFrequency)}`, 'minFrequency');
  }
  return { vocabSize, specials, minFrequency, splitDigits: options.splitDigits === true };
}

// The pre-tokenizer puts digits in words of their own (runs of up to three).
const NUMBER = /^\p{N}+$/u;

/**
 * Trains incrementally: `add` documents (any number, any size), then `finish`.
 * `trainTokenizer` wraps this for (async) iterables.
 */
export class BpeTrainer {
  private readonly options: ReturnType<typeof checkOptions>;
  private readonly counts = new Map<string, number>();
  private documents = 0;
  private finished = false;

  constructor(options: TrainOptions) {
    this.options = checkOptions(options);
  }

  /** Counts one document's words. */
  add(text: string): void {
    if (this.finished) throw new TokenizerError(SOURCE, 'add() after finish()', 'add');
    if (typeof text !== 'string')
      throw new TokenizerError(SOURCE, `expected a string, got ${describe(text)}`, `corpus[${this.documents}]`);
    this.documents++;
    const counts = this.counts;
    const splitDigits = this.options.splitDigits;
    for (const word of preTokenize(wellFormed(text))) {
      if (splitDigits && NUMBER.test(word)) continue;
      const c = counts.get(word);
      if (c === undefined) counts.set(detach(word), 1);
      else counts.set(word, c + 1);
    }
  }

  /** Learns the merges and returns the tokenizer. Once: the word counts are released to make room for training. */
  finish(): Tokenizer {
    if (this.finished)
      throw new TokenizerError(SOURCE, 'finish() was already called; a BpeTrainer trains once', 'finish');
    this.finished = true;
    const { vocabSize, specials, minFrequency } = this.options;
    const words = packWords(this.counts);
    this.counts.clear();
    const vocab = BYTE_CHARS.slice();
    const merges = learnMerges(words, vocab, vocabSize - specials.length, minFrequency, new Set(specials));
    return new Tokenizer({ vocab: [...vocab, ...specials], merges, special: specials.map((_, i) => vocab.length + i) });
  }
}

/** Trains a byte-level BPE tokenizer on `corpus` (one string per document). */
export async function trainTokenizer(
  corpus: Iterable<string> | AsyncIterable<string>,
  options: TrainOptions,
): Promise<Tokenizer> {
  const trainer = new BpeTrainer(options);
  checkCorpus(corpus);
  for await (const text of corpus) trainer.add(text);
  return trainer.finish();
}

/** `trainTokenizer` for a synchronous corpus. */
export function trainTokenizerSync(corpus: Iterable<string>, options: TrainOptions): Tokenizer {
  const trainer = new BpeTrainer(options);
  checkCorpus(corpus);
  if (!(Symbol.iterator in corpus))
    throw new TokenizerError(SOURCE, 'expected a synchronous iterable; use trainTokenizer for an async one', 'corpus');
  for (const text of corpus) trainer.add(text);
  return trainer.finish();
}

function checkCorpus(corpus: unknown): asserts corpus is Iterable<string> | AsyncIterable<string> {
  if (typeof corpus === 'string')
    throw new TokenizerError(SOURCE, 'expected an iterable of strings (one per document), got one string', 'corpus');
  if (corpus === null || typeof corpus !== 'object' || !(Symbol.asyncIterator in corpus || Symbol.iterator in corpus)) {
    throw new TokenizerError(SOURCE, `expected an iterable of strings, got ${describe(corpus)}`, 'corpus');
  }
}

// A max-heap of (count, pair key): larger count first, then smaller key.
class PairHeap {
  private counts = new Float64Array(1024);
  private keys = new Float64Array(1024);
  size = 0;

  private before(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }

  push(count: number, key: number): void {
    if (this.size === this.counts.length) {
      const c = new Float64Array(this.size * 2);
      const k = new Float64Array(this.size * 2);
      c.set(this.counts);
      k.set(this.keys);
      this.counts = c;
      this.keys = k;
    }
    const { counts, keys } = this;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(count, key, counts[p]!, keys[p]!)) break;
      counts[i] = counts[p]!;
      keys[i] = keys[p]!;
      i = p;
    }
    counts[i] = count;
    keys[i] = key;
  }

  topCount(): number {
    return this.counts[0]!;
  }

  topKey(): number {
    return this.keys[0]!;
  }

  pop(): void {
    const { counts, keys } = this;
    const n = --this.size;
    const c = counts[n]!;
    const k = keys[n]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.before(counts[child + 1]!, keys[child + 1]!, counts[child]!, keys[child]!)) child++;
      if (!this.before(counts[child]!, keys[child]!, c, k)) break;
      counts[i] = counts[child]!;
      keys[i] = keys[child]!;
      i = child;
    }
    counts[i] = c;
    keys[i] = k;
  }
}

/**
 * The words of length 2 bytes or more, one after another in one array (ids,
 * initially bytes; each word shrinks in place as it merges): millions of small
 * arrays would cost more in headers than in contents.
 */
interface Words {
  syms: Int32Array;
  start: Int32Array;
  length: Int32Array;
  freq: Float64Array;
}

function packWords(counts: Map<string, number>): Words {
  let n = 0;
  let total = 0;
  for (const word of counts.keys()) {
    const bytes = Buffer.byteLength(word);
    if (bytes >= 2) {
      // a single byte has no pairs: nothing to learn from it
      n++;
      total += bytes;
    }
  }
  const words: Words = {
    syms: new Int32Array(total),
    start: new Int32Array(n),
    length: new Int32Array(n),
    freq: new Float64Array(n),
  };
  const encoder = new TextEncoder();
  let scratch = new Uint8Array(256);
  let w = 0;
  let at = 0;
  for (const [word, count] of counts) {
    if (scratch.length < word.length * 3) scratch = new Uint8Array(word.length * 3);
    const bytes = encoder.encodeInto(word, scratch).written;
    if (bytes < 2) continue;
    words.syms.set(scratch.subarray(0, bytes), at);
    words.start[w] = at;
    words.length[w] = bytes;
    words.freq[w] = count;
    at += bytes;
    w++;
  }
  return words;
}

/**
 * Adds merged tokens to `vocab` (which starts as the 256 byte tokens) until it
 * has `size` tokens; returns the merges as id pairs in order.
 */
function learnMerges(
  words: Words,
  vocab: string[],
  size: number,
  minFrequency: number,
  specials: ReadonlySet<string>,
): Array<[number, number]> {
  const V = size; // every id stays below `size`, so left * V + right is a unique key
  const { syms, start, length: lengths, freq } = words;
  const nWords = freq.length;

  const pairCount = new Map<number, number>();
  // For each pair, the words that contain (or once contained) it; checked when used.
  const pairWords = new Map<number, number[]>();
  const note = (key: number, w: number) => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < nWords; w++) {
    const end = start[w]! + lengths[w]!;
    for (let i = start[w]!; i + 1 < end; i++) {
      const key = syms[i]! * V + syms[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + freq[w]!);
      note(key, w);
    }
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCount) heap.push(count, key);

  const ids = new Map<string, number>(vocab.map((t, i) => [t, i]));
  const merges: Array<[number, number]> = [];
  const visited = new Int32Array(nWords).fill(-1);
  const banned = new Set<number>();
  const add = (key: number, delta: number) => {
    const n = (pairCount.get(key) ?? 0) + delta;
    if (n === 0) pairCount.delete(key);
    else pairCount.set(key, n);
  };
  while (vocab.length < size && heap.size > 0) {
    const top = heap.topCount();
    const key = heap.topKey();
    heap.pop();
    const current = pairCount.get(key) ?? 0;
    // Entries go stale as counts drop; the current count is pushed back instead.
    if (current !== top) {
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (banned.has(key)) continue;
    if (top < minFrequency) break;
    const a = Math.floor(key / V);
    const b = key - a * V;
    const text = vocab[a]! + vocab[b]!;
    // A learned token that spells a special token would be ambiguous in
    // tokenizer.json (HF maps that string to the special id); never learn it.
    if (specials.has(text)) {
      banned.add(key);
      continue;
    }
    let c = ids.get(text);
    if (c === undefined) {
      c = vocab.length;
      vocab.push(text);
      ids.set(text, c);
    }
    const mergeIndex = merges.length;
    merges.push([a, b]);

    const created = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      if (visited[w] === mergeIndex) continue;
      visited[w] = mergeIndex;
      const base = start[w]!;
      const len = lengths[w]!;
      const f = freq[w]!;
      // Lists keep words that no longer have the pair; skip them without writing.
      let first = base;
      const end = base + len - 1;
      while (first < end && !(syms[first] === a && syms[first + 1] === b)) first++;
      if (first >= end) continue;
      // Merge left to right; each occurrence trades the pairs around it
      // (prev, a) (b, next) for (prev, c) (c, next); `prev` is already the
      // merged token when occurrences are adjacent, as in "a b a b".
      let out = first;
      for (let i = first; i < base + len; i++) {
        if (i + 1 < base + len && syms[i] === a && syms[i + 1] === b) {
          if (out > base) {
            const prev = syms[out - 1]!;
            add(prev * V + a, -f);
            const k = prev * V + c;
            add(k, f);
            created.add(k);
            note(k, w);
          }
          if (i + 2 < base + len) {
            const next = syms[i + 2]!;
            add(b * V + next, -f);
            // (c, next) is counted here; if next starts another occurrence it is
            // traded away again when that occurrence is merged.
            const k = c * V + next;
            add(k, f);
            created.add(k);
            note(k, w);
          }
          syms[out++] = c;
          i++;
        } else {
          syms[out++] = syms[i]!;
        }
      }
      lengths[w] = out - base;
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const k of created) {
      const n = pairCount.get(k) ?? 0;
      if (n > 0) heap.push(n, k);
    }
  }
  return merges;
}
