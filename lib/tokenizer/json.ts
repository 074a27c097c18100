// tokenizer.json: Hugging Face `tokenizers`' file, so transformers,
// tokenizers.js and others read genrm's tokenizers. genrm reads and writes two
// designs of BPE, each as published, and refuses any other pipeline by field:
//  - byte-level (genrm's own, Llama 3, Qwen2/3, GPT-4o): normalizer null or
//    NFC; pre_tokenizer Sequence [Split on a pattern of SPLIT_PATTERNS,
//    ByteLevel without its own regex]; decoder ByteLevel;
//  - SentencePiece-style (Llama 2): normalizer Sequence [Prepend "▁", Replace
//    " " → "▁"], no pre_tokenizer, byte_fallback, decoder Sequence [Replace,
//    ByteFallback, Fuse, Strip].
// Added tokens are special or not (matched in all text); ids may skip a few
// numbers. genrm writes: model BPE, vocab and merges as "left right" strings;
// added_tokens with ids after the BPE tokens when they are (else also in
// model.vocab); post_processor TemplateProcessing for what
// encode(..., { addSpecialTokens: true }) adds (bos for genrm's own), or null.
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readOptionalJsonObject } from '../util/json-file.js';
import { TokenizerError, describe } from './errors.js';
import { SPACE_MARK } from './normalize.js';
import { PRETOKENIZE_PATTERN, SPLIT_PATTERNS } from './pretokenize.js';
import { chatTemplateOf } from './template.js';
import { Tokenizer, type TokenizerModelKind, type TokenizerSpec } from './tokenizer.js';

const int = () =>
  z
    .number({ error: 'expected a non-negative integer' })
    .int({ error: 'expected a non-negative integer' })
    .nonnegative({ error: 'expected a non-negative integer' });
const flag = () => z.boolean({ error: 'expected true or false' }).optional();

const addedTokenSchema = z.looseObject({
  id: int(),
  content: z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' }),
  single_word: flag(),
  lstrip: flag(),
  rstrip: flag(),
  normalized: flag(),
  special: flag(),
});

const templateItemSchema = z
  .looseObject({
    SpecialToken: z.looseObject({ id: z.string({ error: 'expected a string' }) }).optional(),
    Sequence: z.looseObject({ id: z.enum(['A', 'B'], { error: 'expected "A" or "B"' }) }).optional(),
  })
  .refine((item) => (item.SpecialToken === undefined) !== (item.Sequence === undefined), {
    error: 'expected { "SpecialToken": ... } or { "Sequence": ... }',
  });
const templateSchema = z.looseObject({
  type: z.literal('TemplateProcessing', { error: 'expected "TemplateProcessing", "ByteLevel", "Sequence" or null' }),
  single: z.array(templateItemSchema, { error: 'expected an array' }),
  special_tokens: z.record(z.string(), z.looseObject({ ids: z.array(int()) })).optional(),
});

const tokenizerJsonSchema = z.looseObject({
  added_tokens: z.array(addedTokenSchema, { error: 'expected an array' }),
  model: z.looseObject({
    vocab: z.record(z.string(), int(), { error: 'expected an object of token → id' }),
    merges: z.array(
      z.union([z.string(), z.tuple([z.string(), z.string()])], { error: 'expected "left right" or ["left", "right"]' }),
      { error: 'expected an array' },
    ),
  }),
});

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/** What checkPipeline found: the tokenizer.json pieces that decide how text becomes tokens. */
interface Pipeline {
  kind: TokenizerModelKind;
  normalizer?: 'NFC';
  pattern?: string;
  unkToken?: string;
  byteFallback?: boolean;
  fuseUnk?: boolean;
}

