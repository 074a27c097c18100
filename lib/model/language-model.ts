// A model and the tokenizer that goes with it, saved together in one folder:
// config.json, model.safetensors (optionally optimizer.safetensors),
// tokenizer.json (with tokenizer_config.json when the model has its own chat
// template) and generation_config.json when it had one: the layout Hugging Face
// tools read.
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readOptionalJsonObject } from '../util/json-file.js';
import { readCheckpointFolder } from './checkpoint.js';
import { Model, type LoadOptions, type SaveOptions } from './model.js';
import { loadTokenizer, saveTokenizer } from '../tokenizer/json.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { LlamaConfig } from './config.js';

export interface LanguageModel {
  model: Model;
  tokenizer: Tokenizer;
  /**
   * The folder's generation_config.json, as read (written back on save). Its eos_token_id (else config.json's)
   * gives the tokens generation stops on by default (stopTokensOf).
   */
  generationConfig?: Readonly<Record<string, unknown>>;
}

const GENERATION_CONFIG = 'generation_config.json';

/**
 * The tokens generation stops on unless told otherwise: the model's eos_token_id, as transformers takes it
 * (generation_config.json first, then config.json; one id or a list); else the last token of the chat
 * template's end of turn (`tokenizer.turnEnd`) and `<|end_of_text|>` where the tokenizer has it.
 */
export function stopTokensOf(
  lm: Pick<LanguageModel, 'tokenizer' | 'generationConfig'> & { model: { readonly config: LlamaConfig } },
): number[] {
  const fromFile = lm.generationConfig?.eos_token_id ?? lm.model.config.extra?.eos_token_id;
  const ids = typeof fromFile === 'number' ? [fromFile] : Array.isArray(fromFile) ? fromFile : undefined;
  const vocab = lm.model.config.vocab_size;
  if (ids && ids.length > 0 && ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocab)) return ids as number[];
  const turnEnd = lm.tokenizer.turnEnd.at(-1)!;
  return lm.tokenizer.hasSpecialToken('eos') && lm.tokenizer.eos !== turnEnd ? [turnEnd, lm.tokenizer.eos] : [turnEnd];
}

async function readGenerationConfig(dir: string): Promise<Record<string, unknown> | undefined> {
  const file = join(dir, GENERATION_CONFIG);
  const json = await readOptionalJsonObject(file, (detail) => new Error(`${file}: ${detail}`));
  const eos = json?.eos_token_id;
  const ok = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (eos !== undefined && eos !== null && !(ok(eos) || (Array.isArray(eos) && eos.every(ok))))
    throw new Error(`${file}: eos_token_id: expected a token id or a list of them, got ${JSON.stringify(eos)}`);
  return json;
}

export async function loadLanguageModel(dir: string, options: LoadOptions = {}): Promise<LanguageModel> {
  // Tokenizer and model of one save: read again when a save landed in between.
  const { tokenizer, model, generationConfig } = await readCheckpointFolder(
    dir,
    async () => ({
      tokenizer: await loadTokenizer(join(dir, 'tokenizer.json')),
      generationConfig: await readGenerationConfig(dir),
      model: await Model.load(dir, options),
    }),
    (lm) => lm.model.dispose(),
  );
  if (tokenizer.vocabSize > model.config.vocab_size) {
    model.dispose();
    throw new Error(
      `${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json's vocab_size is ${model.config.vocab_size}`,
    );
  }
  const eos = generationConfig?.eos_token_id;
  const bad = (Array.isArray(eos) ? eos : [eos]).find((id) => typeof id === 'number' && id >= model.config.vocab_size);
  if (bad !== undefined) {
    model.dispose();
    throw new Error(
      `${join(dir, GENERATION_CONFIG)}: eos_token_id ${bad} is not below vocab_size (${model.config.vocab_size})`,
    );
  }
  return { model, tokenizer, ...(generationConfig ? { generationConfig } : {}) };
}

/** Model and tokenizer in one atomic checkpoint (Model.save). */
export async function saveLanguageModel(dir: string, lm: LanguageModel, options: SaveOptions = {}): Promise<void> {
  await lm.model.save(dir, {
    ...options,
    owns: [...(options.owns ?? []), 'tokenizer_config.json', GENERATION_CONFIG],
    extraFiles: async (folder) => {
      await saveTokenizer(join(folder, 'tokenizer.json'), lm.tokenizer);
      if (lm.generationConfig)
        await writeFileAtomic(
          join(folder, GENERATION_CONFIG),
          new TextEncoder().encode(`${JSON.stringify(lm.generationConfig, null, 2)}\n`),
        );
      await options.extraFiles?.(folder);
    },
  });
}
