// The tokenizer: BPE over bytes (GPT-2's byte-level alphabet: every byte is a
// token, so any text encodes and decodes back exactly, with no unknown token) or
// over characters (SentencePiece-style, Llama 2: "▁" for spaces, <0xNN> tokens
// for characters outside the vocabulary), plus special tokens that are only
// ever recognised in text when the caller asks, so user content cannot smuggle
// in a turn boundary. Added tokens that are not special (Qwen3's <think>) are
// ordinary vocabulary to the model and are matched in any text, as HF does.
import { BpeModel, type CharSymbols } from './bpe.js';
import { BYTE_CHARS, tokenBytes } from './bytes.js';
import { checkMessages, renderChat, type ChatMessage, type ChatOptions, type ChatResult } from './chat.js';
import { renderChatTemplate, turnEndText, type ChatTemplateSpec } from './template.js';
import { TokenizerError, describe } from './errors.js';
import { SPACE_MARK, normalize, type Normalizer } from './normalize.js';
import { PRETOKENIZE_PATTERN, preTokenize, splitRegex, wellFormed } from './pretokenize.js';

/** genrm's special tokens by name: Llama 3's layout, with `<|pad|>` for padding. The trainer always adds them. */
export const SPECIAL_TOKENS = {
  bos: '<|begin_of_text|>',
  eos: '<|end_of_text|>',
  startHeader: '<|start_header_id|>',
  endHeader: '<|end_header_id|>',
  eot: '<|eot_id|>',
  pad: '<|pad|>',
} as const;

export type SpecialTokenName = keyof typeof SPECIAL_TOKENS;

/** How a BPE model's tokens stand for text (tokenizer.json's model, pre-tokenizer and decoder together). */
export type TokenizerModelKind = 'byteLevel' | 'sentencePiece';

/** A tokenizer's contents, ids being positions in `vocab`. What tokenizer.json holds, in arrays. */
export interface TokenizerSpec {
  /**
   * Token strings by id: ByteLevel strings (see bytes.ts) or SentencePiece pieces for BPE tokens, the literal
   * text for added tokens; '' for an id no token has (published files may skip ids).
   */
  vocab: readonly string[];
  /** BPE merges in rank order (earliest learned first), as [left id, right id]. */
  merges: ReadonlyArray<readonly [number, number]>;
  /** The ids of the special tokens. genrm's chat layout and trainer use SPECIAL_TOKENS (`<|pad|>` may be absent: pad is then eos). */
  special: readonly number[];
  /** The ids of added tokens that are not special (tokenizer.json's "special": false): matched in any text. */
  added?: readonly number[];
  /** What `encode(..., { addSpecialTokens: true })` puts around the text (tokenizer.json's post_processor); default: bos before, if there is one. */
  template?: { prefix: readonly number[]; suffix: readonly number[] };
  /** 'byteLevel' (default) or 'sentencePiece' (Llama 2's design: its normalizer, no pre-tokenizer, byte fallback). */
  model?: TokenizerModelKind;
  /** byteLevel: tokenizer.json's normalizer, 'NFC' or none (default). */
  normalizer?: 'NFC';
  /** byteLevel: the pre-tokenizer's Split pattern as tokenizer.json gives it (one of SPLIT_PATTERNS); default genrm's own. */
  pattern?: string;
  /**
   * tokenizer.json's model.ignore_merges (Llama 3): a pre-tokenized word that is itself a token is that token,
   * whatever the merges would make of it. Default false.
   */
  ignoreMerges?: boolean;
  /** sentencePiece: model.unk_token's id. */
  unk?: number;
  /** sentencePiece: model.byte_fallback, a character without a token becomes its <0xNN> byte tokens. Default false. */
  byteFallback?: boolean;
  /** sentencePiece: model.fuse_unk, consecutive unknown characters make one unk_token. Default false. */
  fuseUnk?: boolean;
  /** The model's own chat template (tokenizer_config.json); absent: genrm's layout (chat.ts). */
  chatTemplate?: ChatTemplateSpec;
}

