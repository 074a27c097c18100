// tokenizer.json: Hugging Face `tokenizers`' file, so transformers,
// tokenizers.js and others read genrm's tokenizers. genrm writes:
//  - model: BPE, vocab (text tokens only) and merges as "left right" strings
//    (the format every reader accepts; ByteLevel tokens never contain a space);
//  - added_tokens: the special tokens, special: true, ids after the BPE tokens;
//  - pre_tokenizer: Sequence [Split on PRETOKENIZE_PATTERN (Isolated),
//    ByteLevel without its own regex]; normalizer null; decoder ByteLevel;
//  - post_processor: TemplateProcessing putting <|begin_of_text|> first, what
//    encode(..., { addSpecialTokens: true }) does (HF adds it by default).
// Reading accepts that pipeline only (a different pattern or normalizer would
// tokenize differently without notice), with merges in either format; and
// Llama 3's (its published Split pattern, model.ignore_merges true, no <|pad|>),
// which it writes back as it read it.
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readOptionalJsonObject } from '../util/json-file.js';
import { TokenizerError, describe } from './errors.js';
import { PRETOKENIZE_PATTERN, SPLIT_PATTERNS } from './pretokenize.js';
import { chatTemplateOf } from './template.js';
import { Tokenizer, type TokenizerSpec } from './tokenizer.js';

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

/** Fields whose value genrm does not implement: checked before the shape, so the message names the feature. */
function checkPipeline(raw: Record<string, unknown>, source: string): void {
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
    unsupported('model.type', type, 'genrm reads byte-level BPE tokenizers ("BPE") only');
  const m = model as Record<string, unknown>;
  if (m.dropout !== undefined && m.dropout !== null)
    unsupported('model.dropout', m.dropout, 'BPE dropout is a training-time augmentation; use null');
  for (const f of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (m[f] !== undefined && m[f] !== null && m[f] !== '')
      unsupported(`model.${f}`, m[f], 'byte-level BPE has no subword markers; use null');
  }
  if (m.ignore_merges !== undefined && typeof m.ignore_merges !== 'boolean')
    throw new TokenizerError(source, `expected true or false, got ${describe(m.ignore_merges)}`, 'model.ignore_merges');

  if (raw.normalizer !== null && raw.normalizer !== undefined)
    unsupported('normalizer', raw.normalizer, 'genrm encodes text as given; use null');
  for (const f of ['truncation', 'padding'] as const) {
    if (raw[f] !== null && raw[f] !== undefined)
      unsupported(f, raw[f], 'genrm truncates and pads batches itself; use null');
  }

  const pre = raw.pre_tokenizer;
  const want = `Sequence [Split (genrm's or Llama 3's pattern, Isolated), ByteLevel (use_regex false)]`;
  const steps = at(pre, 'pretokenizers');
  if (at(pre, 'type') !== 'Sequence' || !Array.isArray(steps) || steps.length !== 2)
    unsupported('pre_tokenizer', pre, `genrm's pre-tokenizer is ${want}`);
  const [split, byteLevel] = steps as unknown[];
  if (at(split, 'type') !== 'Split')
    unsupported('pre_tokenizer.pretokenizers[0].type', at(split, 'type'), `genrm's pre-tokenizer is ${want}`);
  const pattern = at(at(split, 'pattern'), 'Regex');
  if (typeof pattern !== 'string' || !SPLIT_PATTERNS.has(pattern))
    unsupported(
      'pre_tokenizer.pretokenizers[0].pattern.Regex',
      pattern,
      `genrm splits with its own pattern or Llama 3's: ${[...SPLIT_PATTERNS.keys()].map((p) => describe(p)).join(', ')}`,
    );
  if (at(split, 'behavior') !== 'Isolated')
    unsupported('pre_tokenizer.pretokenizers[0].behavior', at(split, 'behavior'), 'use "Isolated"');
  if (at(split, 'invert') === true) unsupported('pre_tokenizer.pretokenizers[0].invert', true, 'use false');
  if (at(byteLevel, 'type') !== 'ByteLevel')
    unsupported('pre_tokenizer.pretokenizers[1].type', at(byteLevel, 'type'), `genrm's pre-tokenizer is ${want}`);
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
  checkPipeline(raw, source);
  const parsed = tokenizerJsonSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TokenizerError(
      source,
      `${issue.message}, got ${describe(issue.input)}`,
      formatPath(issue.path) || undefined,
    );
  }
  const { added_tokens: added, model } = parsed.data;

  // Ids → tokens. The raw object, not zod's copy: zod drops a "__proto__" key,
  // and that is a legal token (so its id is checked here too).
  const byId = new Map<number, string>();
  const modelIds = new Map<string, number>();
  for (const [token, id] of Object.entries((raw.model as { vocab: Record<string, unknown> }).vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      throw new TokenizerError(source, `expected a non-negative integer, got ${describe(id)}`, `model.vocab.${token}`);
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
  added.forEach((t, i) => {
    const field = `added_tokens[${i}]`;
    if (t.special === false)
      throw new TokenizerError(
        source,
        `${describe(t.content)} is not supported: genrm's added tokens are special tokens ("special": true)`,
        `${field}.special`,
      );
    for (const f of ['lstrip', 'rstrip', 'single_word'] as const) {
      if (t[f] === true)
        throw new TokenizerError(
          source,
          'true is not supported: genrm matches special tokens exactly; use false',
          `${field}.${f}`,
        );
    }
    if (special.includes(t.id)) throw new TokenizerError(source, `id ${t.id} is listed twice`, `${field}.id`);
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
    special.push(t.id);
  });
  const vocab: string[] = [];
  for (const [id, token] of byId) {
    if (id >= byId.size) {
      const gap = [...Array(byId.size).keys()].find((k) => !byId.has(k));
      throw new TokenizerError(
        source,
        `ids must run from 0 to ${byId.size - 1} (one per token) without gaps, but no token has id ${gap} and ${describe(token)} has id ${id}`,
        'model.vocab',
      );
    }
    vocab[id] = token;
  }

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

  const ids = new Map(vocab.map((t, i) => [t, i]));
  const template = parseTemplate(raw.post_processor, source, ids);
  const split = (raw.pre_tokenizer as { pretokenizers: Array<{ pattern: { Regex: string } }> }).pretokenizers[0]!;
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
      template,
      pattern: split.pattern.Regex,
      ignoreMerges,
      ...(chatTemplate ? { chatTemplate } : {}),
    },
    source,
  );
}

