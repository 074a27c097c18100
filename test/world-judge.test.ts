// Rationales and the pretraining corpus of the built-in world: faithful
// rationales pass isFaithful and every broken one fails; the corpus covers
// every family and level, keeps its shares, leaves the world's questions out,
// and its judging texts are sloppy at the set rate. Texts stay short enough for
// a tiny model.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  FAMILIES,
  FAMILY_NAMES,
  LEVELS,
  Rng,
  check,
  corpusDocuments,
  decorate,
  generateWorld,
  isCorrect,
  isFaithful,
  parseRationale,
  questionTexts,
  rationaleFor,
  solve,
  wrongAnswer,
} from '../lib/world/index.js';
import type { CorpusDocument, WorldPair } from '../lib/world/index.js';

function near(t: ExecutionContext, hits: number, n: number, p: number, what: string, sds = 4) {
  const sd = Math.sqrt((p * (1 - p)) / n);
  t.true(
    Math.abs(hits / n - p) <= sds * sd,
    `${what}: ${hits}/${n} = ${(hits / n).toFixed(4)}, expected ${p} +- ${(sds * sd).toFixed(4)}`,
  );
}

const world = generateWorld({ seed: 8, trainSize: 600, testSize: 100, subsetSize: 20 });
const pairs: WorldPair[] = [...world.train, ...world.test, ...world.ood];

test('rationaleFor, exactly', (t) => {
  const pair = { question: 'Start at 47 and add 8, 2 times.', chosen: 'Answer: 63', rejected: 'Answer: 53' };
  t.is(
    rationaleFor(pair, 'B'),
    'Step 1: 47+8, ones 7+8=15, so 55.\nStep 2: 55+8, ones 5+8=13, so 63.\nRight answer: 63\n' +
      'Check of A: The reply says 53. 63 vs 53: different. The answer is wrong.\n' +
      'Check of B: The reply says 63. 63 vs 63: same. The answer is right.\n' +
      'Verdict: [[B]]',
  );
  t.deepEqual(parseRationale(rationaleFor(pair, 'B')), { checkA: 'wrong', checkB: 'right', verdict: 'B' });
  t.deepEqual(parseRationale('no checks at all'), { checkA: null, checkB: null, verdict: null });
  // A noisy label: the faithful rationale follows the truth, not the label.
  t.true(rationaleFor({ ...pair, chosen: 'Answer: 53', rejected: 'Answer: 63' }, 'A').endsWith('[[B]]'));
  t.throws(() => rationaleFor({ ...pair, question: 'What is love?' }, 'A'), {
    instanceOf: RangeError,
    message: /not a question of the built-in world/,
  });
});

test('isFaithful: true for rationaleFor in both orders, false for a flipped verdict or a wrong check', (t) => {
  for (const p of pairs) {
    for (const at of ['A', 'B'] as const) {
      const r = rationaleFor(p, at);
      t.true(isFaithful(p, at, r));
      t.true(isFaithful({ ...p, question: p.question.text }, at, r));
      const flippedVerdict = r.replace(/\[\[([AB])\]\]$/, (_, v: string) => `[[${v === 'A' ? 'B' : 'A'}]]`);
      t.false(isFaithful(p, at, flippedVerdict));
      const lines = r.split('\n');
      const checkLines = [
        lines.findIndex((l) => l.startsWith('Check of A: ')),
        lines.findIndex((l) => l.startsWith('Check of B: ')),
      ];
      t.deepEqual(checkLines, [lines.length - 3, lines.length - 2]);
      for (const line of checkLines) {
        const wrongCheck = lines
          .map((l, i) =>
            i !== line ? l : l.includes('right.') ? l.replace('right.', 'wrong.') : l.replace('wrong.', 'right.'),
          )
          .join('\n');
        t.false(isFaithful(p, at, wrongCheck));
        t.false(isFaithful(p, at, lines.filter((_, i) => i !== line).join('\n')), 'one check missing');
      }
      t.false(isFaithful(p, at, lines.slice(0, -1).join('\n')), 'no verdict');
      t.false(isFaithful(p, at === 'A' ? 'B' : 'A', r), 'the answers shown the other way round');
    }
  }
  // Both answers right: nothing for a verdict to follow.
  const both = {
    question: 'Start at 47 and add 8, 2 times.',
    chosen: 'Answer: 63',
    rejected: 'So: Answer: 63\nAnswer: 63',
  };
  t.false(isFaithful(both, 'A', rationaleFor(both, 'A')));
});

