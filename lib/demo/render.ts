// Corpus documents and prompts as token sequences. Every sequence is built the
// way generation sees it: the prompt with the assistant header, then the reply's
// own encoding, then end of turn; the reply tokens are the targets.
import type { SequenceInput } from '../model/batch.js';
import { COMPACT_PAIRWISE, judgePromptIds } from '../genrm/prompt.js';
import type { ChatMessage } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { CorpusDocument } from '../world/index.js';

export const WORLD_TEMPLATE = COMPACT_PAIRWISE;

export function promptIds(tokenizer: Tokenizer, messages: readonly ChatMessage[]): Int32Array {
  return tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }).ids;
}

export function withReply(tokenizer: Tokenizer, prompt: Int32Array, reply: string): SequenceInput {
  const r = tokenizer.encode(reply);
  const ids = new Int32Array(prompt.length + r.length + 1);
  ids.set(prompt);
  ids.set(r, prompt.length);
  ids[ids.length - 1] = tokenizer.eot;
  return { ids, promptLength: prompt.length };
}

export function documentSequence(tokenizer: Tokenizer, doc: CorpusDocument): SequenceInput {
  if (doc.kind === 'judge')
    return withReply(
      tokenizer,
      judgePromptIds(tokenizer, WORLD_TEMPLATE, doc.question, doc.answerA, doc.answerB),
      doc.rationale,
    );
  return withReply(tokenizer, promptIds(tokenizer, doc.messages.slice(0, -1)), doc.messages.at(-1)!.content);
}

/** Text of a document, for training the tokenizer. */
export function documentText(doc: CorpusDocument): string {
  if (doc.kind === 'judge') return `${WORLD_TEMPLATE.user(doc.question, doc.answerA, doc.answerB)}\n${doc.rationale}`;
  return doc.messages.map((m) => m.content).join('\n');
}
