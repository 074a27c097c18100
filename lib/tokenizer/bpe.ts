// Applying learned merges to one pre-tokenized word: start from its UTF-8 bytes
// (byte-level BPE) or its characters (SentencePiece-style BPE, where a character
// outside the vocabulary becomes its <0xNN> byte tokens or the unknown token)
// and repeatedly merge the adjacent pair with the lowest rank (the earliest
// learned), the leftmost one on a tie, until no adjacent pair has a merge. This
// is what Hugging Face `tokenizers` does, so ids match token for token.

import { BYTE_CHARS } from './bytes.js';
import { detach } from './pretokenize.js';

const NONE = 0x7fffffff;
// Words up to this many bytes are merged by rescanning a small rank array
// (quadratic, but cheap and allocation-free); longer ones (a run of 10k "="
// is one word) use a heap so they stay n log n.
const SHORT_WORD = 64;
// Results are cached per word: natural text repeats a few tens of thousands
// of words, and a cache hit skips UTF-8 encoding and merging altogether.
const CACHE_ENTRIES = 1 << 17;
const CACHE_MAX_WORD = 256;

/** How a word becomes the symbols that merges start from, for models that start from characters. */
export interface CharSymbols {
  /** Single-character token → id. */
  chars: ReadonlyMap<string, number>;
  /** model.byte_fallback: a character outside `chars` becomes the byte tokens of its UTF-8 (byteIds). */
  byteFallback: boolean;
  /** model.unk_token's id, for characters that have no token. */
  unk: number | undefined;
  /** model.fuse_unk: consecutive unknown characters make one unknown token. */
  fuseUnk: boolean;
}

export class BpeModel {
  /** byteIds[b]: the id of the single-byte token for byte b (-1: none, with CharSymbols). */
  private readonly byteIds: Int32Array;
  /** (left * stride + right) → rank. */
  private readonly ranks = new Map<number, number>();
  /** mergedIds[rank]: the id of the token that merge produces. */
  private readonly mergedIds: Int32Array;
  private readonly stride: number;
  private readonly cache = new Map<string, Int32Array>();
  private readonly encoder = new TextEncoder();
  private scratch = new Uint8Array(1024);
  private syms = new Int32Array(SHORT_WORD);
  private readonly pairRanks = new Int32Array(SHORT_WORD);

  /**
   * `merges[rank]` = [left, right, merged] ids; ids are below `stride`. With `wholeWords` (ByteLevel string →
   * id; tokenizer.json's ignore_merges), a word that is a token is that token, without merging.
   */
  constructor(
    byteIds: Int32Array,
    merges: ReadonlyArray<readonly [number, number, number]>,
    stride: number,
    private readonly wholeWords?: ReadonlyMap<string, number>,
    private readonly charSymbols?: CharSymbols,
  ) {
    this.byteIds = byteIds;
    this.stride = stride;
    this.mergedIds = new Int32Array(merges.length);
    merges.forEach(([left, right, merged], rank) => {
      this.ranks.set(left * stride + right, rank);
      this.mergedIds[rank] = merged;
    });
  }

  private rank(left: number, right: number): number {
    return this.ranks.get(left * this.stride + right) ?? NONE;
  }

  /** The token ids of one pre-tokenized word (well-formed text). */
  encodeWord(word: string): Int32Array {
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const ids = this.wholeWord(word) ?? this.merge(word);
    if (word.length <= CACHE_MAX_WORD) {
      // First in, first out: cheaper than LRU bookkeeping on every hit, and the
      // frequent words come back in right after an eviction.
      if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(detach(word), ids);
    }
    return ids;
  }

  private wholeWord(word: string): Int32Array | undefined {
    if (this.wholeWords === undefined) return undefined;
    let key = word;
    if (this.charSymbols === undefined) {
      const n = this.utf8(word);
      key = '';
      for (let i = 0; i < n; i++) key += BYTE_CHARS[this.scratch[i]!];
    }
    const id = this.wholeWords.get(key);
    return id === undefined ? undefined : Int32Array.of(id);
  }

  private utf8(word: string): number {
    if (this.scratch.length < word.length * 3) this.scratch = new Uint8Array(word.length * 3);
    return this.encoder.encodeInto(word, this.scratch).written;
  }

