// A tiny judge that speaks the verdict format: a byte-level BPE tokenizer and a
// 2-layer model fine-tuned for a few dozen steps on judge prompts followed by a
// short rationale and a random verdict. Its verdicts are near coin flips, so
// STaR finds both right and wrong rationales to keep, drop and pair.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model, packSequences, trainTokenizerSync, type Tokenizer } from '../lib/index.js';
import { saveLanguageModel } from '../lib/model/language-model.js';
import type { JudgeContext } from '../lib/genrm/judge.js';
import { COMPACT_PAIRWISE, judgePromptIds } from '../lib/genrm/prompt.js';
import type { PairLike } from '../lib/train/bt.js';
import { rng } from './helpers.js';

export function makePairs(n: number, prefix = 'p'): PairLike[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    prompt: [{ role: 'user' as const, content: `add ${i} and ${i + 1}` }],
    chosen: `it is ${2 * i + 1}`,
    rejected: `it is ${2 * i + 3}`,
    subset: i % 2 ? 'odd' : 'even',
  }));
}

const RATIONALES = ['A looks right. [[A]]', 'B looks right. [[B]]', 'both differ. [[A]]', 'check B. [[B]]', 'hmm'];

export function fixtureTokenizer(): Tokenizer {
  const pairs = makePairs(8);
  const corpus = [
    COMPACT_PAIRWISE.user('add 1 and 2', 'it is 3', 'it is 5'),
    ...RATIONALES,
    ...pairs.map((p) => p.chosen + p.rejected),
  ];
  return trainTokenizerSync(corpus, { vocabSize: 300 });
}

/** The judge, also saved to a folder (for runStar, which loads checkpoints). */
export async function verdictJudge(seed = 1): Promise<{ ctx: JudgeContext; dir: string }> {
  const tokenizer = fixtureTokenizer();
  const model = Model.create(
    {
      hidden_size: 48,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: 160,
    },
    { seed },
  );
  const ctx = { model, tokenizer, template: COMPACT_PAIRWISE };
  const pick = rng(seed);
  const pairs = makePairs(24, 'warm');
  for (let step = 0; step < 90; step++) {
    const seqs = pairs.slice((step % 3) * 8, (step % 3) * 8 + 8).map((p) => {
      const prompt = judgePromptIds(tokenizer, COMPACT_PAIRWISE, p.prompt[0]!.content, p.chosen, p.rejected);
      const reply = tokenizer.encode(RATIONALES[pick(0, 3)]!);
      return { ids: Int32Array.from([...prompt, ...reply, tokenizer.eot]), promptLength: prompt.length };
    });
    await model.trainStep({ type: 'sft' }, packSequences(seqs), { lr: 3e-3 });
  }
  const dir = await mkdtemp(join(tmpdir(), 'genrm-judge-'));
  await saveLanguageModel(dir, ctx);
  return { ctx, dir };
}
