// The demo's base model: a small Llama-style model pretrained on the world's
// corpus (worked solutions, answer checks and a few sloppy judging texts), like
// an instruction-tuned LLM that can reason but was never taught to judge pairs.
// It is cached by a key of everything that shapes it, so later runs reuse it;
// a cache that does not load is rebuilt, never trusted.
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { packSequences, type SequenceInput } from '../model/batch.js';
import { loadLanguageModel, saveLanguageModel, type LanguageModel } from '../model/language-model.js';
import { Model } from '../model/model.js';
import { trainTokenizerSync } from '../tokenizer/trainer.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { hash32 } from '../util/random.js';
import { WORLD_VERSION, corpusDocuments } from '../world/index.js';
import { documentSequence, documentText } from './render.js';

export interface BaseSpec {
  /** Seed of the corpus stream and of the initial weights. */
  seed: number;
  hiddenSize: number;
  layers: number;
  /** Token ids, 256 bytes + merges + specials. */
  vocabSize: number;
  maxPositions: number;
  /** Pretraining tokens (prompts and replies; replies are the targets). */
  tokens: number;
  batchTokens: number;
  lr: number;
  /** Question texts the corpus must not contain (the world's own). */
  exclude?: ReadonlySet<string>;
}

export interface BaseProgress {
  phase: 'tokenizer' | 'pretrain';
  done: number;
  total: number;
  loss?: number;
}

/**
 * A digest of the corpus's first documents: any change to how the corpus is
 * written (families, checks, shares) changes it, so a cache never serves a base
 * model pretrained on another corpus, even when WORLD_VERSION was not bumped.
 */
function corpusDigest(seed: number, exclude?: ReadonlySet<string>): number {
  const docs = corpusDocuments({ seed, documents: 200, ...(exclude ? { exclude } : {}) });
  return hash32(Array.from(docs, documentText).join('\n'));
}

export function baseKey(spec: BaseSpec): string {
  const { exclude, ...rest } = spec;
  const ex = exclude ? hash32([...exclude].sort().join('\n')) : 0;
  return `base-v${WORLD_VERSION}-${hash32(JSON.stringify({ ...rest, ex, corpus: corpusDigest(spec.seed, exclude) }))
    .toString(16)
    .padStart(8, '0')}`;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** The cached base model for this spec, pretraining it first when the cache lacks it (or holds a broken one). */
export async function baseModel(
  spec: BaseSpec,
  cacheDir: string,
  hooks: { onProgress?: (p: BaseProgress) => void; log?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<{ dir: string; cached: boolean; seconds: number }> {
  const dir = join(cacheDir, baseKey(spec));
  const marker = join(dir, 'pretrain.json');
  if (await exists(marker)) {
    try {
      const lm = await loadLanguageModel(dir);
      lm.model.dispose();
      const info = JSON.parse(await readFile(marker, 'utf8')) as { seconds: number };
      return { dir, cached: true, seconds: info.seconds };
    } catch (e) {
      hooks.log?.(`cached base model in ${dir} does not load (${(e as Error).message}); pretraining it again`);
    }
  }
  await rm(dir, { recursive: true, force: true });
  const started = performance.now();
  const lm = await pretrain(spec, hooks);
  try {
    const seconds = (performance.now() - started) / 1000;
    // pretrain.json, the marker of a complete cache entry, is part of the same atomic checkpoint.
    const marker = JSON.stringify({ spec: { ...spec, exclude: spec.exclude?.size ?? 0 }, seconds }, null, 1) + '\n';
    await saveLanguageModel(dir, lm, {
      extraFiles: (folder) => writeFileAtomic(join(folder, 'pretrain.json'), new TextEncoder().encode(marker)),
    });
    return { dir, cached: false, seconds };
  } finally {
    lm.model.dispose();
  }
}

async function pretrain(
  spec: BaseSpec,
  hooks: { onProgress?: (p: BaseProgress) => void; signal?: AbortSignal },
): Promise<LanguageModel> {
  hooks.onProgress?.({ phase: 'tokenizer', done: 0, total: 1 });
  const tokenizer = trainTokenizerSync(
    Array.from(corpusDocuments({ seed: spec.seed + 1_000_003, documents: 3000, exclude: spec.exclude }), documentText),
    { vocabSize: spec.vocabSize, splitDigits: true },
  );
  hooks.onProgress?.({ phase: 'tokenizer', done: 1, total: 1 });
  const heads = Math.max(1, Math.round(spec.hiddenSize / 32));
  const model = Model.create(
    {
      hidden_size: spec.hiddenSize,
      intermediate_size: Math.round((spec.hiddenSize * 8) / 3 / 16) * 16,
      num_hidden_layers: spec.layers,
      num_attention_heads: heads,
      num_key_value_heads: Math.max(1, Math.floor(heads / 2)),
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: spec.maxPositions,
      initializer_range: 0.02,
    },
    { seed: spec.seed },
  );
  const docs = corpusDocuments({ seed: spec.seed, exclude: spec.exclude });
  const totalSteps = Math.max(1, Math.ceil(spec.tokens / spec.batchTokens));
  const optimizer = {
    lr: spec.lr,
    beta2: 0.95,
    weightDecay: 0.1,
    warmupSteps: Math.ceil(totalSteps * 0.05),
    totalSteps,
    minLrRatio: 0.1,
  };
  try {
    for (let step = 0; step < totalSteps; step++) {
      if (hooks.signal?.aborted) throw Object.assign(new Error('pretraining aborted'), { name: 'AbortError' });
      const batch: SequenceInput[] = [];
      for (let n = 0; n < spec.batchTokens;) {
        const s = documentSequence(tokenizer, docs.next().value!);
        if (s.ids.length > spec.maxPositions) continue;
        batch.push(s);
        n += s.ids.length;
      }
      const m = await model.trainStep({ type: 'sft' }, packSequences(batch), optimizer);
      hooks.onProgress?.({ phase: 'pretrain', done: step + 1, total: totalSteps, loss: m.loss });
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tokenizer };
}
