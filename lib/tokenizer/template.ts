// A model's own chat template (tokenizer_config.json's chat_template, a Jinja
// template), rendered with Hugging Face's Jinja engine as transformers renders
// it, and encoded as transformers encodes the result: special tokens written by
// the template are special tokens. Message contents are not trusted: a
// special-token string inside one (an answer that quotes "<|eot_id|>") is
// encoded as ordinary text, so no content can end its turn or open another.
import { Template } from '@huggingface/jinja';
import { TokenizerError, describe } from './errors.js';
import type { ChatMessage, ChatOptions, ChatResult } from './chat.js';
import type { Tokenizer } from './tokenizer.js';

/** What renders a model's chat: the template and the special-token strings it may name. */
export interface ChatTemplateSpec {
  /** The Jinja source (tokenizer_config.json chat_template). */
  source: string;
  /** Strings the template reads as bos_token, eos_token, ... (tokenizer_config.json's). */
  variables: Readonly<Record<string, string>>;
  /** The tokenizer_config.json it came from, written back as it was when the tokenizer is saved. */
  config?: Readonly<Record<string, unknown>>;
}

const SOURCE = 'chat_template';
// Contents stand in as private-use markers to find where the template put them.
const marker = (i: number) => `\uE000${i}\uE001`;
const MARKERS = /\uE000(\d+)\uE001/g;

// Parsed once per template text: a judge renders thousands of prompts with one template.
const parsed = new Map<string, Template>();
function templateOf(source: string): Template {
  let t = parsed.get(source);
  if (t === undefined) {
    t = new Template(source);
    parsed.set(source, t);
  }
  return t;
}

/**
 * The chat_template of a tokenizer_config.json object, or undefined when it has none.
 * A list of named templates (transformers' format for several) gives the one named "default".
 */
export function chatTemplateOf(config: Record<string, unknown>, source: string): ChatTemplateSpec | undefined {
  let template = config.chat_template;
  if (template === undefined || template === null) return undefined;
  if (Array.isArray(template)) {
    const named = template.find((t) => (t as { name?: unknown })?.name === 'default') as { template?: unknown };
    template = named?.template;
  }
  if (typeof template !== 'string')
    throw new TokenizerError(
      source,
      `expected a string or a list with a "default" template, got ${describe(config.chat_template)}`,
      SOURCE,
    );
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!key.endsWith('_token')) continue;
    const text = typeof value === 'string' ? value : (value as { content?: unknown } | null)?.content;
    if (typeof text === 'string') variables[key] = text;
  }
  try {
    templateOf(template);
  } catch (e) {
    throw new TokenizerError(source, `the template does not parse: ${(e as Error).message}`, SOURCE);
  }
  return { source: template, variables, config };
}

function render(spec: ChatTemplateSpec, messages: readonly ChatMessage[], options: ChatOptions): string {
  try {
    return templateOf(spec.source).render({
      ...spec.variables,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
    });
  } catch (e) {
    throw new TokenizerError(SOURCE, `rendering failed: ${(e as Error).message}`, 'messages');
  }
}

/**
 * Where each content lies in `text`: the template rendered with markers for
 * contents, then the contents put back as given or trimmed (the transformations
 * published templates apply). Undefined when neither reproduces `text`.
 */
function contentSpans(
  spec: ChatTemplateSpec,
  messages: readonly ChatMessage[],
  options: ChatOptions,
  text: string,
): Array<[number, number]> | undefined {
  const marked = render(
    spec,
    messages.map((m, i) => ({ ...m, content: marker(i) })),
    options,
  );
  for (const shape of [(s: string) => s, (s: string) => s.trim()]) {
    const spans: Array<[number, number]> = [];
    let rebuilt = '';
    let last = 0;
    for (const m of marked.matchAll(MARKERS)) {
      rebuilt += marked.slice(last, m.index);
      const content = shape(messages[Number(m[1])]!.content);
      spans.push([rebuilt.length, rebuilt.length + content.length]);
      rebuilt += content;
      last = m.index + m[0].length;
    }
    rebuilt += marked.slice(last);
    if (rebuilt === text) return spans;
  }
  return undefined;
}

/**
 * The text the template writes right after an assistant message's content, up
 * to and including its first special token: what ends the model's turn
 * (`<|eot_id|>` in Llama 3's, `<|im_end|>` in Qwen's). Undefined when the
 * template writes no special token there.
 */
export function turnEndText(tokenizer: Tokenizer, spec: ChatTemplateSpec): string | undefined {
  const end = marker(1);
  const text = render(
    spec,
    [
      { role: 'user', content: marker(0) },
      { role: 'assistant', content: end },
    ],
    {},
  );
  const at = text.indexOf(end);
  if (at < 0) return undefined;
  const after = text.slice(at + end.length);
  let first: [number, string] | undefined;
  for (const s of tokenizer.specialTokens.keys()) {
    const i = after.indexOf(s);
    if (i >= 0 && (first === undefined || i < first[0])) first = [i, s];
  }
  return first === undefined ? undefined : after.slice(0, first[0] + first[1].length);
}

/** A conversation rendered by the model's own template and encoded as transformers would, contents as text. */
export function renderChatTemplate(
  tokenizer: Tokenizer,
  spec: ChatTemplateSpec,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): ChatResult {
  const text = render(spec, messages, options);
  const specials = [...tokenizer.specialTokens.keys()];
  const risky = messages.findIndex((m) => specials.some((s) => m.content.includes(s)));
  if (risky < 0) return { ids: tokenizer.encode(text, { allowSpecial: true }), text };
  const spans = contentSpans(spec, messages, options, text);
  if (spans === undefined)
    throw new TokenizerError(
      SOURCE,
      'contains special-token text, and the chat template changes contents in a way genrm cannot trace, so it cannot be kept as text',
      `messages[${risky}].content`,
    );
  return { ids: tokenizer.encodeOutside(text, spans), text };
}
