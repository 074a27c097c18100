// The named protocols and the official rules they select: RewardBench's verdict
// extraction and tie rule on hand-made cases, the multi-turn judge prompt as
// RewardBench lays it out, and how explicit options override a protocol and
// are recorded.
import test from 'ava';
import { Model } from '../lib/index.js';
import { evaluateJudge } from '../lib/genrm/jobs.js';
import { judgeDirect } from '../lib/genrm/judge.js';
import { show, shownPromptIds, unshowable } from '../lib/genrm/pairs.js';
import {
  COMPACT_PAIRWISE,
  MT_BENCH_PAIRWISE,
  MT_BENCH_PAIRWISE_MULTI_TURN,
  judgeMessages,
  multiTurnJudgeMessages,
  twoTurns,
} from '../lib/genrm/prompt.js';
import { PROTOCOLS, protocolRecord, resolveProtocol } from '../lib/genrm/protocol.js';
import { parseVerdict, verdictScore } from '../lib/genrm/verdict.js';
import { evaluateBradleyTerry, rewardScore, type PairLike } from '../lib/train/bt.js';
import { fixtureTokenizer } from './judge-fixture.js';

const tokenizer = fixtureTokenizer();
const config = (over: Record<string, unknown> = {}) => ({
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: tokenizer.vocabSize,
  max_position_embeddings: 1024,
  ...over,
});

test('RewardBench extraction: [[A]] anywhere wins, else [[B]]; the last-tag rule reads the final word', (t) => {
  // Both tags: the official rule reads A wherever it is; genrm's reads the last tag.
  t.is(parseVerdict('At first [[B]], but on reflection [[A]].', 'rewardbench'), 'A');
  t.is(parseVerdict('At first [[A]], but on reflection [[B]].', 'rewardbench'), 'A');
  t.is(parseVerdict('At first [[A]], but on reflection [[B]].', 'last'), 'B');
  t.is(parseVerdict('At first [[A]], but on reflection [[B]].'), 'B');
  t.is(parseVerdict('B is right. [[B]]', 'rewardbench'), 'B');
  // Only the tie tag of MT-Bench's original prompt: no verdict, which scores 0.5 (RewardBench's "error").
  for (const rule of ['rewardbench', 'last'] as const) {
    t.is(parseVerdict('Both are equally good. [[C]]', rule), null, rule);
    t.is(verdictScore(parseVerdict('Both are equally good. [[C]]', rule), 'A'), 0.5);
    t.is(parseVerdict('[[a]] [ [A] ] [[ B ]]', rule), null, rule);
  }
  t.throws(() => parseVerdict('[[A]]', 'first' as never), {
    message: /verdict rule: expected one of last, rewardbench/,
  });
});

test('RewardBench ties: a reward tie scores 0 under the strict rule, 0.5 under genrm; both through the BT judge', async (t) => {
  t.is(rewardScore(1.25, 1.25, 'strict'), 0);
  t.is(rewardScore(1.25, 1.25, 'half'), 0.5);
  t.is(rewardScore(1.25, 1.25), 0.5);
  t.is(rewardScore(2, 1, 'strict'), 1);
  t.is(rewardScore(1, 2, 'strict'), 0);
  t.throws(() => rewardScore(1, 1, 'coin' as never), { message: /ties: expected one of half, strict/ });
  // The same answer twice: the rewards are exactly equal, so only the rule decides.
  const model = Model.create(config({ reward_head: true }), { seed: 5 });
  t.teardown(() => model.dispose());
  const tie: PairLike = {
    id: 't',
    prompt: [{ role: 'user', content: 'add 1 and 2' }],
    chosen: 'it is 3',
    rejected: 'it is 3',
  };
  const half = await evaluateBradleyTerry(model, tokenizer, [tie]);
  t.is(half.judgements[0]!.rewardChosen, half.judgements[0]!.rewardRejected);
  t.is(half.judgements[0]!.score, 0.5);
  const strict = await evaluateBradleyTerry(model, tokenizer, [tie], { ties: 'strict' });
  t.is(strict.judgements[0]!.score, 0);
  // evaluateJudge takes the rule from the protocol.
  const lm = { model, tokenizer };
  t.is((await evaluateJudge(lm, [tie], { kind: 'bt', protocol: 'rewardbench' })).judgements[0]!.score, 0);
  t.is((await evaluateJudge(lm, [tie], { kind: 'bt', protocol: 'genrm' })).judgements[0]!.score, 0.5);
  const given = await evaluateJudge(lm, [tie], { kind: 'bt', protocol: 'rewardbench', ties: 'half' });
  t.is(given.judgements[0]!.score, 0.5);
  t.deepEqual(given.protocol.differences, [{ setting: 'ties', protocol: 'strict', used: 'half' }]);
});