test('the corpus is deterministic, covers every family at every level, and keeps its shares', (t) => {
  const first = (seed: number, n: number) => [...corpusDocuments({ seed, documents: n })];
  t.deepEqual(first(3, 300), first(3, 300));
  t.notDeepEqual(first(3, 300), first(4, 300));
  const docs = first(3, 20000);
  t.is(docs.length, 20000);
  const cells = new Set(docs.map((d) => `${d.family}/${d.level}/${d.kind}`));
  for (const f of FAMILY_NAMES)
    for (const l of LEVELS)
      for (const k of ['solution', 'check', 'judge']) t.true(cells.has(`${f}/${l}/${k}`), `${f}/${l}/${k}`);
  const judges = docs.filter((d): d is Extract<CorpusDocument, { kind: 'judge' }> => d.kind === 'judge');
  near(t, judges.length, docs.length, 0.2, 'judge share');
  near(t, docs.filter((d) => d.kind === 'check').length, docs.length, 0.3, 'check share');
  near(t, judges.filter((d) => d.follows).length, judges.length, 0.6, 'verdicts that follow the checks');

  const noSolutions = [...corpusDocuments({ judgeShare: 0.5, checkShare: 0.5, documents: 4000 })];
  t.is(noSolutions.filter((d) => d.kind === 'solution').length, 0);
  const allJudge = [...corpusDocuments({ judgeShare: 1, checkShare: 0, judgeFollow: 0.2, documents: 4000 })];
  near(t, allJudge.filter((d) => d.kind === 'judge' && d.follows).length, 4000, 0.2, 'judgeFollow 0.2');
  t.throws(() => corpusDocuments({ judgeShare: 1.5 }).next(), {
    instanceOf: RangeError,
    message: /^CorpusOptions\.judgeShare: expected a number in \[0, 1\], got 1\.5$/,
  });
  t.throws(() => corpusDocuments({ checkShare: 0.7, judgeShare: 0.4 }).next(), {
    instanceOf: RangeError,
    message: /checkShare \+ judgeShare must be at most 1/,
  });
  t.throws(() => corpusDocuments({ seed: 1.5 }).next(), { instanceOf: RangeError, message: /CorpusOptions\.seed/ });
});

test('corpus documents are right: solutions solve, checks judge truly, judging texts are faithful exactly when they follow', (t) => {
  for (const d of corpusDocuments({ seed: 9, documents: 6000 })) {
    if (d.kind === 'solution') {
      const [user, assistant] = d.messages;
      t.deepEqual([user!.role, assistant!.role], ['user', 'assistant']);
      const q = FAMILIES[d.family].parse(user!.content)!;
      t.true(isCorrect(q, assistant!.content));
    } else if (d.kind === 'check') {
      const [user, assistant] = d.messages;
      const [question, rest] = user!.content.split('\nProposed answer:\n');
      t.true(rest!.endsWith('\nCheck this answer.'));
      const answer = rest!.slice(0, -'\nCheck this answer.'.length);
      const q = FAMILIES[d.family].parse(question!)!;
      t.is(isCorrect(q, answer), d.correct);
      t.is(assistant!.content, check(q, answer));
    } else {
      const q = FAMILIES[d.family].parse(d.question)!;
      const aRight = isCorrect(q, d.answerA);
      t.not(aRight, isCorrect(q, d.answerB));
      const pair = { question: q, chosen: d.answerA, rejected: d.answerB };
      t.is(isFaithful(pair, 'A', d.rationale), d.follows);
      t.is(d.verdict === (aRight ? 'A' : 'B'), d.follows);
      t.true(d.rationale.endsWith(`[[${d.verdict}]]`));
    }
  }
});

test('the corpus leaves out every question of the world it is told to', (t) => {
  const seen = questionTexts(world);
  let n = 0;
  for (const d of corpusDocuments({ seed: 8, exclude: seen, documents: 20000 })) {
    const question = d.kind === 'judge' ? d.question : d.messages[0]!.content.split('\nProposed answer:\n')[0]!;
    t.false(seen.has(question));
    n++;
  }
  t.is(n, 20000);
  // Without the exclusion the same stream does meet them (the small levels have few questions).
  let met = 0;
  for (const d of corpusDocuments({ seed: 8, documents: 20000 }))
    if (d.kind === 'solution' && seen.has(d.messages[0]!.content)) met++;
  t.true(met > 0);
});

test('a level-5 judging text (question, two polite answers, rationale) stays under 1,500 characters', (t) => {
  const rng = new Rng(21);
  let longest = 0;
  for (const f of FAMILY_NAMES) {
    for (let i = 0; i < 200; i++) {
      const q = FAMILIES[f].question(rng, 5);
      const good = decorate(solve(q), rng);
      const bad = decorate(wrongAnswer(q, rng, i % 2 ? 'subtle' : 'blatant'), rng);
      // The compact judge prompt's own words are counted too.
      const prompt = `Judge which answer is better. End with [[A]] or [[B]].\nQuestion: ${q.text}\nAnswer A: ${good}\nAnswer B: ${bad}`;
      longest = Math.max(
        longest,
        prompt.length + rationaleFor({ question: q, chosen: good, rejected: bad }, 'A').length,
      );
    }
  }
  t.true(longest < 1500, `longest ${longest}`);
  t.true(longest > 900, `longest ${longest}: the measure is broken`);
});
