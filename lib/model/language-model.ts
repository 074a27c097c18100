// A model and the tokenizer that goes with it, saved together in one folder:
// config.json, model.safetensors (optionally optimizer.safetensors) and
// tokenizer.json, the layout Hugging Face tools read.
import { join } from 'node:path';
import { Model, type LoadOptions, type SaveOptions } from './model.js';
import { loadTokenizer, saveTokenizer } from '../tokenizer/json.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface LanguageModel {
  model: Model;
  tokenizer: Tokenizer;
}

export async function loadLanguageModel(dir: string, options: LoadOptions = {}): Promise<LanguageModel> {
  const tokenizer = await loadTokenizer(join(dir, 'tokenizer.json'));
  const model = await Model.load(dir, options);
  if (tokenizer.vocabSize > model.config.vocab_size) {
    model.dispose();
    throw new Error(`${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json's vocab_size is ${model.config.vocab_size}`);
  }
  return { model, tokenizer };
}

export async function saveLanguageModel(dir: string, lm: LanguageModel, options: SaveOptions = {}): Promise<void> {
  await lm.model.save(dir, options);
  await saveTokenizer(join(dir, 'tokenizer.json'), lm.tokenizer);
}