// SentencePiece-style BPE as Llama 2 publishes it (Mistral's files are the same design).
const SP_NORMALIZER = {
  type: 'Sequence',
  normalizers: [
    { type: 'Prepend', prepend: SPACE_MARK },
    { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARK },
  ],
};
const SP_DECODER = {
  type: 'Sequence',
  decoders: [
    { type: 'Replace', pattern: { String: SPACE_MARK }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
  ],
};
const SP_FORM = `normalizer Sequence [Prepend "▁", Replace " " → "▁"], pre_tokenizer null, decoder Sequence [Replace "▁" → " ", ByteFallback, Fuse, Strip " " (1, 0)]: Llama 2's published form`;

/** JSON values equal, object keys in any order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/** Fields whose value genrm does not implement: checked before the shape, so the message names the feature. */
function checkPipeline(raw: Record<string, unknown>, source: string): Pipeline {
  const unsupported = (field: string, value: unknown, why: string): never => {
    throw new TokenizerError(source, `${describe(value)} is not supported: ${why}`, field);
  };
  const at = (value: unknown, key: string): unknown =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  const model = raw.model;
  if (typeof model !== 'object' || model === null || Array.isArray(model))
    throw new TokenizerError(source, `expected an object, got ${describe(model)}`, 'model');
  const type = at(model, 'type');
  // HF omits "type" in some old files; BPE is recognisable by its merges.
  if (type !== 'BPE' && !(type === undefined && 'merges' in model))
    unsupported('model.type', type, 'genrm reads BPE tokenizers ("BPE") only');
  const m = model as Record<string, unknown>;
  if (m.dropout !== undefined && m.dropout !== null)
    unsupported('model.dropout', m.dropout, 'BPE dropout is a training-time augmentation; use null');
  for (const f of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (m[f] !== undefined && m[f] !== null && m[f] !== '')
      unsupported(`model.${f}`, m[f], "genrm's BPE has no subword markers; use null");
  }
  for (const f of ['ignore_merges', 'byte_fallback', 'fuse_unk'] as const) {
    if (m[f] !== undefined && typeof m[f] !== 'boolean')
      throw new TokenizerError(source, `expected true or false, got ${describe(m[f])}`, `model.${f}`);
  }
  for (const f of ['truncation', 'padding'] as const) {
    if (raw[f] !== null && raw[f] !== undefined)
      unsupported(f, raw[f], 'genrm truncates and pads batches itself; use null');
  }

  const pre = raw.pre_tokenizer;
  const sentencePiece =
    pre === null || pre === undefined || at(pre, 'type') === 'Metaspace' || at(raw.normalizer, 'type') === 'Sequence';
  if (sentencePiece) {
    if (!sameJson(raw.normalizer, SP_NORMALIZER))
      unsupported('normalizer', raw.normalizer, `genrm reads SentencePiece-style BPE as ${SP_FORM}`);
    if (pre !== null && pre !== undefined)
      unsupported('pre_tokenizer', pre, `genrm reads SentencePiece-style BPE as ${SP_FORM}`);
    if (!sameJson(raw.decoder, SP_DECODER))
      unsupported('decoder', raw.decoder, `genrm reads SentencePiece-style BPE as ${SP_FORM}`);
    if (m.unk_token !== undefined && m.unk_token !== null && typeof m.unk_token !== 'string')
      throw new TokenizerError(source, `expected a token or null, got ${describe(m.unk_token)}`, 'model.unk_token');
    return {
      kind: 'sentencePiece',
      ...(typeof m.unk_token === 'string' ? { unkToken: m.unk_token } : {}),
      byteFallback: m.byte_fallback === true,
      fuseUnk: m.fuse_unk === true,
    };
  }

  if (m.byte_fallback === true)
    unsupported('model.byte_fallback', true, 'a byte-level vocabulary has a token for every byte; use false');
  const normalizer = raw.normalizer;
  if (normalizer !== null && normalizer !== undefined && !sameJson(normalizer, { type: 'NFC' }))
    unsupported('normalizer', normalizer, 'a byte-level tokenizer\'s normalizer is null or { "type": "NFC" }');
  const want = `Sequence [Split (a pattern of SPLIT_PATTERNS, "Isolated"), ByteLevel (use_regex false)]`;
  const steps = at(pre, 'pretokenizers');
  if (at(pre, 'type') !== 'Sequence' || !Array.isArray(steps) || steps.length !== 2)
    unsupported('pre_tokenizer', pre, `genrm's byte-level pre-tokenizer is ${want}`);
  const [split, byteLevel] = steps as unknown[];
  if (at(split, 'type') !== 'Split')
    unsupported(
      'pre_tokenizer.pretokenizers[0].type',
      at(split, 'type'),
      `genrm's byte-level pre-tokenizer is ${want}`,
    );
  const pattern = at(at(split, 'pattern'), 'Regex');
  if (typeof pattern !== 'string' || !SPLIT_PATTERNS.has(pattern))
    unsupported(
      'pre_tokenizer.pretokenizers[0].pattern.Regex',
      pattern,
      `genrm splits with genrm's, Llama 3's, Qwen2's or GPT-4o's (o200k) pattern: ${[...SPLIT_PATTERNS.keys()].map((p) => describe(p)).join(', ')}`,
    );
  // Every pattern genrm reads matches every character, so keeping the matches
  // ("Removed" with invert, GPT-4o's) splits as "Isolated" does.
  const behavior = at(split, 'behavior');
  const invert = at(split, 'invert') === true;
  if (behavior !== 'Isolated' && behavior !== 'Removed')
    unsupported('pre_tokenizer.pretokenizers[0].behavior', behavior, 'use "Isolated"');
  if (invert !== (behavior === 'Removed'))
    unsupported(
      'pre_tokenizer.pretokenizers[0].invert',
      invert,
      `use ${!invert} with ${describe(behavior)} (a split that keeps every character)`,
    );
  if (at(byteLevel, 'type') !== 'ByteLevel')
    unsupported(
      'pre_tokenizer.pretokenizers[1].type',
      at(byteLevel, 'type'),
      `genrm's byte-level pre-tokenizer is ${want}`,
    );
  if (at(byteLevel, 'use_regex') !== false)
    unsupported(
      'pre_tokenizer.pretokenizers[1].use_regex',
      at(byteLevel, 'use_regex'),
      'the Split step splits; use false',
    );
  if (at(byteLevel, 'add_prefix_space') === true)
    unsupported('pre_tokenizer.pretokenizers[1].add_prefix_space', true, 'genrm adds no space; use false');
  if (at(raw.decoder, 'type') !== 'ByteLevel')
    unsupported('decoder', raw.decoder, 'byte-level BPE decodes with { "type": "ByteLevel" }');
  return { kind: 'byteLevel', pattern: pattern as string, ...(normalizer ? { normalizer: 'NFC' as const } : {}) };
}

/** The ids a post_processor puts before and after one sequence (TemplateProcessing's "single"). */
function parseTemplate(
  post: unknown,
  source: string,
  ids: ReadonlyMap<string, number>,
): { prefix: number[]; suffix: number[] } {
  const none = { prefix: [], suffix: [] };
  if (post === null || post === undefined) return none;
  const type = (post as { type?: unknown }).type;
  if (type === 'ByteLevel') return none; // only trims offsets, which genrm does not return
  if (type === 'Sequence') {
    const processors = (post as { processors?: unknown }).processors;
    if (!Array.isArray(processors))
      throw new TokenizerError(source, `expected an array, got ${describe(processors)}`, 'post_processor.processors');
    const found = processors.filter((p) => (p as { type?: unknown })?.type !== 'ByteLevel');
    if (found.length > 1)
      throw new TokenizerError(
        source,
        'is not supported: more than one TemplateProcessing step',
        'post_processor.processors',
      );
    return parseTemplate(found[0], source, ids);
  }
  const parsed = templateSchema.safeParse(post, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TokenizerError(
      source,
      `${issue.message}, got ${describe(issue.input)}`,
      `post_processor${issue.path.length ? '.' : ''}${formatPath(issue.path)}`,
    );
  }
  const out = { prefix: [] as number[], suffix: [] as number[] };
  let seenA = false;
  for (const [i, item] of parsed.data.single.entries()) {
    if (item.Sequence !== undefined) {
      if (item.Sequence.id !== 'A' || seenA)
        throw new TokenizerError(
          source,
          'expected exactly one { "Sequence": { "id": "A" } }',
          `post_processor.single[${i}]`,
        );
      seenA = true;
      continue;
    }
    const name = item.SpecialToken!.id;
    const listed = parsed.data.special_tokens?.[name]?.ids ?? (ids.has(name) ? [ids.get(name)!] : undefined);
    if (listed === undefined)
      throw new TokenizerError(
        source,
        `${describe(name)} is neither in post_processor.special_tokens nor a token`,
        `post_processor.single[${i}]`,
      );
    (seenA ? out.suffix : out.prefix).push(...listed);
  }
  if (!seenA)
    throw new TokenizerError(source, 'expected a { "Sequence": { "id": "A" } } item', 'post_processor.single');
  return out;
}

/**
 * Builds a tokenizer from a parsed tokenizer.json; `source` (the file) prefixes every error. With `config` (a
 * parsed tokenizer_config.json) that has a chat_template, the tokenizer renders chats with it.
 */
export function parseTokenizerJson(
  json: unknown,
  source = 'tokenizer.json',
  config?: Record<string, unknown>,
): Tokenizer {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new TokenizerError(source, `expected a JSON object, got ${describe(json)}`);
  const raw = json as Record<string, unknown>;
  const pipeline = checkPipeline(raw, source);
  const parsed = tokenizerJsonSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TokenizerError(
      source,
      `${issue.message}, got ${describe(issue.input)}`,
      formatPath(issue.path) || undefined,
    );
  }
  const { added_tokens: addedTokens, model } = parsed.data;

  // Ids → tokens. The raw object, not zod's copy: zod drops a "__proto__" key,
  // and that is a legal token (so its id is checked here too).
  const byId = new Map<number, string>();
  const modelIds = new Map<string, number>();
  for (const [token, id] of Object.entries((raw.model as { vocab: Record<string, unknown> }).vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      throw new TokenizerError(source, `expected a non-negative integer, got ${describe(id)}`, `model.vocab.${token}`);
    if (token === '') throw new TokenizerError(source, 'a token is the empty string', 'model.vocab');
    const other = byId.get(id);
    if (other !== undefined)
      throw new TokenizerError(
        source,
        `tokens ${describe(other)} and ${describe(token)} both have id ${id}`,
        'model.vocab',
      );
    byId.set(id, token);
    modelIds.set(token, id);
  }
  const special: number[] = [];
  const added: number[] = [];
  addedTokens.forEach((t, i) => {
    const field = `added_tokens[${i}]`;
    for (const f of ['lstrip', 'rstrip', 'single_word'] as const) {
      if (t[f] === true)
        throw new TokenizerError(
          source,
          'true is not supported: genrm matches added tokens exactly as they are written; use false',
          `${field}.${f}`,
        );
    }
    // HF's default: special tokens are matched in the text as given, others in the normalized text.
    const normalized = t.normalized ?? t.special !== true;
    if (normalized && (pipeline.kind === 'sentencePiece' || pipeline.normalizer !== undefined))
      throw new TokenizerError(
        source,
        `true is not supported for ${describe(t.content)}: genrm matches added tokens in the text as given, before the normalizer; use false`,
        `${field}.normalized`,
      );
    if (special.includes(t.id) || added.includes(t.id))
      throw new TokenizerError(source, `id ${t.id} is listed twice`, `${field}.id`);
    const inModel = modelIds.get(t.content);
    if (inModel !== undefined && inModel !== t.id)
      throw new TokenizerError(
        source,
        `${describe(t.content)} has id ${t.id} but model.vocab gives it ${inModel}`,
        `${field}.id`,
      );
    const other = byId.get(t.id);
    if (inModel === undefined && other !== undefined)
      throw new TokenizerError(
        source,
        `id ${t.id} of ${describe(t.content)} is already the id of ${describe(other)}`,
        `${field}.id`,
      );
    byId.set(t.id, t.content);
    (t.special === true ? special : added).push(t.id);
  });
  // Published files may skip ids (GPT-4o's has 19 without a token); a few are
  // kept as ids without a token, many would be a broken file.
  let size = 0;
  for (const id of byId.keys()) size = Math.max(size, id + 1);
  if (size - byId.size > MAX_GAPS) {
    const gap = [...Array(size).keys()].find((k) => !byId.has(k));
    throw new TokenizerError(
      source,
      `${size - byId.size} of the ids 0 .. ${size - 1} have no token (the first is ${gap}); genrm allows at most ${MAX_GAPS}`,
      'model.vocab',
    );
  }
  const vocab: string[] = new Array<string>(size).fill('');
  for (const [id, token] of byId) vocab[id] = token;

  const merges = model.merges.map((m, i): [number, number] => {
    const field = `model.merges[${i}]`;
    let pair: readonly string[] = m as readonly string[];
    if (typeof m === 'string') {
      pair = m.split(' ');
      if (pair.length !== 2 || pair[0] === '' || pair[1] === '')
        throw new TokenizerError(source, `expected "left right" (two tokens, one space), got ${describe(m)}`, field);
    }
    return [0, 1].map((side) => {
      const id = modelIds.get(pair[side]!);
      if (id === undefined) throw new TokenizerError(source, `${describe(pair[side])} is not in model.vocab`, field);
      return id;
    }) as [number, number];
  });

  const ids = new Map(vocab.flatMap((t, i) => (t === '' ? [] : [[t, i] as const])));
  const template = parseTemplate(raw.post_processor, source, ids);
  let unk: number | undefined;
  if (pipeline.unkToken !== undefined) {
    unk = ids.get(pipeline.unkToken);
    if (unk === undefined)
      throw new TokenizerError(source, `${describe(pipeline.unkToken)} is not a token`, 'model.unk_token');
  }
  const ignoreMerges = (raw.model as { ignore_merges?: boolean }).ignore_merges === true;
  const chatTemplate =
    config === undefined
      ? undefined
      : chatTemplateOf(config, source.replace(/tokenizer\.json$/, 'tokenizer_config.json'));
  return new Tokenizer(
    {
      vocab,
      merges,
      special,
      ...(added.length ? { added } : {}),
      template,
      ...(pipeline.kind === 'sentencePiece'
        ? {
            model: pipeline.kind,
            ...(unk !== undefined ? { unk } : {}),
            byteFallback: pipeline.byteFallback!,
            fuseUnk: pipeline.fuseUnk!,
          }
        : { pattern: pipeline.pattern!, ...(pipeline.normalizer ? { normalizer: pipeline.normalizer } : {}) }),
      ignoreMerges,
      ...(chatTemplate ? { chatTemplate } : {}),
    },
    source,
  );
}

/** The most ids a tokenizer.json may leave without a token. */
const MAX_GAPS = 1024;

/** The tokenizer.json text for a tokenizer (vocab and merges one entry per line, like HF's files). */
export function tokenizerToJson(tokenizer: Tokenizer): string {
  const spec: TokenizerSpec = tokenizer.toSpec();
  const isSpecial = new Set(spec.special);
  const addedIds = [...spec.special, ...(spec.added ?? [])].sort((a, b) => a - b);
  const isAdded = new Set(addedIds);
  const present = spec.vocab.map((_, id) => id).filter((id) => spec.vocab[id] !== '');
  const textIds = present.filter((id) => !isAdded.has(id));
  // Rust `tokenizers` gives an added token that is not in model.vocab the next
  // free id after it, so added tokens may stay out of model.vocab only when they
  // are exactly the ids after it; otherwise they are listed there too (GPT-2 style).
  const afterText = present.length === spec.vocab.length && addedIds.every((id, i) => id === textIds.length + i);
  const modelIds = afterText ? textIds : present;
  const name = (id: number) => spec.vocab[id]!;
  const template = spec.template ?? { prefix: [], suffix: [] };
  const item = (id: number, typeId: number) => ({ SpecialToken: { id: name(id), type_id: typeId } });
  const used = [...new Set([...template.prefix, ...template.suffix])];
  const sentencePiece = spec.model === 'sentencePiece';
  const head = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedIds.map((id) => ({
      id,
      content: name(id),
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: isSpecial.has(id),
    })),
    normalizer: sentencePiece ? SP_NORMALIZER : spec.normalizer === 'NFC' ? { type: 'NFC' } : null,
    pre_tokenizer: sentencePiece
      ? null
      : {
          type: 'Sequence',
          pretokenizers: [
            {
              type: 'Split',
              pattern: { Regex: spec.pattern ?? PRETOKENIZE_PATTERN },
              behavior: 'Isolated',
              invert: false,
            },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        },
    post_processor:
      template.prefix.length + template.suffix.length === 0
        ? null
        : {
            type: 'TemplateProcessing',
            single: [
              ...template.prefix.map((id) => item(id, 0)),
              { Sequence: { id: 'A', type_id: 0 } },
              ...template.suffix.map((id) => item(id, 0)),
            ],
            pair: [
              ...template.prefix.map((id) => item(id, 0)),
              { Sequence: { id: 'A', type_id: 0 } },
              ...template.suffix.map((id) => item(id, 0)),
              ...template.prefix.map((id) => item(id, 1)),
              { Sequence: { id: 'B', type_id: 1 } },
              ...template.suffix.map((id) => item(id, 1)),
            ],
            special_tokens: Object.fromEntries(
              used.map((id) => [name(id), { id: name(id), ids: [id], tokens: [name(id)] }]),
            ),
          },
    decoder: sentencePiece
      ? SP_DECODER
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  };
  const headText = JSON.stringify(head, null, 2);
  const lines: string[] = [headText.slice(0, headText.lastIndexOf('\n}')) + ',', '  "model": {'];
  lines.push(
    '    "type": "BPE",',
    '    "dropout": null,',
    `    "unk_token": ${spec.unk === undefined ? 'null' : JSON.stringify(name(spec.unk))},`,
    '    "continuing_subword_prefix": null,',
    '    "end_of_word_suffix": null,',
  );
  lines.push(
    `    "fuse_unk": ${spec.fuseUnk === true},`,
    `    "byte_fallback": ${spec.byteFallback === true},`,
    `    "ignore_merges": ${spec.ignoreMerges === true},`,
    '    "vocab": {',
  );
  modelIds.forEach((id, i) =>
    lines.push(`      ${JSON.stringify(name(id))}: ${id}${i + 1 < modelIds.length ? ',' : ''}`),
  );
  lines.push('    },', spec.merges.length ? '    "merges": [' : '    "merges": []');
  // "left right" unless a token has a space (ByteLevel and Llama 2's never do); then HF's pair form.
  const pairs = spec.merges.some(([l, r]) => name(l).includes(' ') || name(r).includes(' '));
  spec.merges.forEach(([l, r], i) =>
    lines.push(
      `      ${JSON.stringify(pairs ? [name(l), name(r)] : `${name(l)} ${name(r)}`)}${i + 1 < spec.merges.length ? ',' : ''}`,
    ),
  );
  if (spec.merges.length) lines.push('    ]');
  lines.push('  }', '}', '');
  return lines.join('\n');
}

// A folder stands for the tokenizer.json in it, as in a checkpoint folder.
async function resolve(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return s?.isDirectory() ? join(path, 'tokenizer.json') : path;
}

/**
 * Writes `tokenizer` as a HF tokenizer.json at `path` (or `path`/tokenizer.json when `path` is a folder),
 * atomically; a tokenizer with its model's chat template also writes that tokenizer_config.json beside it.
 */
export async function saveTokenizer(path: string, tokenizer: Tokenizer): Promise<void> {
  if (!(tokenizer instanceof Tokenizer))
    throw new TypeError(`saveTokenizer: expected a Tokenizer, got ${describe(tokenizer)}`);
  const file = await resolve(path);
  await writeFileAtomic(file, new TextEncoder().encode(tokenizerToJson(tokenizer)));
  const chat = tokenizer.chatTemplate;
  if (chat) {
    const config = chat.config ?? { ...chat.variables, chat_template: chat.source };
    await writeFileAtomic(
      join(dirname(file), CONFIG_FILE),
      new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
    );
  }
}

const CONFIG_FILE = 'tokenizer_config.json';

/** The tokenizer_config.json beside `file`, parsed; undefined when there is none. */
function readConfigBeside(file: string): Promise<Record<string, unknown> | undefined> {
  const path = join(dirname(file), CONFIG_FILE);
  return readOptionalJsonObject(path, (detail) => new TokenizerError(path, detail));
}

/**
 * Reads and checks a tokenizer.json (or `path`/tokenizer.json when `path` is a folder), with the chat template
 * of the tokenizer_config.json beside it when there is one.
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const file = await resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new TokenizerError(file, `cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(file, `invalid JSON: ${(e as Error).message}`);
  }
  return parseTokenizerJson(json, file, await readConfigBeside(file));
}
