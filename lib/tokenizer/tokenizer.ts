// The tokenizer: byte-level BPE (every byte is a token, so any text encodes and
// decodes back exactly, with no unknown token) plus special tokens that are only
// ever recognised in text when the caller asks, so user content cannot smuggle
// in a turn boundary.
import { BpeModel } from './bpe.js';
import { BYTE_CHARS, tokenBytes } from './bytes.js';
import { checkMessages, renderChat, type ChatMessage, type ChatOptions, type ChatResult } from './chat.js';
import { renderChatTemplate, type ChatTemplateSpec } from './template.js';
import { TokenizerError, describe } from './errors.js';
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

/** A tokenizer's contents, ids being positions in `vocab`. What tokenizer.json holds, in arrays. */
export interface TokenizerSpec {
  /** Token strings by id: ByteLevel strings (see bytes.ts) for BPE tokens, the literal text for special tokens. */
  vocab: readonly string[];
  /** BPE merges in rank order (earliest learned first), as [left id, right id]. */
  merges: ReadonlyArray<readonly [number, number]>;
  /** The ids of the special tokens; they must include SPECIAL_TOKENS (`<|pad|>` may be absent: pad is then eos). */
  special: readonly number[];
  /** What `encode(..., { addSpecialTokens: true })` puts around the text (tokenizer.json's post_processor); default: bos before. */
  template?: { prefix: readonly number[]; suffix: readonly number[] };
  /** The pre-tokenizer's Split pattern as tokenizer.json gives it (one of SPLIT_PATTERNS); default genrm's own. */
  pattern?: string;
  /**
   * tokenizer.json's model.ignore_merges (Llama 3): a pre-tokenized word that is itself a token is that token,
   * whatever the merges would make of it. Default false.
   */
  ignoreMerges?: boolean;
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

export class Tokenizer {
  /** The number of token ids (BPE tokens and special tokens): ids are 0 .. vocabSize - 1. */
  readonly vocabSize: number;
  /** `<|begin_of_text|>`: starts every sequence. */
  readonly bos: number;
  /** `<|end_of_text|>`: ends a document. */
  readonly eos: number;
  /** `<|pad|>`: fills a batch; never trained on. */
  readonly pad: number;
  /** `<|start_header_id|>`: opens a chat turn's role name. */
  readonly startHeader: number;
  /** `<|end_header_id|>`: closes it. */
  readonly endHeader: number;
  /** `<|eot_id|>`: ends a chat turn. */
  readonly eot: number;
  /** Every special token, text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The model's own chat template, when its tokenizer_config.json has one. */
  readonly chatTemplate: ChatTemplateSpec | undefined;

  private readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;
  private readonly merges: ReadonlyArray<readonly [number, number]>;
  private readonly isSpecialId: Uint8Array;
  private readonly bytes: Uint8Array[];
  private readonly prefix: Int32Array;
  private readonly suffix: Int32Array;
  private readonly model: BpeModel;
  private readonly pattern: string;
  private readonly words: RegExp;
  private readonly ignoreMerges: boolean;
  private readonly specialPattern: RegExp | undefined;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private readonly byteTables = new Map<number, { tokenBytes: Uint8Array; tokenOffsets: Int32Array }>();