  /** Fills this.syms with the word's starting symbols; returns how many. */
  private symbols(word: string): number {
    const n = this.utf8(word);
    if (this.syms.length < n) this.syms = new Int32Array(n);
    const { syms, scratch, byteIds } = this;
    const cs = this.charSymbols;
    if (cs === undefined) {
      for (let i = 0; i < n; i++) syms[i] = byteIds[scratch[i]!]!;
      return n;
    }
    let len = 0;
    let lastUnknown = false;
    let at = 0; // byte offset of the current character in scratch
    for (const c of word) {
      const bytes = c.length === 2 ? 4 : c.charCodeAt(0) < 0x80 ? 1 : c.charCodeAt(0) < 0x800 ? 2 : 3;
      const id = cs.chars.get(c);
      let unknown = false;
      if (id !== undefined) syms[len++] = id;
      else if (cs.byteFallback && this.hasByteTokens(at, bytes)) {
        for (let k = 0; k < bytes; k++) syms[len++] = byteIds[scratch[at + k]!]!;
      } else {
        unknown = true;
        if (!(cs.fuseUnk && lastUnknown)) syms[len++] = cs.unk!;
      }
      lastUnknown = unknown;
      at += bytes;
    }
    return len;
  }

  private hasByteTokens(at: number, bytes: number): boolean {
    for (let k = 0; k < bytes; k++) if (this.byteIds[this.scratch[at + k]!]! < 0) return false;
    return true;
  }

  private merge(word: string): Int32Array {
    const n = this.symbols(word);
    if (n > SHORT_WORD) return this.mergeLong(n);
    const { syms, pairRanks, mergedIds } = this;
    for (let i = 0; i + 1 < n; i++) pairRanks[i] = this.rank(syms[i]!, syms[i + 1]!);
    let len = n;
    for (;;) {
      let best = NONE;
      let at = -1;
      for (let i = 0; i + 1 < len; i++) {
        if (pairRanks[i]! < best) {
          best = pairRanks[i]!;
          at = i;
        }
      }
      if (at < 0) break;
      syms[at] = mergedIds[best]!;
      syms.copyWithin(at + 1, at + 2, len);
      pairRanks.copyWithin(at + 1, at + 2, len - 1);
      len--;
      if (at > 0) pairRanks[at - 1] = this.rank(syms[at - 1]!, syms[at]!);
      if (at + 1 < len) pairRanks[at] = this.rank(syms[at]!, syms[at + 1]!);
    }
    return syms.slice(0, len);
  }

  // The same rule with a linked list and a heap keyed by (rank, position):
  // positions keep their original order, so the smaller key is the leftmost.
  private mergeLong(n: number): Int32Array {
    const { mergedIds } = this;
    const syms = this.syms.slice(0, n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MinHeap(n);
    const POS = 2 ** 32;
    for (let i = 0; i + 1 < n; i++) {
      const r = this.rank(syms[i]!, syms[i + 1]!);
      if (r !== NONE) heap.push(r * POS + i);
    }
    let len = n;
    while (heap.size > 0) {
      const key = heap.pop();
      const r = Math.floor(key / POS);
      const at = key - r * POS;
      const j = next[at]!;
      // Stale entries: `at` was merged into its left neighbour (its slot is
      // unlinked: next = -2), or its pair changed since the entry was pushed.
      if (j < 0 || this.rank(syms[at]!, syms[j]!) !== r) continue;
      syms[at] = mergedIds[r]!;
      const after = next[j]!;
      next[at] = after;
      next[j] = -2;
      if (after >= 0) prev[after] = at;
      len--;
      const before = prev[at]!;
      if (before >= 0) {
        const rb = this.rank(syms[before]!, syms[at]!);
        if (rb !== NONE) heap.push(rb * POS + before);
      }
      if (after >= 0) {
        const ra = this.rank(syms[at]!, syms[after]!);
        if (ra !== NONE) heap.push(ra * POS + at);
      }
    }
    const out = new Int32Array(len);
    for (let i = 0, k = 0; i >= 0 && k < len; i = next[i]!) out[k++] = syms[i]!;
    return out;
  }
}

/** A binary min-heap of non-negative doubles. */
export class MinHeap {
  private data: Float64Array;
  size = 0;

  constructor(capacity = 16) {
    this.data = new Float64Array(Math.max(capacity, 16));
  }

  push(value: number): void {
    if (this.size === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const d = this.data;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent]! <= value) break;
      d[i] = d[parent]!;
      i = parent;
    }
    d[i] = value;
  }

  pop(): number {
    const d = this.data;
    const top = d[0]!;
    const last = d[--this.size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && d[child + 1]! < d[child]!) child++;
      if (d[child]! >= last) break;
      d[i] = d[child]!;
      i = child;
    }
    d[i] = last;
    return top;
  }
}
