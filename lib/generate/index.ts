// Text generation over a LanguageModel (Model.generate is the token-level API).
export { generateText, type GenerateTextOptions, type GenerateTextResult, type TextSample } from './text.js';
export type { TextPrompt, Truncation } from './prompts.js';
