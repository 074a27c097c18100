// openbmb/UltraInteract_pair: trajectory is the conversation so far as
// [{from, value}] (the user's task, then any earlier attempts and feedback);
// chosen and rejected are the next assistant turn. Pairs sharing parent_id come
// from one task, so they are one group.
import type { ChatRole } from '../tokenizer/chat.js';
import { endsWithUser, key, messages, nonEmptyText, text, textOrNull } from './check.js';
import type { MessageSpec } from './check.js';
import { fault } from './errors.js';
import type { FormatSpec } from './spec.js';

const TURNS: MessageSpec = {
  roleKey: 'from',
  contentKey: 'value',
  // ShareGPT's names too: some exports of the data use them.
  roles: new Map<string, ChatRole>([
    ['user', 'user'],
    ['assistant', 'assistant'],
    ['system', 'system'],
    ['human', 'user'],
    ['gpt', 'assistant'],
  ]),
};

export const ultrainteract: FormatSpec = {
  name: 'ultrainteract',
  columns: ['id', 'parent_id', 'task', 'dataset', 'trajectory', 'chosen', 'rejected'],
  signature: ['trajectory', 'parent_id'],

  parse(row, source) {
    const id = key(row.id, 'id');
    const group = key(row.parent_id, 'parent_id');
    const subset = nonEmptyText(row.task, 'task');
    textOrNull(row.dataset, 'dataset');
    const prompt = messages(row.trajectory, 'trajectory', 1, TURNS);
    endsWithUser(prompt, (i) => `trajectory[${i}]`, 'from', 'value');
    const chosen = text(row.chosen, 'chosen');
    const rejected = text(row.rejected, 'rejected');
    return { id, prompt, chosen, rejected, source, subset, group };
  },

  toRow(pair) {
    if (pair.subset === undefined) fault('subset', 'missing; the ultrainteract format stores it as task');
    if (pair.group === undefined) fault('group', 'missing; the ultrainteract format stores it as parent_id');
    if (pair.scores !== undefined) fault('scores', 'the ultrainteract format has no column for them');
    return {
      id: pair.id,
      parent_id: pair.group,
      task: pair.subset,
      dataset: pair.source,
      trajectory: pair.prompt.map((m) => ({ from: m.role, value: m.content })),
      chosen: pair.chosen,
      rejected: pair.rejected,
    };
  },
};