const twoTurnPair: PairLike = {
  id: 'mt',
  prompt: [
    { role: 'user', content: 'Name a prime.' },
    { role: 'assistant', content: 'Seven.' },
    { role: 'user', content: 'And an even one?' },
  ],
  chosen: 'Two.',
  rejected: 'Nine.',
};

test('a two-turn pair is shown with the multi-turn template as RewardBench lays it out', (t) => {
  t.deepEqual(twoTurns(twoTurnPair.prompt), {
    question1: 'Name a prime.',
    answer1: 'Seven.',
    question2: 'And an even one?',
  });
  const s = show(twoTurnPair, 'B');
  const [system, user] = multiTurnJudgeMessages(
    MT_BENCH_PAIRWISE_MULTI_TURN,
    twoTurns(s.prompt)!,
    s.answerA,
    s.answerB,
  );
  t.is(system!.role, 'system');
  t.true(
    system!.content.includes(
      'to the user questions. You should focus on who provides a better answer to the second user question.',
    ),
  );
  t.false(system!.content.includes('[[C]]'));
  // Both conversations share the first turn; each ends in its own answer to the second question.
  t.is(
    user!.content,
    "<|The Start of Assistant A's Conversation with User|>\n\n### User:\nName a prime.\n\n### Assistant A:\nSeven.\n\n" +
      "### User:\nAnd an even one?\n\n### Assistant A:\nNine.\n\n<|The End of Assistant A's Conversation with User|>\n\n\n" +
      "<|The Start of Assistant B's Conversation with User|>\n\n### User:\nName a prime.\n\n### Assistant B:\nSeven.\n\n" +
      "### User:\nAnd an even one?\n\n### Assistant B:\nTwo.\n\n<|The End of Assistant B's Conversation with User|>",
  );
  const multi = { tokenizer, template: MT_BENCH_PAIRWISE, multiTurnTemplate: MT_BENCH_PAIRWISE_MULTI_TURN };
  t.deepEqual(
    shownPromptIds(multi, s),
    tokenizer.applyChatTemplate([system!, user!], { addGenerationPrompt: true }).ids,
  );
  // Without the multi-turn template the conversation is flattened into one question.
  t.deepEqual(
    shownPromptIds({ tokenizer, template: MT_BENCH_PAIRWISE }, s),
    tokenizer.applyChatTemplate(
      judgeMessages(
        MT_BENCH_PAIRWISE,
        'User: Name a prime.\n\nAssistant: Seven.\n\nUser: And an even one?',
        'Nine.',
        'Two.',
      ),
      { addGenerationPrompt: true },
    ).ids,
  );
  // A single turn keeps the single-turn prompt under either rule.
  const one: PairLike = { id: 'one', prompt: [{ role: 'user', content: 'Q?' }], chosen: 'x', rejected: 'y' };
  t.deepEqual(
    shownPromptIds(multi, show(one, 'A')),
    shownPromptIds({ tokenizer, template: MT_BENCH_PAIRWISE }, show(one, 'A')),
  );
});

test('longer conversations cannot be shown with the multi-turn template: judges skip them with the reason', async (t) => {
  const three: PairLike = {
    ...twoTurnPair,
    id: 'three',
    prompt: [...twoTurnPair.prompt, { role: 'assistant', content: 'Two.' }, { role: 'user', content: 'A third?' }],
  };
  const multi = { tokenizer, template: COMPACT_PAIRWISE, multiTurnTemplate: MT_BENCH_PAIRWISE_MULTI_TURN };
  t.regex(unshowable(multi, three)!, /5 messages \(user, assistant, user, assistant, user\).*RewardBench drops longer/);
  t.is(unshowable(multi, twoTurnPair), null);
  t.is(unshowable({ tokenizer, template: COMPACT_PAIRWISE }, three), null);
  // Room for MT-Bench's prompts, which this small tokenizer spells out almost byte by byte.
  const model = Model.create(config({ max_position_embeddings: 4096 }), { seed: 6 });
  t.teardown(() => model.dispose());
  const { judgements, skipped } = await judgeDirect({ model, ...multi }, [three, twoTurnPair], {
    positions: 'random',
  });
  t.deepEqual(
    judgements.map((j) => j.id),
    ['mt'],
    JSON.stringify(skipped),
  );
  t.is(skipped.length, 1);
  t.is(skipped[0]!.id, 'three');
});

