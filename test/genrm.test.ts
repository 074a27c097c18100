// The GenRM judges: prompt rendering, verdict parsing and voting, position
// draws, the direct judge's margins against hand-built forwards, verdict SFT
// targets, and rationale sampling's independence from batching.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { packSequences } from '../lib/index.js';
import { judgeDirect, verdictIds, verdictSequence } from '../lib/genrm/judge.js';
import { positionsFor, show } from '../lib/genrm/pairs.js';
import { COMPACT_PAIRWISE, MT_BENCH_PAIRWISE, judgeMessages, questionText } from '../lib/genrm/prompt.js';
import { sampleRationales, voteOn } from '../lib/genrm/rationales.js';
import { verdictUnits } from '../lib/genrm/train-verdict.js';
import { majorityVote, parseVerdict, verdictScore } from '../lib/genrm/verdict.js';
import { makePairs, verdictJudge } from './judge-fixture.js';

const judge = verdictJudge(1);
test.after.always(async () => {
  const { ctx, dir } = await judge;
  ctx.model.dispose();
  await rm(dir, { recursive: true, force: true });
});

test('the verdict is the last [[A]] or [[B]]; anything else is no verdict', (t) => {
  t.is(parseVerdict('A is wrong, so [[B]]'), 'B');
  t.is(parseVerdict('first [[A]] then, on reflection, [[B]]. Final: [[A]]'), 'A');
  t.is(parseVerdict('[[C]] or [[ A ]] or [A] or [[a]]'), null);
  t.is(parseVerdict(''), null);
  t.is(verdictScore('A', 'A'), 1);
  t.is(verdictScore('B', 'A'), 0);
  t.is(verdictScore(null, 'B'), 0.5);
});

test('majority vote: ties and no votes score 0.5; samples without a verdict are counted, not voted', (t) => {
  t.deepEqual(majorityVote([true, false, true, null]), { score: 1, forChosen: 2, forRejected: 1, noVerdict: 1 });
  t.deepEqual(majorityVote([true, false]), { score: 0.5, forChosen: 1, forRejected: 1, noVerdict: 0 });
  t.deepEqual(majorityVote([null, null]), { score: 0.5, forChosen: 0, forRejected: 0, noVerdict: 2 });
  t.deepEqual(majorityVote([false, false, true]), { score: 0, forChosen: 1, forRejected: 2, noVerdict: 0 });
});

test('the MT-Bench prompt has no tie option and puts each answer in its slot; the hint follows the answers', (t) => {
  const [system, user] = judgeMessages(MT_BENCH_PAIRWISE, 'Q?', 'first answer', 'second answer', 'B');
  t.is(system!.role, 'system');
  t.false(system!.content.includes('[[C]]'));
  t.true(system!.content.includes('"[[A]]" if assistant A is better, "[[B]]" if assistant B is better.'));
  const a = user!.content.indexOf(
    "[The Start of Assistant A's Answer]\nfirst answer\n[The End of Assistant A's Answer]",
  );
  const b = user!.content.indexOf(
    "[The Start of Assistant B's Answer]\nsecond answer\n[The End of Assistant B's Answer]",
  );
  t.true(a > 0 && b > a);
  t.true(user!.content.indexOf('[[B]]') > b);
  t.is(judgeMessages(COMPACT_PAIRWISE, 'Q', 'x', 'y').length, 1);
  t.is(questionText([{ role: 'user', content: 'hi' }]), 'hi');
  t.is(
    questionText([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'yo' },
      { role: 'user', content: 'and?' },
    ]),
    'User: hi\n\nAssistant: yo\n\nUser: and?',
  );
});

test('random positions depend only on (seed, pair id) and are balanced; both shows each order', (t) => {
  const pairs = makePairs(2000);
  const draws = pairs.map((p) => positionsFor(p, 'random', 7)[0]);
  const again = [...pairs]
    .reverse()
    .map((p) => positionsFor(p, 'random', 7)[0])
    .reverse();
  t.deepEqual(draws, again);
  const a = draws.filter((d) => d === 'A').length;
  t.true(Math.abs(a - 1000) < 3 * Math.sqrt(500), `${a} of 2000 chosen-at-A`);
  t.notDeepEqual(
    pairs.map((p) => positionsFor(p, 'random', 8)[0]),
    draws,
  );
  t.deepEqual(positionsFor(pairs[0]!, 'both', 7), ['A', 'B']);
  const s = show(pairs[3]!, 'B');
  t.is(s.answerA, pairs[3]!.rejected);
  t.is(s.answerB, pairs[3]!.chosen);
});

test('verdict SFT: both orders, the target is exactly the verdict naming the chosen answer and the end of turn', async (t) => {
  const { ctx } = await judge;
  const pairs = makePairs(3);
  const { units, skipped } = verdictUnits(ctx, pairs);
  t.is(units.length, 6);
  t.deepEqual(skipped, []);
  units.forEach((u, i) => {
    const seq = u.sequences[0]!;
    const want = verdictIds(ctx, i % 2 === 0 ? 'A' : 'B');
    t.deepEqual(Array.from(seq.ids).slice(seq.promptLength), Array.from(want));
    t.is(ctx.tokenizer.decode(want, { skipSpecialTokens: true }), i % 2 === 0 ? '[[A]]' : '[[B]]');
  });
});

