// genrm's tokenizer.json read by @huggingface/tokenizers (tokenizers.js, HF's own
// JavaScript implementation): the same pre-tokenizer, the same ids token for
// token on corpus text and random Unicode, the same decoding, and genrm's loader
// reading the variants of the format HF reads.
import test from 'ava';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomText, syntheticCorpus, uniform } from '../bench/tokenizer.js';
import {
  BYTE_CHARS,
  PRETOKENIZE_PATTERN,
  parseTokenizerJson,
  preTokenize,
  saveTokenizer,
  trainTokenizer,
} from '../lib/tokenizer/index.js';
import type { Tokenizer } from '../lib/tokenizer/index.js';

let dir = '';
let ours: Tokenizer;
// tokenizer.json as parsed, edited freely by the variant cases.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let json: Record<string, any>;
let hf: HfTokenizer;
// tokenizers.js otherwise applies transformers' old "clean up" (" ." → "."), which is not part of tokenizer.json.
const HF_CONFIG = { clean_up_tokenization_spaces: false };

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'genrm-tokenizer-hf-'));
  ours = await trainTokenizer(syntheticCorpus(800_000, 1), { vocabSize: 3000, specialTokens: ['<|tool|>'] });
  const path = join(dir, 'tokenizer.json');
  await saveTokenizer(path, ours);
  json = JSON.parse(await readFile(path, 'utf8'));
  hf = new HfTokenizer(structuredClone(json), HF_CONFIG);
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ids = (a: Int32Array) => Array.from(a);
const utf8Token = (word: string) => Array.from(new TextEncoder().encode(word), (b) => BYTE_CHARS[b]).join('');

/** The first text (of `texts`) whose ids differ, with both encodings; undefined when all agree. */
function firstDifference(tokenizer: Tokenizer, reference: HfTokenizer, texts: string[], special: boolean) {
  for (const text of texts) {
    const a = ids(tokenizer.encode(text, { allowSpecial: true, addSpecialTokens: special }));
    const b = reference.encode(text, { add_special_tokens: special }).ids;
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
      const at = a.findIndex((x, i) => x !== b[i]);
      return {
        text: text.slice(0, 200),
        at,
        ours: a.slice(Math.max(0, at - 3), at + 5),
        hf: b.slice(Math.max(0, at - 3), at + 5),
      };
    }
  }
  return undefined;
}

test('tokenizers.js reads the pre-tokenizer pattern unchanged and splits alike', (t) => {
  // A tokenizer whose pre-tokenizer is the Split step alone, to see its regex.
  const splitOnly = new HfTokenizer(
    { ...structuredClone(json), pre_tokenizer: json.pre_tokenizer.pretokenizers[0] },
    HF_CONFIG,
  );
  const pattern = (splitOnly.pre_tokenizer as unknown as { pattern: RegExp }).pattern;
  t.is(pattern.source, PRETOKENIZE_PATTERN, 'its Oniguruma-to-JavaScript rewrite leaves the pattern as it is');
  t.is(pattern.flags, 'gu');
  const rand = uniform(21);
  for (let i = 0; i < 200; i++) {
    const text = randomText(rand, 300);
    const want = hf.pre_tokenizer!.pre_tokenize(text);
    const got = preTokenize(text).map(utf8Token);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.fail(`pre-tokenization of ${JSON.stringify(text)} differs`);
      return;
    }
  }
  t.pass();
});

test('the same vocabulary: every id maps to the same token', (t) => {
  const vocab = hf.get_vocab(true);
  t.is(vocab.size, ours.vocabSize);
  for (let id = 0; id < ours.vocabSize; id++) {
    if (hf.id_to_token(id) !== ours.idToToken(id) || vocab.get(ours.idToToken(id)) !== id) {
      t.fail(
        `id ${id}: ours ${JSON.stringify(ours.idToToken(id))}, tokenizers.js ${JSON.stringify(hf.id_to_token(id))}`,
      );
      return;
    }
  }
  t.deepEqual([...hf.get_added_tokens_decoder().keys()], [...ours.specialTokens.values()]);
});

test('token for token on held-out corpus text, with and without bos', (t) => {
  const docs = syntheticCorpus(150_000, 9);
  t.is(firstDifference(ours, hf, docs, false), undefined);
  t.is(firstDifference(ours, hf, docs.slice(0, 50), true), undefined);
  t.is(hf.encode(docs[0]!).ids[0], ours.bos, 'tokenizers.js adds bos by default');
});

test('token for token on random Unicode', (t) => {
  const rand = uniform(22);
  const texts = Array.from({ length: 400 }, () => randomText(rand, 1 + Math.floor(rand() * 300)));
  t.true(texts.join('').length > 50_000);
  t.is(firstDifference(ours, hf, texts, false), undefined);
});

