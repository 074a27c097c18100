// How well a model checks answers in the world's language: greedy checks of
// fresh "check this answer" prompts (never in its corpus), scored on the part
// that matters to a judge - does the check end in the right judgement - and on
// its two steps: solving the question (the "Right answer:" line) and quoting the
// reply's answer. The report prints it because a judge can only be as good as
// its base model's checks.
import { promptIds } from './render.js';
import type { LanguageModel } from '../model/language-model.js';
import { RIGHT, corpusDocuments, type CheckDocument } from '../world/index.js';

export interface CheckProbe {
  /** Checks whose final judgement (right / wrong) is true. */
  judgement: number;
  /** Checks whose worked solution reaches the reference's "Right answer:" line. */
  solve: number;
  /** Checks whose "The reply says X." is exactly the reference's. */
  quote: number;
  /** Checks identical to the reference. */
  exact: number;
  count: number;
  byFamily: Record<string, { judgement: number; solve: number; count: number }>;
}

export async function probeChecks(
  lm: LanguageModel,
  options: { count?: number; seed?: number; exclude?: ReadonlySet<string>; maxNewTokens?: number } = {},
): Promise<CheckProbe> {
  const count = options.count ?? 150;
  const docs: CheckDocument[] = [];
  for (const d of corpusDocuments({
    seed: options.seed ?? 777_777,
    checkShare: 1,
    judgeShare: 0,
    exclude: options.exclude,
  })) {
    if (d.kind === 'check') docs.push(d);
    if (docs.length === count) break;
  }
  const limit = lm.model.config.max_position_embeddings;
  const prompts = docs.map((d) => promptIds(lm.tokenizer, d.messages.slice(0, 1)));
  const room = Math.min(options.maxNewTokens ?? 160, limit - Math.max(...prompts.map((p) => p.length)));
  const { results } = await lm.model.generate(
    prompts.map((ids) => ({ ids })),
    { maxNewTokens: Math.max(1, room), temperature: 0, stopTokens: [lm.tokenizer.eot], maxBatch: 256 },
  );
  const probe: CheckProbe = { judgement: 0, solve: 0, quote: 0, exact: 0, count, byFamily: {} };
  const line = (text: string, re: RegExp) => re.exec(text)?.[0];
  results.forEach((r, i) => {
    const got = lm.tokenizer.decode(r[0]!.tokens, { skipSpecialTokens: true }).trim();
    const want = docs[i]!.messages[1]!.content.trim();
    const right = got.endsWith(RIGHT) === want.endsWith(RIGHT) && (got.endsWith(RIGHT) || got.endsWith('wrong.'));
    const solved = line(got, /^Right answer: .*$/m) === line(want, /^Right answer: .*$/m);
    const fam = (probe.byFamily[docs[i]!.family] ??= { judgement: 0, solve: 0, count: 0 });
    fam.count++;
    if (right) {
      probe.judgement++;
      fam.judgement++;
    }
    if (solved) {
      probe.solve++;
      fam.solve++;
    }
    if (
      line(got, /The reply (says [^\n]*?|gives no answer)\./) ===
      line(want, /The reply (says [^\n]*?|gives no answer)\./)
    )
      probe.quote++;
    if (got === want) probe.exact++;
  });
  probe.judgement /= count;
  probe.solve /= count;
  probe.quote /= count;
  probe.exact /= count;
  for (const f of Object.values(probe.byFamily)) {
    f.judgement /= f.count;
    f.solve /= f.count;
  }
  return probe;
}
