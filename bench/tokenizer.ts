// Tokenizer throughput: trains a byte-level BPE tokenizer on a generated corpus,
// then times bulk encoding of held-out text of the same kind (MB of UTF-8 per
// second). The corpus generator is shared with the tokenizer tests.
import { trainTokenizerSync } from '../lib/tokenizer/trainer.js';
import { rng } from '../lib/util/random.js';
import { time, type BenchResult, type TimeOptions } from './harness.js';

/** A seeded source of uniform numbers in [0, 1): the library's generator (lib/util/random.ts). */
export const uniform = rng;

const SYLLABLES = [
  'ka',
  'to',
  're',
  'mi',
  'an',
  'el',
  'is',
  'on',
  'str',
  'th',
  'ing',
  'er',
  'qu',
  'ou',
  'ble',
  'ch',
  'pr',
  'es',
  'al',
  'ur',
  'ge',
  'ly',
  'ment',
  'ed',
];
const ACCENTED = ['é', 'è', 'ü', 'ñ', 'ø', 'ß', 'ç', 'å'];
const CJK = [
  '的',
  '一',
  '是',
  '不',
  '了',
  '人',
  '我',
  '在',
  '有',
  '他',
  '这',
  '中',
  '大',
  '来',
  '上',
  '国',
  'の',
  'に',
  'は',
  'を',
  '한',
  '국',
  '어',
];
const EMOJI = ['😀', '🎉', '👍🏽', '👩‍💻', '🇫🇷', '❤️', '🚀'];
const PUNCT = ['.', ',', '!', '?', ';', ':', ' —', '...', '"', "'s", "'re", ')'];

/**
 * Pseudo-natural documents totalling about `chars` characters: Zipf-distributed
 * words from a made-up lexicon, sentences and paragraphs, numbers, some accents,
 * CJK, emoji, code-like lines and whitespace runs. Deterministic per seed.
 */
