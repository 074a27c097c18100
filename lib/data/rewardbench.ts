// allenai/reward-bench (split "filtered", 2,985 rows): a single-turn prompt as
// a string, the two answers and the models that wrote them, the subset the
// row is scored in, and a numeric id.
import { key, nonEmptyText, text, textOrNull } from './check.js';
import { fault } from './errors.js';
import type { FormatSpec } from './spec.js';

const INTEGER = /^(0|[1-9][0-9]*)$/;

export const rewardbench: FormatSpec = {
  name: 'rewardbench',
  columns: ['prompt', 'chosen', 'chosen_model', 'rejected', 'rejected_model', 'subset', 'id'],
  signature: ['subset', 'chosen_model', 'rejected_model'],

  parse(row, source) {
    const prompt = nonEmptyText(row.prompt, 'prompt');
    const chosen = text(row.chosen, 'chosen');
    textOrNull(row.chosen_model, 'chosen_model');
    const rejected = text(row.rejected, 'rejected');
    textOrNull(row.rejected_model, 'rejected_model');
    const subset = nonEmptyText(row.subset, 'subset');
    const id = key(row.id, 'id');
    return { id, prompt: [{ role: 'user', content: prompt }], chosen, rejected, source, subset };
  },

  toRow(pair) {
    const [first] = pair.prompt;
    if (pair.prompt.length !== 1 || first?.role !== 'user') {
      fault(
        'prompt',
        `the rewardbench format holds one user message; got ${pair.prompt.map((m) => m.role).join(', ') || 'none'}`,
      );
    }
    if (pair.subset === undefined) fault('subset', 'missing; the rewardbench format needs it');
    if (pair.group !== undefined) fault('group', 'the rewardbench format has no column for it');
    if (pair.scores !== undefined) fault('scores', 'the rewardbench format has no column for them');
    // The models are not part of a pair: written as "unknown".
    return {
      prompt: first.content,
      chosen: pair.chosen,
      chosen_model: 'unknown',
      rejected: pair.rejected,
      rejected_model: 'unknown',
      subset: pair.subset,
      id: INTEGER.test(pair.id) && Number.isSafeInteger(Number(pair.id)) ? Number(pair.id) : pair.id,
    };
  },
};
