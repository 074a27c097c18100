// HuggingFaceH4/ultrafeedback_binarized (train_prefs, test_prefs): chosen and
// rejected are whole conversations, the prompt plus one assistant answer each;
// prompt repeats the first user message; score_* are the ratings (1-10).
import type { ChatMessage } from '../tokenizer/chat.js';
import { endsWithUser, finite, key, messages, text } from './check.js';
import { fault } from './errors.js';
import type { FormatSpec } from './spec.js';

function answer(conversation: readonly ChatMessage[], field: string): string {
  const i = conversation.length - 1;
  const last = conversation[i]!;
  if (last.role !== 'assistant')
    fault(`${field}[${i}].role`, `the last message is a ${last.role} message; expected the assistant's answer`);
  return last.content;
}

const message = (m: ChatMessage) => ({ content: m.content, role: m.role });

export const ultrafeedback: FormatSpec = {
  name: 'ultrafeedback',
  // `id` is genrm's own optional column, for several pairs per prompt; absent, id = prompt_id.
  columns: ['prompt', 'prompt_id', 'chosen', 'rejected', 'score_chosen', 'score_rejected', 'id'],
  signature: ['prompt_id', 'score_chosen', 'score_rejected'],

  parse(row, source) {
    const promptText = text(row.prompt, 'prompt');
    const group = key(row.prompt_id, 'prompt_id');
    const chosenConversation = messages(row.chosen, 'chosen', 2);
    const rejectedConversation = messages(row.rejected, 'rejected', 2);
    const chosen = answer(chosenConversation, 'chosen');
    const rejected = answer(rejectedConversation, 'rejected');
    const prompt = chosenConversation.slice(0, -1);
    endsWithUser(prompt, (i) => `chosen[${i}]`);
    if (rejectedConversation.length !== chosenConversation.length) {
      fault(
        'rejected',
        `has ${rejectedConversation.length} messages and chosen ${chosenConversation.length}; both must be the same prompt plus one answer`,
      );
    }
    prompt.forEach((m, i) => {
      const r = rejectedConversation[i]!;
      if (r.role !== m.role)
        fault(`rejected[${i}].role`, `is ${r.role} but chosen[${i}].role is ${m.role}; both must share the prompt`);
      if (r.content !== m.content)
        fault(`rejected[${i}].content`, `differs from chosen[${i}].content; both must share the prompt`);
    });
    const first = prompt.findIndex((m) => m.role === 'user');
    if (prompt[first]!.content !== promptText)
      fault('prompt', `differs from the first user message, chosen[${first}].content`);
    const scores = {
      chosen: finite(row.score_chosen, 'score_chosen'),
      rejected: finite(row.score_rejected, 'score_rejected'),
    };
    if (scores.chosen < scores.rejected) {
      fault(
        'score_chosen',
        `${scores.chosen} is below score_rejected ${scores.rejected}; the chosen answer must be rated at least as high`,
      );
    }
    const id = row.id === undefined || row.id === null ? group : key(row.id, 'id');
    return { id, prompt, chosen, rejected, source, group, scores };
  },

  toRow(pair) {
    if (pair.scores === undefined)
      fault('scores', 'missing; the ultrafeedback format needs score_chosen and score_rejected');
    if (pair.group === undefined) fault('group', 'missing; the ultrafeedback format stores it as prompt_id');
    if (pair.subset !== undefined) fault('subset', 'the ultrafeedback format has no column for it');
    const prompt = pair.prompt.map(message);
    const row: Record<string, unknown> = {
      prompt: pair.prompt.find((m) => m.role === 'user')?.content,
      prompt_id: pair.group,
      chosen: [...prompt, { content: pair.chosen, role: 'assistant' }],
      rejected: [...prompt, { content: pair.rejected, role: 'assistant' }],
      score_chosen: pair.scores.chosen,
      score_rejected: pair.scores.rejected,
    };
    if (pair.id !== pair.group) row.id = pair.id;
    return row;
  },
};