export function syntheticCorpus(chars: number, seed = 1): string[] {
  const rand = uniform(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const lexicon: string[] = [];
  for (let i = 0; i < 6000; i++) {
    let w = '';
    const n = 1 + Math.floor(rand() * 3.2);
    for (let k = 0; k < n; k++) w += pick(SYLLABLES);
    if (rand() < 0.05) w = w.slice(0, 2) + pick(ACCENTED) + w.slice(2);
    lexicon.push(w);
  }
  // Zipf: rank r with probability ∝ 1 / (r + 2), sampled through the CDF.
  const cdf = new Float64Array(lexicon.length);
  let total = 0;
  for (let r = 0; r < lexicon.length; r++) cdf[r] = total += 1 / (r + 2);
  const word = () => {
    const x = rand() * total;
    let lo = 0,
      hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lexicon[lo]!;
  };
  const docs: string[] = [];
  let size = 0;
  while (size < chars) {
    let doc = '';
    const paragraphs = 1 + Math.floor(rand() * 4);
    for (let p = 0; p < paragraphs; p++) {
      const kind = rand();
      if (kind < 0.08) {
        doc += `    if (${word()}_${Math.floor(rand() * 100)} >= ${Math.floor(rand() * 1e4)}) {\n        return ${word()}(${word()}, "${word()}");\n    }\n`;
      } else if (kind < 0.12) {
        for (let k = 0; k < 12; k++) doc += pick(CJK);
        doc += '。';
      } else {
        const sentences = 1 + Math.floor(rand() * 5);
        for (let s = 0; s < sentences; s++) {
          const n = 4 + Math.floor(rand() * 14);
          let sentence = '';
          for (let k = 0; k < n; k++) {
            let w = word();
            if (k === 0) w = w[0]!.toUpperCase() + w.slice(1);
            sentence += (k ? ' ' : '') + w;
            const r = rand();
            if (r < 0.06) sentence += pick(PUNCT);
            else if (r < 0.09) sentence += ` ${Math.floor(rand() * 10 ** (1 + Math.floor(rand() * 5)))}`;
            else if (r < 0.1) sentence += ` ${pick(EMOJI)}`;
          }
          doc += sentence + (rand() < 0.8 ? '. ' : '? ');
        }
      }
      doc += rand() < 0.7 ? '\n\n' : '\n';
    }
    docs.push(doc);
    size += doc.length;
  }
  return docs;
}

const cp = (lo: number, hi: number, rand: () => number) =>
  String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
const WHITESPACE = [
  ' ',
  '  ',
  '   ',
  '\t',
  '\n',
  '\r\n',
  '\n\n',
  ' \n ',
  '\u00a0',
  '\u3000',
  '\u2028',
  '\u0085',
  '\u200b',
  '\u2009',
  '\f',
  '\v',
];
const ZWJ_SEQUENCES = ['👨‍👩‍👧‍👦', '👩🏽‍🚀', '🏳️‍🌈', '🧑‍🤝‍🧑', '1️⃣', '🇯🇵', '🇺🇳', '✊🏿', '❤️‍🔥'];
const COMBINING = ['\u0301', '\u0308', '\u0323', '\u0327', '\u035c', '\u20dd'];
const CONTRACTIONS = ["'s", "'S", "'ll", "'LL", "'Ve", "'re", "'d", "'m", "'t", '’s', "'x", "''"];

/**
 * Random text stressing a tokenizer: ASCII words, numbers and punctuation
 * runs, whitespace of every kind (NBSP, U+3000, U+0085, line separators, runs,
 * CRLF), precomposed and combining accents, CJK, kana, Hangul, Arabic,
 * Devanagari, emoji with skin tones, flags and ZWJ sequences, astral letters,
 * control characters, and arbitrary code points (unassigned, private use,
 * noncharacters); never a lone surrogate. About `length` UTF-16 units.
 */
export function randomText(rand: () => number, length: number): string {
  let s = '';
  while (s.length < length) {
    const r = Math.floor(rand() * 16);
    const n = 1 + Math.floor(rand() * 6);
    switch (r) {
      case 0:
      case 1: {
        let w = rand() < 0.5 ? ' ' : '';
        for (let i = 0; i < n + 1; i++) w += cp(rand() < 0.2 ? 0x41 : 0x61, rand() < 0.2 ? 0x5a : 0x7a, rand);
        s += w;
        break;
      }
      case 2:
        for (let i = 0; i < n; i++) s += cp(0x30, 0x39, rand);
        break;
      case 3:
        for (let i = 0; i < n; i++) s += cp(0x21, 0x2f, rand);
        break;
      case 4:
        s += WHITESPACE[Math.floor(rand() * WHITESPACE.length)]!.repeat(1 + Math.floor(rand() * 3));
        break;
      case 5:
        for (let i = 0; i < n; i++) s += cp(0xc0, 0x17f, rand);
        break;
      case 6:
        s +=
          cp(0x61, 0x7a, rand) +
          COMBINING[Math.floor(rand() * COMBINING.length)]! +
          (rand() < 0.3 ? COMBINING[0]! : '');
        break;
      case 7:
        for (let i = 0; i < n; i++) s += cp(0x4e00, 0x9fff, rand);
        break;
      case 8:
        for (let i = 0; i < n; i++) s += rand() < 0.5 ? cp(0x3040, 0x30ff, rand) : cp(0xac00, 0xd7a3, rand);
        break;
      case 9:
        for (let i = 0; i < n; i++) s += rand() < 0.5 ? cp(0x0620, 0x064a, rand) : cp(0x0900, 0x097f, rand);
        break;
      case 10:
        s +=
          rand() < 0.5
            ? ZWJ_SEQUENCES[Math.floor(rand() * ZWJ_SEQUENCES.length)]!
            : cp(0x1f300, 0x1f6ff, rand) + (rand() < 0.3 ? cp(0x1f3fb, 0x1f3ff, rand) : '');
        break;
      case 11:
        for (let i = 0; i < n; i++) s += cp(0x1d400, 0x1d7ff, rand);
        break;
      case 12:
        s += rand() < 0.5 ? cp(0x00, 0x1f, rand) : cp(0x7f, 0x9f, rand);
        break;
      case 13: {
        // Anywhere in Unicode but the surrogates.
        const c = Math.floor(rand() * (0x110000 - 0x800));
        s += String.fromCodePoint(c < 0xd800 ? c : c + 0x800);
        break;
      }
      case 14:
        s += CONTRACTIONS[Math.floor(rand() * CONTRACTIONS.length)]!;
        break;
      default:
        s += ['\ufeff', '\ufffd', '\uffff', '\ue000', '²', '½', 'Ⅻ', '٣', '\u00ad'][Math.floor(rand() * 9)]!;
    }
  }
  return s;
}

export function benchTokenizer(timing: TimeOptions, log: (line: string) => void, quick: boolean): BenchResult[] {
  const vocabSize = quick ? 1024 : 4096;
  const corpus = syntheticCorpus(quick ? 1_000_000 : 8_000_000, 1);
  const trainMb = corpus.reduce((n, d) => n + Buffer.byteLength(d), 0) / 1e6;
  const t0 = performance.now();
  const tokenizer = trainTokenizerSync(corpus, { vocabSize });
  const trainMs = performance.now() - t0;
  log(`train       vocab ${tokenizer.vocabSize}, ${trainMb.toFixed(0)} MB corpus: ${(trainMs / 1000).toFixed(2)} s`);

  // Held-out text (another seed); the first pass fills the word cache, as it
  // is filled after the first batches of a training run.
  const docs = syntheticCorpus(quick ? 1_000_000 : 8_000_000, 2);
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
  let tokens = 0;
  const t = time(
    () => {
      tokens = 0;
      for (const d of docs) tokens += tokenizer.encode(d).length;
    },
    { ...timing, minRuns: Math.min(timing.minRuns ?? 3, 3), warmup: 1 },
  );
  const mbPerS = bytes / 1e6 / (t.medianMs / 1000);
  const shape = `vocab ${tokenizer.vocabSize}, ${(bytes / 1e6).toFixed(0)} MB`;
  log(
    `encode      ${shape}: ${t.medianMs.toFixed(0)} ms, ${mbPerS.toFixed(1)} MB/s, ${(bytes / tokens).toFixed(2)} bytes/token`,
  );
  return [
    {
      name: 'tokenizer_encode',
      shape,
      medianMs: t.medianMs,
      mbPerS,
      tokensPerS: tokens / (t.medianMs / 1000),
      bytesPerToken: bytes / tokens,
    },
    {
      name: 'tokenizer_train',
      shape: `vocab ${tokenizer.vocabSize}, ${trainMb.toFixed(0)} MB`,
      medianMs: trainMs,
      mbPerS: trainMb / (trainMs / 1000),
    },
  ];
}