/** The tokenizer.json text for a tokenizer (vocab and merges one entry per line, like HF's files). */
export function tokenizerToJson(tokenizer: Tokenizer): string {
  const spec: TokenizerSpec = tokenizer.toSpec();
  const isSpecial = new Set(spec.special);
  const textIds = spec.vocab.map((_, id) => id).filter((id) => !isSpecial.has(id));
  const specials = [...spec.special].sort((a, b) => a - b);
  // Rust `tokenizers` gives an added token that is not in model.vocab the next
  // free id after it, so specials may stay out of model.vocab only when they are
  // exactly the ids after it; otherwise they are listed there too (GPT-2 style).
  const afterText = specials.every((id, i) => id === textIds.length + i);
  const modelIds = afterText ? textIds : spec.vocab.map((_, id) => id);
  const name = (id: number) => spec.vocab[id]!;
  const template = spec.template ?? { prefix: [], suffix: [] };
  const item = (id: number, typeId: number) => ({ SpecialToken: { id: name(id), type_id: typeId } });
  const used = [...new Set([...template.prefix, ...template.suffix])];
  const head = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((id) => ({
      id,
      content: name(id),
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: spec.pattern ?? PRETOKENIZE_PATTERN }, behavior: 'Isolated', invert: false },
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
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  };
  const headText = JSON.stringify(head, null, 2);
  const lines: string[] = [headText.slice(0, headText.lastIndexOf('\n}')) + ',', '  "model": {'];
  lines.push(
    '    "type": "BPE",',
    '    "dropout": null,',
    '    "unk_token": null,',
    '    "continuing_subword_prefix": null,',
    '    "end_of_word_suffix": null,',
  );
  lines.push(
    '    "fuse_unk": false,',
    '    "byte_fallback": false,',
    `    "ignore_merges": ${spec.ignoreMerges === true},`,
    '    "vocab": {',
  );
  modelIds.forEach((id, i) =>
    lines.push(`      ${JSON.stringify(name(id))}: ${id}${i + 1 < modelIds.length ? ',' : ''}`),
  );
  lines.push('    },', spec.merges.length ? '    "merges": [' : '    "merges": []');
  spec.merges.forEach(([l, r], i) =>
    lines.push(`      ${JSON.stringify(`${name(l)} ${name(r)}`)}${i + 1 < spec.merges.length ? ',' : ''}`),
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