test('token for token on edge cases and long words', (t) => {
  const texts = [
    '',
    ' ',
    '  ',
    '\n',
    '\r\n',
    ' \n\n  x',
    'x  \n',
    '\t\tindent',
    '\ufeffBOM',
    '\u00a0nbsp\u3000ideographic\u0085nel',
    "I'm, you're, we'VE, they'LL, it's, 'twas",
    'ſ',
    'ǅ',
    '1234567 ½ ² Ⅻ ٣٤٥',
    'e\u0301\u0301',
    '👩🏽‍🚀👨‍👩‍👧‍👦🇫🇷',
    '='.repeat(3000),
    ' '.repeat(2000) + 'x',
    'ab'.repeat(1000),
    '中文'.repeat(200),
    '😀'.repeat(100),
    'a\u0000b\u007fc\u0080',
    'lone \ud800 surrogate \udc00',
  ];
  t.is(firstDifference(ours, hf, texts, false), undefined);
});

test('special tokens in text: tokenizers.js always matches them, genrm with allowSpecial', (t) => {
  const rand = uniform(23);
  const specials = [
    '<|eot_id|>',
    '<|start_header_id|>',
    '<|tool|>',
    '<|pad|>',
    '<|begin_of_text|>',
    '<|eot_id',
    '<|tool|',
  ];
  const texts = Array.from({ length: 100 }, () => {
    let s = '';
    for (let k = 0; k < 6; k++) s += randomText(rand, 20) + specials[Math.floor(rand() * specials.length)]!;
    return s;
  });
  t.is(firstDifference(ours, hf, texts, false), undefined);
  t.is(firstDifference(ours, hf, texts, true), undefined);
});

test('the chat template gives the ids tokenizers.js gets from the rendered text', (t) => {
  const { ids: got, text } = ours.applyChatTemplate(
    [
      { role: 'system', content: 'You judge answers.' },
      { role: 'user', content: 'Question: 2+2?\nA: 4\nB: 5' },
      { role: 'assistant', content: 'A is correct.  ' },
    ],
    { addGenerationPrompt: true },
  );
  t.deepEqual(ids(got), hf.encode(text, { add_special_tokens: false }).ids);
});

test('decoding equals tokenizers.js, special tokens skipped or not, cut characters included', (t) => {
  const rand = uniform(24);
  for (let i = 0; i < 200; i++) {
    const text = randomText(rand, 200) + '<|eot_id|>' + randomText(rand, 50);
    const e = ids(ours.encode(text, { allowSpecial: true, addSpecialTokens: true }));
    // Random ids too: slices of byte tokens decode to U+FFFD alike.
    const noise = Array.from({ length: 20 }, () => Math.floor(rand() * ours.vocabSize));
    for (const seq of [e, noise, e.slice(1, -3)]) {
      for (const skip of [false, true]) {
        const a = ours.decode(seq, { skipSpecialTokens: skip });
        const b = seq.length ? hf.decode(seq, { skip_special_tokens: skip }) : '';
        if (a !== b) {
          t.fail(
            `decode(${JSON.stringify(seq)}, skip ${skip}): ours ${JSON.stringify(a)}, tokenizers.js ${JSON.stringify(b)}`,
          );
          return;
        }
      }
    }
    t.is(hf.decode(e, { skip_special_tokens: true }), text.replace('<|eot_id|>', ''));
  }
});

test('genrm reads the variants tokenizers.js reads, with the same ids', (t) => {
  const texts = [...syntheticCorpus(20_000, 31), randomText(uniform(25), 5000) + '<|eot_id|><|tool|>'];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const variants: Array<[string, (j: Record<string, any>) => void]> = [
    ['merges as pairs', (j) => (j.model.merges = j.model.merges.map((m: string) => m.split(' ')))],
    [
      'special tokens also in model.vocab',
      (j) => {
        for (const a of j.added_tokens) j.model.vocab[a.content] = a.id;
      },
    ],
    [
      'Llama 3 post_processor: Sequence [ByteLevel, TemplateProcessing]',
      (j) =>
        (j.post_processor = {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
            j.post_processor,
          ],
        }),
    ],
    ['no post_processor', (j) => (j.post_processor = null)],
    [
      'optional fields left out',
      (j) => {
        for (const k of ['version', 'truncation', 'padding']) delete j[k];
        for (const k of [
          'dropout',
          'unk_token',
          'continuing_subword_prefix',
          'end_of_word_suffix',
          'fuse_unk',
          'byte_fallback',
          'ignore_merges',
        ])
          delete j.model[k];
        j.decoder = { type: 'ByteLevel' };
        for (const a of j.added_tokens) for (const k of ['single_word', 'lstrip', 'rstrip', 'normalized']) delete a[k];
      },
    ],
  ];
  for (const [name, change] of variants) {
    const j = structuredClone(json);
    change(j);
    const reference = new HfTokenizer(structuredClone(j), HF_CONFIG);
    const loaded = parseTokenizerJson(j, name);
    t.is(firstDifference(loaded, reference, texts, false), undefined, name);
    t.is(firstDifference(loaded, reference, texts.slice(0, 3), true), undefined, name);
  }
});