  /**
   * Builds a tokenizer from its contents, checking them (all 256 byte tokens,
   * merges whose result is in the vocabulary, genrm's special tokens). `source`
   * prefixes error messages; field names are tokenizer.json's.
   */
  constructor(spec: TokenizerSpec, source = SOURCE) {
    function fail(detail: string, field: string): never {
      throw new TokenizerError(source, detail, field);
    }
    for (const field of ['vocab', 'merges', 'special'] as const) {
      if (!Array.isArray(spec?.[field])) fail(`expected an array, got ${describe(spec?.[field])}`, field);
    }
    const vocab = spec.vocab;
    const n = vocab.length;
    this.vocabSize = n;
    this.vocab = vocab.slice();
    this.isSpecialId = new Uint8Array(n);
    const special = new Map<string, number>();
    for (const id of spec.special) {
      if (!Number.isInteger(id) || id < 0 || id >= n)
        fail(`special token id ${describe(id)} is not an id of the vocabulary (0 .. ${n - 1})`, 'added_tokens');
      if (this.isSpecialId[id]) fail(`id ${id} is listed twice`, 'added_tokens');
      const content = vocab[id]!;
      if (typeof content !== 'string' || content === '')
        fail(`special token ${id} must be a non-empty string, got ${describe(content)}`, 'added_tokens');
      this.isSpecialId[id] = 1;
      special.set(content, id);
    }
    this.specialTokens = special;

    this.ids = new Map();
    this.bytes = new Array<Uint8Array>(n);
    const encoder = new TextEncoder();
    for (let id = 0; id < n; id++) {
      const token = vocab[id];
      if (typeof token !== 'string' || token === '')
        fail(`token ${id} must be a non-empty string, got ${describe(token)}`, 'model.vocab');
      const other = this.ids.get(token!);
      if (other !== undefined) fail(`token ${describe(token)} has two ids, ${other} and ${id}`, 'model.vocab');
      this.ids.set(token!, id);
      if (this.isSpecialId[id]) {
        this.bytes[id] = encoder.encode(token);
      } else {
        const b = tokenBytes(token!);
        if (b === undefined)
          fail(
            `token ${describe(token)} (id ${id}) is not a ByteLevel string (a character outside the 256-byte alphabet); text tokens must be, special tokens must be in added_tokens`,
            'model.vocab',
          );
        this.bytes[id] = b!;
      }
    }

    const byteIds = new Int32Array(256).fill(-1);
    for (let id = 0; id < n; id++)
      if (!this.isSpecialId[id] && this.bytes[id]!.length === 1) byteIds[this.bytes[id]![0]!] = id;
    const missing = byteIds.indexOf(-1);
    if (missing >= 0) {
      fail(
        `the token for byte 0x${missing.toString(16).padStart(2, '0')} (${describe(BYTE_CHARS[missing])}) is missing; a ByteLevel vocabulary needs all 256`,
        'model.vocab',
      );
    }

    const seen = new Set<number>();
    const triples: Array<[number, number, number]> = [];
    spec.merges.forEach((pair, rank) => {
      const field = `model.merges[${rank}]`;
      const [left, right] = pair;
      for (const id of [left, right]) {
        if (!Number.isInteger(id) || id < 0 || id >= n || this.isSpecialId[id])
          fail(`${describe(id)} is not the id of a text token`, field);
      }
      const key = left * n + right;
      if (seen.has(key)) fail(`the merge ${describe([vocab[left], vocab[right]])} is listed twice`, field);
      seen.add(key);
      const merged = this.ids.get(vocab[left]! + vocab[right]!);
      if (merged === undefined || this.isSpecialId[merged])
        fail(
          `merging ${describe([vocab[left], vocab[right]])} gives ${describe(vocab[left]! + vocab[right]!)}, which is not in model.vocab`,
          field,
        );
      triples.push([left, right, merged!]);
    });
    this.merges = spec.merges.map(([l, r]) => [l, r] as const);
    this.pattern = spec.pattern ?? PRETOKENIZE_PATTERN;
    const regex = splitRegex(this.pattern);
    if (regex === undefined)
      fail(
        `${describe(this.pattern)} is not supported: genrm splits with genrm's or Llama 3's pattern`,
        'pre_tokenizer.pretokenizers[0].pattern.Regex',
      );
    this.words = regex!;
    this.ignoreMerges = spec.ignoreMerges ?? false;
    this.chatTemplate = spec.chatTemplate;
    // ignore_merges: every text token is also a whole word, looked up by its bytes' ByteLevel string.
    const whole = this.ignoreMerges ? new Map<string, number>() : undefined;
    if (whole) for (let id = 0; id < n; id++) if (!this.isSpecialId[id]) whole.set(vocab[id]!, id);
    this.model = new BpeModel(byteIds, triples, n, whole);

    const named = (name: SpecialTokenName): number => {
      const id = special.get(SPECIAL_TOKENS[name]);
      if (id === undefined)
        fail(
          `the special token ${describe(SPECIAL_TOKENS[name])} (${name}) is missing; genrm needs ${Object.values(
            SPECIAL_TOKENS,
          )
            .filter((t) => t !== SPECIAL_TOKENS.pad)
            .join(' ')}`,
          'added_tokens',
        );
      return id!;
    };
    this.bos = named('bos');
    this.eos = named('eos');
    // Published tokenizers (Llama 3's) have no <|pad|>; genrm packs batches and never pads, so eos stands in.
    this.pad = special.get(SPECIAL_TOKENS.pad) ?? this.eos;
    this.startHeader = named('startHeader');
    this.endHeader = named('endHeader');
    this.eot = named('eot');

    const template = spec.template ?? { prefix: [this.bos], suffix: [] };
    for (const id of [...template.prefix, ...template.suffix]) {
      if (!Number.isInteger(id) || id < 0 || id >= n)
        fail(`${describe(id)} is not an id of the vocabulary`, 'post_processor');
    }
    this.prefix = Int32Array.from(template.prefix);
    this.suffix = Int32Array.from(template.suffix);

    // Longest first: at each position the longest special token wins, as in HF.
    const contents = [...special.keys()].sort((a, b) => b.length - a.length);
    this.specialPattern = contents.length
      ? new RegExp(contents.map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g')
      : undefined;
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
    if (!allowSpecial || this.specialPattern === undefined) {
      this.encodeOrdinary(text, out);
      return;
    }
    const pattern = this.specialPattern;
    pattern.lastIndex = 0;
    let start = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const end = m.index + m[0].length;
      if (textSpans.some(([a, b]) => m.index < b && end > a)) continue;
      if (m.index > start) this.encodeOrdinary(text.slice(start, m.index), out);
      out.push([this.specialTokens.get(m[0])!]);
      start = m.index + m[0].length;
    }
    if (start < text.length) this.encodeOrdinary(text.slice(start), out);
  }

  private encodeOrdinary(text: string, out: IdBuffer): void {
    for (const word of preTokenize(text, this.words)) out.push(this.model.encodeWord(word));
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
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`decode: ids[${i}] = ${describe(id)} is not a token id (0 .. ${this.vocabSize - 1})`);
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
    return this.decoder.decode(buffer);
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
    return {
      vocab: this.vocab.slice(),
      merges: this.merges.map(([l, r]) => [l, r] as const),
      special: [...this.specialTokens.values()],
      template: { prefix: [...this.prefix], suffix: [...this.suffix] },
      pattern: this.pattern,
      ignoreMerges: this.ignoreMerges,
      ...(this.chatTemplate ? { chatTemplate: this.chatTemplate } : {}),
    };
  }
}
