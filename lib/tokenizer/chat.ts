// genrm's chat template, for tokenizers without one of their own (template.ts
// renders a model's): Llama 3's layout with genrm's special tokens. Ids are built
// piece by piece (special ids between plain-text encodings), never by parsing
// the rendered text, so a message containing "<|eot_id|>" cannot end its turn.
// For contents without special-token strings the ids equal
// encode(text, { allowSpecial: true }), i.e. what HF tools get from the text.
import { TokenizerError, describe } from './errors.js';
import type { Tokenizer } from './tokenizer.js';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatOptions {
  /** End with the header of an assistant turn, for the model to continue. Default false. */
  addGenerationPrompt?: boolean;
}

export interface ChatResult {
  ids: Int32Array;
  /** The rendered conversation, special tokens written out. */
  text: string;
}

const ROLES: ReadonlySet<string> = new Set<ChatRole>(['system', 'user', 'assistant']);
const SOURCE = 'applyChatTemplate';

/** Throws a TokenizerError naming the message and field unless `messages` is an array of { role, content }. */
export function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages))
    throw new TokenizerError(SOURCE, `expected an array of { role, content }, got ${describe(messages)}`, 'messages');
  messages.forEach((m, i) => {
    const field = `messages[${i}]`;
    if (typeof m !== 'object' || m === null)
      throw new TokenizerError(SOURCE, `expected { role, content }, got ${describe(m)}`, field);
    if (!ROLES.has(m.role))
      throw new TokenizerError(
        SOURCE,
        `unknown role ${describe(m.role)}; expected "system", "user" or "assistant"`,
        `${field}.role`,
      );
    if (typeof m.content !== 'string')
      throw new TokenizerError(SOURCE, `expected a string, got ${describe(m.content)}`, `${field}.content`);
  });
}

export function renderChat(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): ChatResult {
  checkMessages(messages);
  const t = tokenizer;
  const name = (id: number) => t.idToToken(id);
  const ids: number[] = [t.bos];
  let text = name(t.bos);
  // The header: <|start_header_id|>role<|end_header_id|>; the "\n\n" after it
  // is encoded together with the content, as it would be from the text.
  const header = (role: string) => {
    ids.push(t.startHeader);
    for (const id of t.encode(role)) ids.push(id);
    ids.push(t.endHeader);
    text += `${name(t.startHeader)}${role}${name(t.endHeader)}`;
  };
  messages.forEach((m) => {
    header(m.role);
    for (const id of t.encode(`\n\n${m.content}`)) ids.push(id);
    ids.push(t.eot);
    text += `\n\n${m.content}${name(t.eot)}`;
  });
  if (options.addGenerationPrompt) {
    header('assistant');
    for (const id of t.encode('\n\n')) ids.push(id);
    text += '\n\n';
  }
  return { ids: Int32Array.from(ids), text };
}
