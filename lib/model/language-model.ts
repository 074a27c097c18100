// A model and the tokenizer that goes with it, saved together in one folder:
// config.json, model.safetensors (optionally optimizer.safetensors) and
// tokenizer.json, the layout Hugging Face tools read.
import { join } from 'node:path';
import { readCheckpointFolder } from './checkpoint.js';
import { Model, type LoadOptions, type SaveOptions } from './model.js';
import { loadTokenizer, saveTokenizer } from '../tokenizer/json.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface LanguageModel {
  model: Model;
  tokenizer: Tokenizer;
}

export async function loadLanguageModel(dir: string, options: LoadOptions = {}): Promise<LanguageModel> {
  // Tokenizer and model of one save: read again when a save landed in between.
  const { tokenizer, model } = await readCheckpointFolder(
    dir,
    async () => ({
      tokenizer: await loadTokenizer(join(dir, 'tokenizer.json')),
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
  return { model, tokenizer };
}

/** Model and tokenizer in one atomic checkpoint (Model.save). */
export async function saveLanguageModel(dir: string, lm: LanguageModel, options: SaveOptions = {}): Promise<void> {
  await lm.model.save(dir, {
    ...options,
    extraFiles: async (folder) => {
      await saveTokenizer(join(folder, 'tokenizer.json'), lm.tokenizer);
      await options.extraFiles?.(folder);
    },
  });
}
