// The pairwise judge prompt. The default is MT-Bench's pairwise judge prompt
// (FastChat, Apache-2.0) with the tie option removed, as RewardBench and the
// GenRM paper use it: the wording is part of the evaluation protocol, so it is
// reproduced as published rather than paraphrased. A template renders to chat
// messages; the model's chat template turns them into ids.
import type { ChatMessage } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export type Verdict = 'A' | 'B';

export interface JudgeTemplate {
  name: string;
  /** System message; omitted from the chat when empty. */
  system: string;
  /** The user message: the conversation so far and the two answers. */
  user(question: string, answerA: string, answerB: string): string;
  /** Appended to the user message by the STaR rationalizer: the right verdict as a hint. */
  hint(verdict: Verdict): string;
}

export const MT_BENCH_PAIRWISE: JudgeTemplate = {
  name: 'mt-bench-pairwise',
  system:
    'Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. ' +
    "You should choose the assistant that follows the user's instructions and answers the user's question better. " +
    'Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their responses. ' +
    'Begin your evaluation by comparing the two responses and provide a short explanation. ' +
    'Avoid any position biases and ensure that the order in which the responses were presented does not influence your decision. ' +
    'Do not allow the length of the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as possible. ' +
    'After providing your explanation, output your final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better.',
  user: (q, a, b) =>
    `[User Question]\n${q}\n\n[The Start of Assistant A's Answer]\n${a}\n[The End of Assistant A's Answer]\n\n` +
    `[The Start of Assistant B's Answer]\n${b}\n[The End of Assistant B's Answer]`,
  hint: (v) => `\n\n[Hint]\nThe better answer is [[${v}]]. Explain why, then give the verdict.`,
};

/** The parts of a two-turn conversation that a multi-turn judge prompt lays out. */
export interface TwoTurns {
  question1: string;
  /** The first assistant turn, part of the conversation both answers continue. */
  answer1: string;
  question2: string;
}

export interface MultiTurnJudgeTemplate {
  name: string;
  system: string;
  /** Both conversations, each ending in one of the two answers to the second question. */
  user(turns: TwoTurns, answerA: string, answerB: string): string;
  hint(verdict: Verdict): string;
}

/**
 * MT-Bench's multi-turn pairwise prompt (FastChat's pair-v2-multi-turn layout)
 * with the system prompt RewardBench uses for it (rewardbench/generative.py
 * prompt_multi_v2: the tie option removed, the second question singled out).
 * Reproduced as published, like MT_BENCH_PAIRWISE.
 */
export const MT_BENCH_PAIRWISE_MULTI_TURN: MultiTurnJudgeTemplate = {
  name: 'mt-bench-pairwise-multi-turn',
  system:
    'Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user questions. ' +
    'You should focus on who provides a better answer to the second user question. ' +
    "You should choose the assistant that follows the user's instructions and answers the user's question better. " +
    'Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their responses. ' +
    'Begin your evaluation by comparing the two responses and provide a short explanation. ' +
    'Avoid any position biases and ensure that the order in which the responses were presented does not influence your decision. ' +
    'Do not allow the length of the responses to influence your evaluation. Do not favor certain names of the assistants. ' +
    'Be as objective as possible. After providing your explanation, output your final verdict by strictly following this format: ' +
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better.',
  user: (t, a, b) => {
    const side = (x: 'A' | 'B', last: string) =>
      `<|The Start of Assistant ${x}'s Conversation with User|>\n\n### User:\n${t.question1}\n\n### Assistant ${x}:\n${t.answer1}\n\n` +
      `### User:\n${t.question2}\n\n### Assistant ${x}:\n${last}\n\n<|The End of Assistant ${x}'s Conversation with User|>`;
    return `${side('A', a)}\n\n\n${side('B', b)}`;
  },
  hint: MT_BENCH_PAIRWISE.hint,
};

/**
 * The turns of a [user, assistant, user] conversation, or null for any other
 * shape. RewardBench's generative harness judges conversations of one or two
 * user turns and drops longer ones (load_eval_dataset with max_turns=4).
 */
export function twoTurns(prompt: readonly ChatMessage[]): TwoTurns | null {
  if (prompt.length !== 3) return null;
  const [q1, a1, q2] = prompt as [ChatMessage, ChatMessage, ChatMessage];
  if (q1.role !== 'user' || a1.role !== 'assistant' || q2.role !== 'user') return null;
  return { question1: q1.content, answer1: a1.content, question2: q2.content };
}

/** Chat messages of the multi-turn judge prompt (the system message omitted when empty). */
export function multiTurnJudgeMessages(
  template: MultiTurnJudgeTemplate,
  turns: TwoTurns,
  answerA: string,
  answerB: string,
  hint?: Verdict,
): ChatMessage[] {
  const user = template.user(turns, answerA, answerB) + (hint ? template.hint(hint) : '');
  return template.system
    ? [
        { role: 'system', content: template.system },
        { role: 'user', content: user },
      ]
    : [{ role: 'user', content: user }];
}

/** A compact template for small models with short contexts (the built-in world): same structure, few tokens. */
export const COMPACT_PAIRWISE: JudgeTemplate = {
  name: 'compact-pairwise',
  system: '',
  user: (q, a, b) =>
    `Judge which answer is better. End with [[A]] or [[B]].\nQuestion: ${q}\nAnswer A: ${a}\nAnswer B: ${b}`,
  hint: (v) => `\nHint: [[${v}]]`,
};

export const TEMPLATES: Readonly<Record<string, JudgeTemplate>> = {
  [MT_BENCH_PAIRWISE.name]: MT_BENCH_PAIRWISE,
  [COMPACT_PAIRWISE.name]: COMPACT_PAIRWISE,
};

export function templateByName(name: string): JudgeTemplate {
  const t = TEMPLATES[name];
  if (!t)
    throw new RangeError(
      `template: unknown judge template ${JSON.stringify(name)}; expected one of ${Object.keys(TEMPLATES).join(', ')}`,
    );
  return t;
}

/**
 * The conversation shown to the judge as one question: a single user turn is
 * its text; a longer conversation is written out turn by turn, so the judge sees
 * the context the final answers reply to.
 */
export function questionText(prompt: readonly ChatMessage[]): string {
  if (prompt.length === 1 && prompt[0]!.role === 'user') return prompt[0]!.content;
  return prompt
    .map((m) => `${m.role === 'user' ? 'User' : m.role === 'assistant' ? 'Assistant' : 'System'}: ${m.content}`)
    .join('\n\n');
}

export function judgeMessages(
  template: JudgeTemplate,
  question: string,
  answerA: string,
  answerB: string,
  hint?: Verdict,
): ChatMessage[] {
  const user = template.user(question, answerA, answerB) + (hint ? template.hint(hint) : '');
  return template.system
    ? [
        { role: 'system', content: template.system },
        { role: 'user', content: user },
      ]
    : [{ role: 'user', content: user }];
}

/** Token ids of the judge prompt, ending with the assistant header the model continues from. */
export function judgePromptIds(
  tokenizer: Tokenizer,
  template: JudgeTemplate,
  question: string,
  answerA: string,
  answerB: string,
  hint?: Verdict,
): Int32Array {
  return tokenizer.applyChatTemplate(judgeMessages(template, question, answerA, answerB, hint), {
    addGenerationPrompt: true,
  }).ids;
}