test('protocols: the official settings, explicit options override and are recorded, open settings are listed', (t) => {
  t.like(PROTOCOLS.rewardbench.settings, {
    template: 'mt-bench-pairwise',
    multiTurn: 'template',
    directPositions: 'random',
    cotPositions: 'random',
    verdictRule: 'rewardbench',
    ties: 'strict',
    k: 1,
    temperature: 0,
    topP: 1,
    maxNewTokens: 2048,
  });
  t.like(PROTOCOLS.paper.settings, { k: 32, temperature: 1, topP: 0.95, lr: 1e-6, rationalizerLr: 2e-5, dpoBeta: 1 });
  t.like(PROTOCOLS.genrm.settings, {
    directPositions: 'both',
    verdictRule: 'last',
    ties: 'half',
    multiTurn: 'flatten',
  });
  t.is(PROTOCOLS.genrm.settings.k % 2, 1);
  t.false(PROTOCOLS.rewardbench.star);

  const r = resolveProtocol('rewardbench', { k: 5, temperature: undefined, template: 'mt-bench-pairwise' });
  t.is(r.settings.k, 5);
  t.is(r.settings.temperature, 0);
  t.deepEqual(r.overridden, ['k']);
  const rec = protocolRecord(r, 'cot', 'given');
  t.deepEqual(rec.differences, [{ setting: 'k', protocol: 1, used: 5 }]);
  t.deepEqual(Object.keys(rec.settings), [
    'template',
    'multiTurn',
    'cotPositions',
    'verdictRule',
    'k',
    'temperature',
    'topP',
    'maxNewTokens',
  ]);
  t.deepEqual(rec.unstated, []);
  // What the paper leaves open is listed, unless the caller set it.
  const paper = protocolRecord(resolveProtocol('paper', { starK: 8 }), 'star', 'given');
  t.deepEqual(
    paper.unstated.map((u) => u.setting),
    ['template', 'multiTurn', 'cotPositions', 'verdictRule', 'maxNewTokens'],
  );
  t.deepEqual(paper.differences, [{ setting: 'starK', protocol: 4, used: 8 }]);

  t.throws(() => resolveProtocol('fastchat'), {
    message: 'protocol: expected one of rewardbench, paper, genrm, got "fastchat"',
  });
  t.throws(() => resolveProtocol('paper', { k: 0 }), { message: 'k: expected an integer >= 1, got 0' });
  t.throws(() => resolveProtocol('paper', { topP: 1.5 }), { message: 'topP: expected a number in (0, 1], got 1.5' });
  t.throws(() => resolveProtocol('paper', { ties: 'coin' as never }), {
    message: /ties: expected one of half, strict/,
  });
});

test('evaluateJudge applies the protocol: one random order for rewardbench, both for genrm, the record says which', async (t) => {
  const model = Model.create(config(), { seed: 7 });
  t.teardown(() => model.dispose());
  const lm = { model, tokenizer };
  const pairs: PairLike[] = Array.from({ length: 6 }, (_, i) => ({
    id: `p${i}`,
    prompt: [{ role: 'user', content: `add ${i} and 1` }],
    chosen: `it is ${i + 1}`,
    rejected: `it is ${i + 2}`,
  }));
  const official = await evaluateJudge(lm, pairs, {
    kind: 'direct',
    protocol: 'rewardbench',
    template: COMPACT_PAIRWISE,
  });
  t.regex(official.positions!, /one order per pair drawn from seed 0/);
  t.is(official.protocol.name, 'rewardbench');
  t.is(official.protocol.chosenBy, 'given');
  t.deepEqual(official.protocol.differences, [
    { setting: 'template', protocol: 'mt-bench-pairwise', used: 'compact-pairwise' },
  ]);
  const own = await evaluateJudge(lm, pairs, { kind: 'direct', template: COMPACT_PAIRWISE });
  t.is(own.positions, 'both orders, log-prob margins summed');
  t.is(own.protocol.name, 'genrm');
  t.is(own.protocol.chosenBy, 'the default');
});
