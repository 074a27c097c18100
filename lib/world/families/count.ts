// Counting a letter over level + 2 words, word by word with a running total.
// A fixed small word list keeps the vocabulary (and so the tokenizer) small.
import type { CountQuestion, Family, Level } from '../types.js';
import { plainNumber, sample } from '../text.js';

export const COUNT_WORDS: readonly string[] = [
  'cat',
  'hat',
  'map',
  'sun',
  'dog',
  'tree',
  'ball',
  'apple',
  'banana',
  'moon',
  'star',
  'fish',
  'book',
  'door',
  'egg',
  'sea',
  'tall',
  'small',
  'hill',
  'bell',
  'seed',
  'toast',
  'test',
  'salt',
  'sock',
  'stone',
  'glass',
  'paper',
  'lemon',
  'melon',
  'tomato',
  'bottle',
  'kitten',
  'letter',
  'coffee',
  'pepper',
  'little',
  'noon',
  'spoon',
  'pasta',
];
export const COUNT_LETTERS: readonly string[] = ['a', 'e', 'o', 't', 'l', 's', 'p', 'n'];

const occurrences = (word: string, letter: string) => word.split(letter).length - 1;

function make(level: Level, letter: string, words: string[]): CountQuestion {
  return {
    family: 'count',
    level,
    text: `How many times does the letter ${letter} appear in: ${words.join(', ')}?`,
    letter,
    words,
  };
}

/** Word-by-word counting; `slip` miscounts one word by `by`. */
function worked(q: Pick<CountQuestion, 'letter' | 'words'>, slip?: { at: number; by: number }): string {
  let total = 0;
  const lines = q.words.map((w, i) => {
    const n = occurrences(w, q.letter) + (slip?.at === i ? slip.by : 0);
    total += n;
    return `${w} has ${n} ${q.letter}, total ${total}.`;
  });
  lines.push(`Answer: ${total}`);
  return lines.join('\n');
}

function truthOf(q: Pick<CountQuestion, 'letter' | 'words'>): number {
  return q.words.reduce((sum, w) => sum + occurrences(w, q.letter), 0);
}

export const count: Family<CountQuestion> = {
  name: 'count',

  question(rng, level) {
    // Most words are drawn from those holding the letter, so totals are rarely 0.
    const letter = rng.pick(COUNT_LETTERS);
    const holding = COUNT_WORDS.filter((w) => w.includes(letter));
    const n = level + 2;
    const k = Math.min(holding.length, Array.from({ length: n }, () => rng.chance(0.6)).filter(Boolean).length);
    const words = sample(rng, holding, k);
    const others = COUNT_WORDS.filter((w) => !words.includes(w));
    words.push(...sample(rng, others, n - k));
    return make(level, letter, rng.shuffle(words));
  },

  truth: (q) => String(truthOf(q)),
  normalize: plainNumber,
  solve: (q) => worked(q),

  wrongAnswer(q, rng, kind) {
    const truth = truthOf(q);
    if (kind === 'subtle') {
      const at = rng.int(0, q.words.length - 1);
      const by = occurrences(q.words[at]!, q.letter) === 0 || rng.chance(0.5) ? 1 : -1;
      return worked(q, { at, by });
    }
    const style = rng.int(0, 2);
    if (style === 0) {
      let other = count.question(rng, q.level);
      while (truthOf(other) === truth) other = count.question(rng, q.level);
      return worked(other);
    }
    if (style === 1 && q.words.length !== truth) return `There are ${q.words.length} words.\nAnswer: ${q.words.length}`;
    let guess = rng.int(0, truth + 4);
    while (guess === truth) guess = rng.int(0, truth + 4);
    return `I count them at a glance.\nAnswer: ${guess}`;
  },

  parse(text) {
    const m = /^How many times does the letter ([a-z]) appear in: ([a-z, ]+)\?$/.exec(text);
    if (!m) return undefined;
    const words = m[2]!.split(', ');
    if (words.length < 3 || words.length > 7 || words.some((w) => !/^[a-z]+$/.test(w))) return undefined;
    return make((words.length - 2) as Level, m[1]!, words);
  },
};