test('direct judge: margins are log p(verdict for chosen) - log p(other), summed over the orders shown', async (t) => {
  const { ctx } = await judge;
  const pairs = makePairs(5);
  const { judgements } = await judgeDirect(ctx, pairs, { positions: 'both' });
  for (const [i, pair] of pairs.entries()) {
    let margin = 0;
    for (const at of ['A', 'B'] as const) {
      const seqs = [verdictSequence(ctx, pair, at, at), verdictSequence(ctx, pair, at, at === 'A' ? 'B' : 'A')];
      const { seqLogps } = await ctx.model.forward(packSequences(seqs));
      margin += seqLogps![0]! - seqLogps![1]!;
    }
    t.true(Math.abs(judgements[i]!.margin - margin) < 1e-3, `pair ${i}: ${judgements[i]!.margin} vs ${margin}`);
    t.is(judgements[i]!.score, margin > 0 ? 1 : 0);
    t.is(judgements[i]!.subset, pair.subset);
  }
  const random = await judgeDirect(ctx, pairs, { positions: 'random', seed: 3 });
  t.deepEqual(
    random.judgements.map((j) => j.chosenAt.length),
    [1, 1, 1, 1, 1],
  );
});

test('a pair too long for the model is skipped with the reason, not judged', async (t) => {
  const { ctx } = await judge;
  const long = { ...makePairs(1)[0]!, id: 'long', chosen: 'it is 7 '.repeat(200) };
  const { judgements, skipped } = await judgeDirect(ctx, [long, ...makePairs(2)]);
  t.deepEqual(
    judgements.map((j) => j.id),
    ['p0', 'p1'],
  );
  t.is(skipped.length, 1);
  t.regex(skipped[0]!.reason, /tokens exceed the model's 160 positions/);
  const sampled = await sampleRationales(ctx, [long], { k: 2, maxNewTokens: 8 });
  t.deepEqual(sampled.results, []);
  t.regex(sampled.skipped[0]!.reason, /leaves 0 of the model's 160 positions/);
});

test('rationales: a pair gets the same samples alone, in a crowd, or in another chunking; verdicts parse from the text', async (t) => {
  const { ctx } = await judge;
  const pairs = makePairs(6);
  const opts = { k: 3, maxNewTokens: 14, seed: 5, positions: 'both' as const };
  const all = await sampleRationales(ctx, pairs, { ...opts, chunkPairs: 4 });
  const alone = await sampleRationales(ctx, [pairs[4]!], opts);
  const strip = (r: (typeof alone.results)[number]) =>
    r.samples.map((s) => [s.chosenAt, Array.from(s.tokens), s.verdict]);
  t.deepEqual(strip(all.results[4]!), strip(alone.results[0]!));
  t.is(all.results[4]!.samples.length, 6);
  for (const r of all.results)
    for (const s of r.samples) {
      t.is(s.text, ctx.tokenizer.decode(s.tokens, { skipSpecialTokens: true }));
      t.is(s.verdict, parseVerdict(s.text));
      t.is(s.agrees, s.verdict === null ? null : s.verdict === s.chosenAt);
    }
  const votes = voteOn(all.results);
  votes.forEach((v, i) => t.is(v.forChosen + v.forRejected + v.noVerdict, all.results[i]!.samples.length));
  const hinted = await sampleRationales(ctx, [pairs[0]!], { ...opts, hint: true });
  for (const s of hinted.results[0]!.samples) {
    t.is(s.hint, s.chosenAt);
    t.deepEqual(
      Array.from(s.promptIds),
      Array.from(all.results[0]!.samples.find((x) => x.chosenAt === s.chosenAt)!.promptIds),
    );
  }
});

test('rationales read their verdict by the rule asked for: RewardBench reads [[A]] first, genrm the last tag', async (t) => {
  const { ctx } = await judge;
  // Every rationale decodes to a text that names both answers, so the two rules must disagree.
  const text = 'At first [[A]]; checking again, [[B]]';
  const tokenizer = new Proxy(ctx.tokenizer, {
    get(target, prop) {
      if (prop === 'decode') return () => text;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const both = { ...ctx, tokenizer };
  const opts = { k: 2, maxNewTokens: 8, seed: 8, positions: 'both' as const };
  const official = await sampleRationales(both, makePairs(2), { ...opts, verdictRule: 'rewardbench' });
  const own = await sampleRationales(both, makePairs(2), opts);
  t.deepEqual(
    official.results.flatMap((r) => r.samples.map((s) => [s.chosenAt, s.verdict, s.agrees])),
    [
      ['A', 'A', true],
      ['A', 'A', true],
      ['B', 'A', false],
      ['B', 'A', false],
      ['A', 'A', true],
      ['A', 'A', true],
      ['B', 'A', false],
      ['B', 'A', false],
    ],
  );
  t.true(own.results.every((r) => r.samples.every((s) => s.verdict === 'B')));
});