export interface EncodeOptions {
  /** Put the template's special tokens around the text (bos before it, by default). Default false. */
  addSpecialTokens?: boolean;
  /**
   * Recognise special-token strings in the text and emit their ids. Default false:
   * "<|eot_id|>" in the text is encoded as ordinary characters, so untrusted text
   * can never inject a special token.
   */
  allowSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens out of the text. Default false. */
  skipSpecialTokens?: boolean;
}

// Ids are written into one growing buffer: bulk encoding makes no array per word.
class IdBuffer {
  data: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }

  push(ids: ArrayLike<number>): void {
    const n = ids.length;
    if (this.length + n > this.data.length) {
      const grown = new Int32Array(Math.max(this.data.length * 2, this.length + n));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    const d = this.data;
    let at = this.length;
    for (let i = 0; i < n; i++) d[at++] = ids[i]!;
    this.length = at;
  }

  finish(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

const SOURCE = 'tokenizer';
const EMPTY = new Uint8Array(0);
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The bytes a SentencePiece piece stands for: <0xNN> is byte NN, "▁" a space (its decoder's Replace and ByteFallback). */
function pieceBytes(piece: string, encoder: { encode(s: string): Uint8Array }): Uint8Array {
  const byte = BYTE_PIECE.exec(piece);
  return byte ? Uint8Array.of(parseInt(byte[1]!, 16)) : encoder.encode(piece.replaceAll(SPACE_MARK, ' '));
}

/** A regex matching any of `contents`, longest first (at each position the longest wins, as in HF). */
function alternation(contents: Iterable<string>): RegExp | undefined {
  const sorted = [...contents].sort((a, b) => b.length - a.length);
  return sorted.length
    ? new RegExp(sorted.map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g')
    : undefined;
}

export class Tokenizer {
  /** The number of token ids (BPE tokens and added tokens): ids are 0 .. vocabSize - 1. */
  readonly vocabSize: number;
  /** Every special token, text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Added tokens that are not special, text → id: matched wherever they appear in text. */
  readonly addedTokens: ReadonlyMap<string, number>;
  /** The model's own chat template, when its tokenizer_config.json has one. */
  readonly chatTemplate: ChatTemplateSpec | undefined;

  private readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;
  private readonly merges: ReadonlyArray<readonly [number, number]>;
  private readonly isSpecialId: Uint8Array;
  private readonly isAddedId: Uint8Array;
  private readonly bytes: Uint8Array[];
  private readonly prefix: Int32Array;
  private readonly suffix: Int32Array;
  private readonly model: BpeModel;
  private readonly kind: TokenizerModelKind;
  private readonly normalizer: Normalizer | undefined;
  private readonly pattern: string | undefined;
  private readonly words: RegExp | undefined;
  private readonly ignoreMerges: boolean;
  private readonly chars: CharSymbols | undefined;
  /** sentencePiece: splits a stretch where no token crosses (see the constructor), so words can be cached. */
  private readonly pieces: RegExp | undefined;
  private readonly named = new Map<SpecialTokenName, number>();
  /** Non-special added tokens; and those with the special ones. */
  private readonly addedPattern: RegExp | undefined;
  private readonly anyAddedPattern: RegExp | undefined;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private readonly byteTables = new Map<number, { tokenBytes: Uint8Array; tokenOffsets: Int32Array }>();

  /**
   * Builds a tokenizer from its contents, checking them (all 256 byte tokens,
   * merges whose result is in the vocabulary, added token ids). `source`
   * prefixes error messages; field names are tokenizer.json's.
   */
  constructor(spec: TokenizerSpec, source = SOURCE) {
    function fail(detail: string, field: string): never {
      throw new TokenizerError(source, detail, field);
    }
    for (const field of ['vocab', 'merges', 'special'] as const) {
      if (!Array.isArray(spec?.[field])) fail(`expected an array, got ${describe(spec?.[field])}`, field);
    }
    if (spec.added !== undefined && !Array.isArray(spec.added))
      fail(`expected an array, got ${describe(spec.added)}`, 'added_tokens');
    const kind = spec.model ?? 'byteLevel';
    if (kind !== 'byteLevel' && kind !== 'sentencePiece')
      fail(`${describe(kind)} is not supported: genrm's BPE models are "byteLevel" and "sentencePiece"`, 'model');
    this.kind = kind;
    if (spec.normalizer !== undefined && (spec.normalizer !== 'NFC' || kind !== 'byteLevel'))
      fail(
        `${describe(spec.normalizer)} is not supported: a byte-level tokenizer's normalizer is "NFC" or none`,
        'normalizer',
      );
    this.normalizer = kind === 'sentencePiece' ? 'sentencePiece' : spec.normalizer;
    const vocab = spec.vocab;
    const n = vocab.length;
    this.vocabSize = n;
    this.vocab = vocab.slice();
    this.isSpecialId = new Uint8Array(n);
    this.isAddedId = new Uint8Array(n);
    const special = new Map<string, number>();
    const added = new Map<string, number>();
    for (const [list, map, mark] of [
      [spec.special, special, this.isSpecialId],
      [spec.added ?? [], added, this.isAddedId],
    ] as const) {
      for (const id of list) {
        if (!Number.isInteger(id) || id < 0 || id >= n)
          fail(`added token id ${describe(id)} is not an id of the vocabulary (0 .. ${n - 1})`, 'added_tokens');
        if (this.isSpecialId[id] || this.isAddedId[id]) fail(`id ${id} is listed twice`, 'added_tokens');
        const content = vocab[id]!;
        if (typeof content !== 'string' || content === '')
          fail(`added token ${id} must be a non-empty string, got ${describe(content)}`, 'added_tokens');
        mark[id] = 1;
        map.set(content, id);
      }
    }
    this.specialTokens = special;
    this.addedTokens = added;

    this.ids = new Map();
    this.bytes = new Array<Uint8Array>(n);
    const encoder = new TextEncoder();
    const byteIds = new Int32Array(256).fill(-1);
    const chars = new Map<string, number>();
    for (let id = 0; id < n; id++) {
      const token = vocab[id];
      if (typeof token !== 'string') fail(`token ${id} must be a string, got ${describe(token)}`, 'model.vocab');
      if (token === '') {
        this.bytes[id] = EMPTY; // no token has this id
        continue;
      }
      const other = this.ids.get(token);
      if (other !== undefined) fail(`token ${describe(token)} has two ids, ${other} and ${id}`, 'model.vocab');
      this.ids.set(token, id);
      if (this.isSpecialId[id] || this.isAddedId[id]) {
        this.bytes[id] = encoder.encode(token);
      } else if (kind === 'sentencePiece') {
        this.bytes[id] = pieceBytes(token, encoder);
        const byte = BYTE_PIECE.exec(token);
        // HF spells byte tokens <0xNN> with upper-case hex; only those are looked up.
        if (byte && byte[1] === byte[1]!.toUpperCase()) byteIds[parseInt(byte[1]!, 16)] = id;
        if ([...token].length === 1) chars.set(token, id);
      } else {
        const b = tokenBytes(token);
        if (b === undefined)
          fail(
            `token ${describe(token)} (id ${id}) is not a ByteLevel string (a character outside the 256-byte alphabet); text tokens must be, special tokens must be in added_tokens`,
            'model.vocab',
          );
        this.bytes[id] = b;
        if (b.length === 1) byteIds[b[0]!] = id;
      }
    }

    const missing = byteIds.indexOf(-1);
    if (kind === 'byteLevel') {
      if (missing >= 0)
        fail(
          `the token for byte 0x${missing.toString(16).padStart(2, '0')} (${describe(BYTE_CHARS[missing])}) is missing; a ByteLevel vocabulary needs all 256`,
          'model.vocab',
        );
      for (const f of ['unk', 'byteFallback', 'fuseUnk'] as const)
        if (spec[f] !== undefined && spec[f] !== false)
          fail(`${describe(spec[f])} is not supported: a byte-level vocabulary has every byte, so no unknown token`, f);
    } else {
      const unk = spec.unk;
      if (unk !== undefined && (!Number.isInteger(unk) || unk < 0 || unk >= n || vocab[unk] === ''))
        fail(`${describe(unk)} is not the id of a token`, 'model.unk_token');
      const byteFallback = spec.byteFallback ?? false;
      if (unk === undefined && !(byteFallback && missing < 0))
        fail(
          byteFallback
            ? `nothing (the field is null), and byte 0x${missing.toString(16).padStart(2, '0')} has no <0xNN> token, so some text has no tokens`
            : 'nothing (the field is null), and byte_fallback is false, so a character outside the vocabulary has no token',
          'model.unk_token',
        );
      this.chars = { chars, byteFallback, unk, fuseUnk: spec.fuseUnk ?? false };
      // BPE never merges across a point no token spans, and the merges on either
      // side do not depend on the other. When no token has "▁" after another
      // character (Llama 2's), that holds before every "▁" that follows a
      // character, so the stretch (one word to BPE) is split there: same ids,
      // but words short enough to cache.
      const crossing = vocab.some(
        (token, id) => !this.isSpecialId[id] && !this.isAddedId[id] && /[^\u2581]\u2581/u.test(token),
      );
      if (!crossing && chars.has(SPACE_MARK) && !spec.ignoreMerges) this.pieces = /\u2581+[^\u2581]*|[^\u2581]+/gu;
    }

    const seen = new Set<number>();
    const triples: Array<[number, number, number]> = [];
    const isText = (id: number) => vocab[id] !== '' && !this.isSpecialId[id] && !this.isAddedId[id];
    spec.merges.forEach((pair, rank) => {
      const field = `model.merges[${rank}]`;
      const [left, right] = pair;
      for (const id of [left, right]) {
        if (!Number.isInteger(id) || id < 0 || id >= n || !isText(id))
          fail(`${describe(id)} is not the id of a text token`, field);
      }
      const key = left * n + right;
      if (seen.has(key)) fail(`the merge ${describe([vocab[left], vocab[right]])} is listed twice`, field);
      seen.add(key);
      const merged = this.ids.get(vocab[left]! + vocab[right]!);
      if (merged === undefined || !isText(merged))
        fail(
          `merging ${describe([vocab[left], vocab[right]])} gives ${describe(vocab[left]! + vocab[right]!)}, which is not in model.vocab`,
          field,
        );
      triples.push([left, right, merged!]);
    });
    this.merges = spec.merges.map(([l, r]) => [l, r] as const);
    if (kind === 'byteLevel') {
      this.pattern = spec.pattern ?? PRETOKENIZE_PATTERN;
      const regex = splitRegex(this.pattern);
      if (regex === undefined)
        fail(
          `${describe(this.pattern)} is not supported: genrm splits with the patterns of SPLIT_PATTERNS (genrm's, Llama 3's, Qwen2's, o200k)`,
          'pre_tokenizer.pretokenizers[0].pattern.Regex',
        );
      this.words = regex;
    } else if (spec.pattern !== undefined) {
      fail(
        `${describe(spec.pattern)} is not supported: a SentencePiece-style tokenizer has no pre-tokenizer`,
        'pre_tokenizer',
      );
    }
    this.ignoreMerges = spec.ignoreMerges ?? false;
    this.chatTemplate = spec.chatTemplate;
    // ignore_merges: every text token is also a whole word, looked up by its string.
    const whole = this.ignoreMerges ? new Map<string, number>() : undefined;
    if (whole) for (let id = 0; id < n; id++) if (isText(id)) whole.set(vocab[id]!, id);
    this.model = new BpeModel(byteIds, triples, n, whole, this.chars);

    for (const [name, content] of Object.entries(SPECIAL_TOKENS) as Array<[SpecialTokenName, string]>) {
      const id = special.get(content);
      if (id !== undefined) this.named.set(name, id);
    }

    const bos = this.named.get('bos');
    const template = spec.template ?? { prefix: bos === undefined ? [] : [bos], suffix: [] };
    for (const id of [...template.prefix, ...template.suffix]) {
      if (!Number.isInteger(id) || id < 0 || id >= n || vocab[id] === '')
        fail(`${describe(id)} is not an id of the vocabulary`, 'post_processor');
    }
    this.prefix = Int32Array.from(template.prefix);
    this.suffix = Int32Array.from(template.suffix);
    this.addedPattern = alternation(added.keys());
    this.anyAddedPattern = alternation([...special.keys(), ...added.keys()]);
  }

  private namedId(name: SpecialTokenName): number {
    const id = this.named.get(name);
    if (id === undefined)
      throw new TokenizerError(
        SOURCE,
        `this tokenizer has no ${SPECIAL_TOKENS[name]} (${name}), which genrm's chat layout uses; its special tokens are ${[...this.specialTokens.keys()].join(' ') || 'none'}`,
        name,
      );
    return id;
  }

  /** `<|begin_of_text|>`: starts every sequence. An error for a tokenizer without it (see hasSpecialToken). */
  get bos(): number {
    return this.namedId('bos');
  }
  /** `<|end_of_text|>`: ends a document. */
  get eos(): number {
    return this.namedId('eos');
  }
  /** `<|pad|>`: fills a batch; never trained on. Published tokenizers (Llama 3's) have none; eos stands in. */
  get pad(): number {
    return this.named.get('pad') ?? this.eos;
  }
  /** `<|start_header_id|>`: opens a chat turn's role name. */
  get startHeader(): number {
    return this.namedId('startHeader');
  }
  /** `<|end_header_id|>`: closes it. */
  get endHeader(): number {
    return this.namedId('endHeader');
  }
  /** `<|eot_id|>`: ends a chat turn. */
  get eot(): number {
    return this.namedId('eot');
  }

  /**
   * The ids that end an assistant's turn: what the model's chat template writes
   * after an assistant message, up to its first special token (Llama 3's
   * `<|eot_id|>`, Qwen's `<|im_end|>`), else genrm's `<|eot_id|>`. A judge's
   * verdict is followed by these, and generation stops on their last id.
   */
  get turnEnd(): Int32Array {
    if (this.turnEndIds === undefined) {
      const text = this.chatTemplate ? turnEndText(this, this.chatTemplate) : undefined;
      if (text === undefined && this.chatTemplate)
        throw new TokenizerError(
          'chat_template',
          'writes no special token after an assistant message, so the end of a turn is unknown',
          'chat_template',
        );
      this.turnEndIds = text === undefined ? Int32Array.of(this.eot) : this.encode(text, { allowSpecial: true });
    }
    return this.turnEndIds;
  }
  private turnEndIds: Int32Array | undefined;

  /** Whether this tokenizer has genrm's special token `name` (SPECIAL_TOKENS), so that `tokenizer[name]` is its id. */
  hasSpecialToken(name: SpecialTokenName): boolean {
    return name === 'pad' ? this.named.has('pad') || this.named.has('eos') : this.named.has(name);
  }

  /**
   * Token ids of `text`. Text is taken as UTF-8: a lone surrogate (not valid
   * UTF-16, so not encodable) becomes U+FFFD, exactly as TextEncoder does it.
   */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`encode: expected a string, got ${describe(text)}`);
    // Most text is about 4 bytes per token; growing the buffer is rare.
    const out = new IdBuffer((text.length >> 2) + 8);
    if (options.addSpecialTokens) out.push(this.prefix);
    this.encodeText(wellFormed(text), options.allowSpecial ?? false, out);
    if (options.addSpecialTokens) out.push(this.suffix);
    return out.finish();
  }

  /** `encode` over many texts. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Int32Array[] {
    if (!Array.isArray(texts)) throw new TypeError(`encodeBatch: expected an array of strings, got ${describe(texts)}`);
    return texts.map((text, i) => {
      if (typeof text !== 'string')
        throw new TypeError(`encodeBatch: texts[${i}]: expected a string, got ${describe(text)}`);
      return this.encode(text, options);
    });
  }

  /**
   * `encode(text, { allowSpecial: true })`, except that special-token strings overlapping one of `spans`
   * ([start, end) offsets; a chat's message contents) are encoded as text.
   */
  encodeOutside(text: string, spans: ReadonlyArray<readonly [number, number]>): Int32Array {
    const out = new IdBuffer((text.length >> 2) + 8);
    this.encodeText(wellFormed(text), true, out, spans);
    return out.finish();
  }

  private encodeText(
    text: string,
    allowSpecial: boolean,
    out: IdBuffer,
    textSpans: ReadonlyArray<readonly [number, number]> = [],
  ): void {
    const pattern = allowSpecial ? this.anyAddedPattern : this.addedPattern;
    if (pattern === undefined) {
      this.encodeOrdinary(text, out);
      return;
    }
    pattern.lastIndex = 0;
    let start = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const end = m.index + m[0].length;
      const id = this.ids.get(m[0])!;
      if (this.isSpecialId[id] && textSpans.some(([a, b]) => m.index < b && end > a)) {
        // Text, not a special token: look again from the next character.
        pattern.lastIndex = m.index + 1;
        continue;
      }
      if (m.index > start) this.encodeOrdinary(text.slice(start, m.index), out);
      out.push([id]);
      start = end;
    }
    if (start < text.length) this.encodeOrdinary(text.slice(start), out);
  }

  private encodeOrdinary(text: string, out: IdBuffer): void {
    const normal = normalize(text, this.normalizer);
    // SentencePiece-style BPE has no pre-tokenizer: the whole stretch is one word, unless split where no token crosses.
    const words = this.words ?? this.pieces;
    if (words === undefined) out.push(this.model.encodeWord(normal));
    else for (const word of preTokenize(normal, words)) out.push(this.model.encodeWord(word));
  }

  /**
   * The text of `ids`. Exact inverse of encode for whole sequences; a slice that
   * cuts a character's UTF-8 bytes apart decodes that character as U+FFFD.
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')
      throw new TypeError(`decode: expected an array of token ids, got ${describe(ids)}`);
    const skip = options.skipSpecialTokens ?? false;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.vocab[id] === '') {
        throw new RangeError(
          `decode: ids[${i}] = ${describe(id)} is not a token id (0 .. ${this.vocabSize - 1}${this.vocab[id] === '' ? ', but no token has this one' : ''})`,
        );
      }
      if (!(skip && this.isSpecialId[id])) total += this.bytes[id]!.length;
    }
    const buffer = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (skip && this.isSpecialId[id]) continue;
      const b = this.bytes[id]!;
      if (b.length === 1) buffer[at++] = b[0]!;
      else {
        buffer.set(b, at);
        at += b.length;
      }
    }
    const text = this.decoder.decode(buffer);
    // SentencePiece's decoder ends with Strip: the space its normalizer put first goes.
    return this.kind === 'sentencePiece' && text.startsWith(' ') ? text.slice(1) : text;
  }

  /**
   * The bytes of every token id, flat: id t stands for
   * `tokenBytes.subarray(tokenOffsets[t], tokenOffsets[t + 1])`. Special tokens
   * stand for no bytes (as in `decode(ids, { skipSpecialTokens: true })`), and so
   * do ids from `vocabSize` up to `size` (a model vocabulary may be larger than
   * its tokenizer's). The engine matches stop strings on these bytes; spread it
   * into `Model.generate`'s options. Built once per size and shared: do not
   * modify the arrays.
   */
  byteTable(size = this.vocabSize): { tokenBytes: Uint8Array; tokenOffsets: Int32Array } {
    if (!Number.isInteger(size) || size < this.vocabSize)
      throw new RangeError(
        `byteTable: size: expected an integer >= vocabSize (${this.vocabSize}), got ${describe(size)}`,
      );
    let table = this.byteTables.get(size);
    if (table === undefined) {
      const offsets = new Int32Array(size + 1);
      for (let id = 0; id < size; id++)
        offsets[id + 1] = offsets[id]! + (id < this.vocabSize && !this.isSpecialId[id] ? this.bytes[id]!.length : 0);
      const bytes = new Uint8Array(offsets[size]!);
      for (let id = 0; id < this.vocabSize; id++) if (!this.isSpecialId[id]) bytes.set(this.bytes[id]!, offsets[id]!);
      table = { tokenBytes: bytes, tokenOffsets: offsets };
      this.byteTables.set(size, table);
    }
    return table;
  }

  /** The id of a token string (a ByteLevel string, or a special token's text), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** The token string of an id (ByteLevel string, or a special token's text). */
  idToToken(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      throw new RangeError(`idToToken: ${describe(id)} is not a token id (0 .. ${this.vocabSize - 1})`);
    return this.vocab[id]!;
  }

  /** The id of a special token by its text, e.g. "<|eot_id|>"; an error if this tokenizer has no such special token. */
  specialTokenId(token: string): number {
    const id = this.specialTokens.get(token);
    if (id === undefined) {
      throw new TokenizerError(
        SOURCE,
        `${describe(token)} is not a special token of this tokenizer; it has ${[...this.specialTokens.keys()].join(' ')}`,
        'specialTokenId',
      );
    }
    return id;
  }

  /** Whether `id` is a special token. */
  isSpecial(id: number): boolean {
    return this.isSpecialId[id] === 1;
  }

  /**
   * A conversation in the model's own chat template when the tokenizer has one
   * (tokenizer_config.json's chat_template, rendered as transformers renders it;
   * special-token strings inside contents stay text), else in genrm's (Llama 3's) layout:
   * `<|begin_of_text|>` then per message `<|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>`,
   * then with addGenerationPrompt the header of an assistant turn. Contents are
   * used as given (not trimmed) and encoded as plain text: special-token strings
   * in them are not recognised.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatOptions = {}): ChatResult {
    checkMessages(messages);
    if (this.chatTemplate) return renderChatTemplate(this, this.chatTemplate, messages, options);
    return renderChat(this, messages, options);
  }

  /** The contents, for saving (copies). */
  toSpec(): TokenizerSpec {
    const chars = this.chars;
    return {
      vocab: this.vocab.slice(),
      merges: this.merges.map(([l, r]) => [l, r] as const),
      special: [...this.specialTokens.values()],
      ...(this.addedTokens.size ? { added: [...this.addedTokens.values()] } : {}),
      template: { prefix: [...this.prefix], suffix: [...this.suffix] },
      ...(this.kind === 'byteLevel' ? { pattern: this.pattern } : { model: this.kind }),
      ...(this.normalizer === 'NFC' ? { normalizer: this.normalizer } : {}),
      ignoreMerges: this.ignoreMerges,
      ...(chars
        ? {
            ...(chars.unk !== undefined ? { unk: chars.unk } : {}),
            byteFallback: chars.byteFallback,
            fuseUnk: chars.fuseUnk,
          }
        : {}),
      ...(this.chatTemplate ? { chatTemplate: this.chatTemplate } : {}),
    };
  }
}
