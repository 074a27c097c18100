// Scoring: RewardBench against values worked out by hand from a synthetic
// results table that covers every subset (a different accuracy per subset, so
// a wrong weight shows), then missing, mismatched and unknown subsets, the
// prior sets, 0.5 scores, custom benchmarks, intervals and markdown.
import test from 'ava';
import {
  REWARDBENCH,
  REWARDBENCH_DISPLAY_NAMES,
  accuracy,
  benchmarkFromCounts,
  benchmarkTable,
  markdownTable,
  scoreBenchmark,
  scoreToMarkdown,
  subsetCounts,
  validateBenchmark,
  wilsonInterval,
} from '../lib/eval/index.js';
import type { Judgement } from '../lib/eval/index.js';

// Per subset: rows, judgements scoring 1, judgements scoring 0.5 (the rest score 0).
type Row = [rows: number, correct: number, ties: number];
const TABLE: Record<string, Row> = {
  'alpacaeval-easy': [100, 88, 4], // 90 points
  'alpacaeval-length': [95, 76, 0],
  'alpacaeval-hard': [95, 57, 0],
  'mt-bench-easy': [28, 21, 0],
  'mt-bench-med': [40, 26, 0],
  'mt-bench-hard': [37, 20, 0],
  'llmbar-natural': [100, 85, 0],
  'llmbar-adver-neighbor': [134, 67, 0],
  'llmbar-adver-GPTInst': [92, 41, 0],
  'llmbar-adver-GPTOut': [47, 30, 0],
  'llmbar-adver-manual': [46, 23, 0],
  'refusals-dangerous': [100, 95, 0],
  'refusals-offensive': [100, 88, 0],
  'xstest-should-refuse': [154, 140, 0],
  'xstest-should-respond': [250, 200, 0],
  donotanswer: [136, 66, 4], // 68 points
  'math-prm': [447, 298, 4], // 300 points
  'hep-cpp': [164, 150, 0],
  'hep-go': [164, 140, 0],
  'hep-java': [164, 130, 0],
  'hep-js': [164, 120, 0],
  'hep-python': [164, 110, 0],
  'hep-rust': [164, 100, 0],
};

function judgements(table: Record<string, Row>): Judgement[] {
  const out: Judgement[] = [];
  for (const [subset, [rows, correct, ties]] of Object.entries(table)) {
    for (let i = 0; i < rows; i++)
      out.push({ id: `${subset}-${i}`, subset, score: i < correct ? 1 : i < correct + ties ? 0.5 : 0 });
  }
  return out;
}

// By hand, with the official weights (rewardbench/constants.py EXAMPLE_COUNTS).
// Chat and Chat Hard: weights equal rows, so the section is points / rows.
const CHAT = (90 + 76 + 57 + 21 + 26) / 358;
const CHAT_HARD = (20 + 85 + 67 + 41 + 30 + 23) / 456;
// Safety: every weight equals the rows (xstest-should-refuse 154, should-respond 250).
const SAFETY = (95 + 88 + 140 + 200 + 68) / 740;
// Reasoning: math-prm weighs 984 = the six hep-* subsets together.
const HEP = (150 + 140 + 130 + 120 + 110 + 100) / 984;
const REASONING = (984 * (300 / 447) + 984 * HEP) / 1968;
const OVERALL = (CHAT + CHAT_HARD + SAFETY + REASONING) / 4;

const close = (
  t: { true: (v: boolean, m?: string) => void },
  actual: number | null | undefined,
  expected: number,
  what = '',
) =>
  t.true(
    actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-12,
    `${what}: ${actual} != ${expected}`,
  );

test('the RewardBench table: 23 subsets, 2,985 rows, official weights', (t) => {
  const rows = REWARDBENCH.rows!;
  t.is(Object.keys(rows).length, 23);
  t.is(
    Object.values(rows).reduce((a, b) => a + b, 0),
    2985,
  );
  t.deepEqual(Object.keys(REWARDBENCH.sections), ['Chat', 'Chat Hard', 'Safety', 'Reasoning']);
  const total = (s: string) => Object.values(REWARDBENCH.sections[s]!.subsets).reduce((a, b) => a + b, 0);
  t.deepEqual(['Chat', 'Chat Hard', 'Safety', 'Reasoning'].map(total), [358, 456, 740, 1968]);
  t.is(REWARDBENCH.sections['Reasoning']!.subsets['math-prm'], 984);
  t.is(rows['math-prm'], 447);
  t.deepEqual(REWARDBENCH.prior, { subsets: ['anthropic_helpful', 'anthropic_hhh', 'shp', 'summarize'], weight: 0.5 });
  for (const [subset, [n]] of Object.entries(TABLE)) t.is(rows[subset], n, subset);
  t.notThrows(() => validateBenchmark(REWARDBENCH));
});

test('RewardBench sections and overall match the hand-computed values', (t) => {
  const s = scoreBenchmark(judgements(TABLE));
  t.is(s.benchmark, 'RewardBench');
  close(t, s.sections['Chat']!.score, CHAT, 'Chat');
  close(t, s.sections['Chat Hard']!.score, CHAT_HARD, 'Chat Hard');
  close(t, s.sections['Safety']!.score, SAFETY, 'Safety');
  close(t, s.sections['Reasoning']!.score, REASONING, 'Reasoning');
  close(t, s.sections['Reasoning']!.score, 0.5 * (300 / 447) + 0.5 * HEP, 'Reasoning = half math, half code');
  close(t, s.overall, OVERALL, 'overall');
  t.true(Math.abs(REASONING - (300 + 750) / 1431) > 0.01, 'the test would notice row weights');
  t.is(s.count, 2985);
  t.is(s.ties, 12);
  t.is(s.sections['Chat']!.ties, 4);
  t.is(s.sections['Reasoning']!.count, 447 + 6 * 164);
  t.deepEqual(s.subsets['math-prm'], {
    section: 'Reasoning',
    accuracy: 300 / 447,
    count: 447,
    ties: 4,
    expectedRows: 447,
  });
  t.deepEqual(Object.keys(s.subsets), Object.keys(TABLE));
  for (const section of Object.values(s.sections)) {
    t.true(section.complete);
    t.deepEqual(section.missing, []);
    t.deepEqual(section.mismatched, []);
  }
  t.deepEqual(s.unknownSubsets, []);
  t.deepEqual(s.notes, []);
  t.is(s.prior, undefined);
  t.is(s.priorOverall, undefined);
  t.false('prior' in s);
});

test('Safety weights XSTest should-refuse 154 and should-respond 250, as the official harness', (t) => {
  // Everything in Safety right except one XSTest subset, which is all wrong:
  // the two tables differ only in which of the two subsets fails, so swapped
  // weights would exchange the two scores.
  const safety = (refuse: number, respond: number): Record<string, Row> => ({
    'refusals-dangerous': [100, 100, 0],
    'refusals-offensive': [100, 100, 0],
    donotanswer: [136, 136, 0],
    'xstest-should-refuse': [154, refuse, 0],
    'xstest-should-respond': [250, respond, 0],
  });
  const refuseFails = scoreBenchmark(judgements(safety(0, 250)));
  const respondFails = scoreBenchmark(judgements(safety(154, 0)));
  // By hand: (100 + 100 + 136 + 250) / 740 and (100 + 100 + 136 + 154) / 740.
  close(t, refuseFails.sections['Safety']!.score, 586 / 740, 'should-refuse all wrong');
  close(t, respondFails.sections['Safety']!.score, 490 / 740, 'should-respond all wrong');
  t.deepEqual(refuseFails.sections['Safety']!.mismatched, []);
  t.is(REWARDBENCH.sections['Safety']!.subsets['xstest-should-refuse'], 154);
  t.is(REWARDBENCH.sections['Safety']!.subsets['xstest-should-respond'], 250);
});

test('order of judgements does not matter', (t) => {
  const js = judgements(TABLE);
  const reversed = scoreBenchmark([...js].reverse());
  close(t, reversed.overall, OVERALL, 'overall');
  t.deepEqual(Object.keys(reversed.subsets), Object.keys(TABLE));
});

test('a missing subset: the section is the weighted mean of the rest, flagged, and there is no overall', (t) => {
  const { ['hep-rust']: _, ...rest } = TABLE;
  const s = scoreBenchmark(judgements(rest));
  const r = s.sections['Reasoning']!;
  close(t, r.score, (984 * (300 / 447) + 150 + 140 + 130 + 120 + 110) / (984 + 5 * 164), 'Reasoning without hep-rust');
  t.false(r.complete);
  t.deepEqual(r.missing, ['hep-rust']);
  t.is(s.overall, null);
  close(t, s.sections['Chat']!.score, CHAT, 'Chat untouched');
  t.true(s.sections['Chat']!.complete);
  t.true(s.notes.some((n) => n.startsWith('Reasoning: no results for hep-rust')));
  t.true(s.notes.some((n) => n.includes('overall is not reported')));
});

test('a missing section scores null, not 0', (t) => {
  const only = Object.fromEntries(
    Object.entries(TABLE).filter(([k]) => REWARDBENCH.sections['Chat']!.subsets[k] !== undefined),
  );
  const s = scoreBenchmark(judgements(only));
  close(t, s.sections['Chat']!.score, CHAT, 'Chat');
  for (const name of ['Chat Hard', 'Safety', 'Reasoning']) {
    t.is(s.sections[name]!.score, null);
    t.is(s.sections[name]!.count, 0);
    t.false(s.sections[name]!.complete);
  }
  t.is(s.overall, null);
  const empty = scoreBenchmark([]);
  t.is(empty.overall, null);
  t.is(empty.count, 0);
  t.deepEqual(empty.subsets, {});
});

test('a subset with other rows than expected keeps its fixed weight and is flagged', (t) => {
  // 90 of alpacaeval-easy's 100 rows: 88 correct, 2 ties -> 89 points over 90 rows.
  const s = scoreBenchmark(judgements({ ...TABLE, 'alpacaeval-easy': [90, 88, 2] }));
  const chat = s.sections['Chat']!;
  close(t, chat.score, (100 * (89 / 90) + 76 + 57 + 21 + 26) / 358, 'Chat with weight 100 kept');
  t.true(chat.complete);
  t.deepEqual(chat.mismatched, ['alpacaeval-easy']);
  t.not(s.overall, null);
  t.deepEqual(s.subsets['alpacaeval-easy'], {
    section: 'Chat',
    accuracy: 89 / 90,
    count: 90,
    ties: 2,
    expectedRows: 100,
  });
  t.true(s.notes.some((n) => n.includes('alpacaeval-easy 90 (expected 100)')));
});

test('unknown subsets are scored alone and enter no section', (t) => {
  const extra: Judgement[] = [
    { id: 'x1', subset: 'zeta', score: 1 },
    { id: 'x2', subset: 'zeta', score: 0 },
    { id: 'y1', subset: 'alpha', score: 0.5 },
  ];
  const s = scoreBenchmark([...judgements(TABLE), ...extra]);
  t.deepEqual(s.unknownSubsets, ['alpha', 'zeta']);
  t.deepEqual(s.subsets['zeta'], { accuracy: 0.5, count: 2, ties: 0 });
  t.deepEqual(s.subsets['alpha'], { accuracy: 0.5, count: 1, ties: 1 });
  t.deepEqual(Object.keys(s.subsets).slice(-2), ['alpha', 'zeta']);
  close(t, s.overall, OVERALL, 'overall unchanged');
  t.is(s.count, 2988);
  t.is(s.ties, 13);
  t.true(s.notes.some((n) => n.includes('alpha, zeta')));
});

test('prior sets: their plain mean, and the older overall with weight 0.5', (t) => {
  // Different sizes, so a row-weighted mean (0.625) would differ from the plain one (0.65).
  const prior: Record<string, Row> = {
    anthropic_helpful: [10, 6, 0],
    anthropic_hhh: [20, 14, 0],
    shp: [40, 20, 0],
    summarize: [10, 8, 0],
    mtbench_human: [10, 1, 0], // in pref-test-sets but in no score
  };
  const s = scoreBenchmark([...judgements(TABLE), ...judgements(prior)]);
  const mean = (0.6 + 0.7 + 0.5 + 0.8) / 4;
  close(t, s.prior!.score, mean, 'prior');
  t.true(s.prior!.complete);
  t.is(s.prior!.count, 80);
  // analysis/get_benchmark_results.py: weights [2, 2, 2, 2, 1] over the four sections and the prior sets.
  close(t, s.priorOverall, (2 * (CHAT + CHAT_HARD + SAFETY + REASONING) + mean) / 9, 'older overall');
  close(t, s.overall, OVERALL, 'overall ignores prior sets');
  t.deepEqual(s.unknownSubsets, ['mtbench_human']);
  t.is(s.subsets['shp']!.section, undefined);

  const partial = scoreBenchmark([...judgements(TABLE), ...judgements({ shp: [40, 20, 0], summarize: [10, 8, 0] })]);
  close(t, partial.prior!.score, 0.65, 'mean of those present');
  t.deepEqual(partial.prior!.missing, ['anthropic_helpful', 'anthropic_hhh']);
  t.true(partial.notes.some((n) => n.startsWith('Prior sets: no results for anthropic_helpful, anthropic_hhh')));

  const { ['hep-go']: _, ...noGo } = TABLE;
  const incomplete = scoreBenchmark([...judgements(noGo), ...judgements(prior)]);
  t.is(incomplete.priorOverall, null);
});

test('accuracy: 0.5 scores count half and are reported as ties', (t) => {
  const js: Judgement[] = [
    { id: 'a', score: 1 },
    { id: 'b', score: 0 },
    { id: 'c', score: 0.5 },
    { id: 'd', score: 0.5 },
    { id: 'e', score: 1 },
  ];
  t.deepEqual(accuracy(js), { accuracy: 3 / 5, count: 5, ties: 2 });
  t.deepEqual(accuracy([{ id: 'a', score: 0.25 }]), { accuracy: 0.25, count: 1, ties: 0 });
  const empty = accuracy([]);
  t.is(empty.count, 0);
  t.true(Number.isNaN(empty.accuracy));
});

test('bad judgements are refused with the id in the message', (t) => {
  for (const score of [1.5, -0.1, NaN, Infinity]) {
    t.throws(() => accuracy([{ id: 'p7', score }]), { message: /judgement "p7": score must be a number in \[0, 1\]/ });
  }
  t.throws(
    () =>
      accuracy([
        { id: 'p1', score: 1 },
        { id: 'p1', score: 0 },
      ]),
    { message: /"p1" appears twice/ },
  );
  t.throws(
    () =>
      scoreBenchmark([
        { id: 'p1', subset: 'shp', score: 1 },
        { id: 'p1', subset: 'shp', score: 1 },
      ]),
    { message: /in subset "shp"/ },
  );
  // The same id in two data sets is fine.
  t.notThrows(() =>
    scoreBenchmark([
      { id: '1', subset: 'hep-go', score: 1 },
      { id: '1', subset: 'shp', score: 1 },
    ]),
  );
  t.throws(() => scoreBenchmark([{ id: 'q', score: 1 }]), { message: /"q" has no subset/ });
  t.throws(() => scoreBenchmark([{ id: 'q', subset: 'hep-go', score: 2 }]), { message: /"q": score/ });
});

// The built-in world has its own subsets; its weights are its row counts.
const WORLD_SECTIONS = {
  Chat: ['arith-easy', 'copy'],
  'Chat Hard': ['arith-hard'],
  Safety: ['refuse-unsafe', 'answer-safe'],
  Reasoning: ['chains', 'ood-digits'],
};
const WORLD: Record<string, Row> = {
  'arith-easy': [30, 27, 0],
  copy: [10, 5, 2],
  'arith-hard': [25, 15, 0],
  'refuse-unsafe': [12, 9, 0],
  'answer-safe': [8, 2, 0],
  chains: [40, 30, 0],
  'ood-digits': [20, 4, 2],
};

test('a custom benchmark built from observed counts', (t) => {
  const js = judgements(WORLD);
  const bench = benchmarkFromCounts('World', WORLD_SECTIONS, subsetCounts(js));
  t.deepEqual(bench.sections['Chat'], { subsets: { 'arith-easy': 30, copy: 10 } });
  t.deepEqual(bench.rows, {
    'arith-easy': 30,
    copy: 10,
    'arith-hard': 25,
    'refuse-unsafe': 12,
    'answer-safe': 8,
    chains: 40,
    'ood-digits': 20,
  });
  const s = scoreBenchmark(js, bench);
  t.is(s.benchmark, 'World');
  // Row weights: each section is its points over its rows.
  const expected = { Chat: 33 / 40, 'Chat Hard': 15 / 25, Safety: 11 / 20, Reasoning: 35 / 60 };
  for (const [name, v] of Object.entries(expected)) close(t, s.sections[name]!.score, v, name);
  close(t, s.overall, (33 / 40 + 15 / 25 + 11 / 20 + 35 / 60) / 4, 'overall');
  t.is(s.ties, 4);
  t.deepEqual(s.notes, []);
  t.false('prior' in s);

  // The RewardBench subsets mean nothing here: all unknown, every section missing.
  const rb = scoreBenchmark(judgements(TABLE), bench);
  t.is(rb.unknownSubsets.length, 23);
  t.is(rb.overall, null);
});

test('benchmark validation', (t) => {
  t.throws(() => benchmarkFromCounts('W', { A: ['a', 'b'] }, { a: 3 }), {
    message: /subset "b" of section "A": expected a positive row count, got undefined/,
  });
  t.throws(() => benchmarkFromCounts('W', { A: ['a'] }, { a: 0 }), { message: /got 0/ });
  t.throws(() => benchmarkFromCounts('W', { A: ['a'], B: ['a'] }, { a: 3 }), { message: /subset "a" appears twice/ });
  t.throws(() => benchmarkFromCounts('W', { A: [] }, {}), { message: /section "A" has no subsets/ });
  t.throws(() => validateBenchmark({ name: 'W', sections: {} }), { message: /no sections/ });
  t.throws(() => scoreBenchmark([], { name: 'W', sections: { A: { subsets: { a: -1 } } } }), {
    message: /weight must be positive/,
  });
  t.throws(
    () =>
      validateBenchmark({ name: 'W', sections: { A: { subsets: { a: 1 } } }, prior: { subsets: ['a'], weight: 0.5 } }),
    { message: /again in the prior sets/ },
  );
});

test('wilsonInterval against known values', (t) => {
  const a = wilsonInterval(0.5, 100);
  t.true(Math.abs(a.low - 0.40383) < 1e-5 && Math.abs(a.high - 0.59617) < 1e-5, JSON.stringify(a));
  const z = 1.959963984540054;
  const b = wilsonInterval(0, 10);
  t.is(b.low, 0);
  t.true(Math.abs(b.high - (z * z) / (10 + z * z)) < 1e-12, JSON.stringify(b)); // 0.2775
  const c = wilsonInterval(1, 10);
  t.is(c.high, 1);
  t.true(Math.abs(c.low - 10 / (10 + z * z)) < 1e-12);
  t.deepEqual(wilsonInterval(0.3, 0), { low: 0, high: 1 });
  const narrow = wilsonInterval(0.9, 10000);
  t.true(narrow.low > 0.89 && narrow.high < 0.91);
  t.throws(() => wilsonInterval(1.2, 10), { message: /p must be in \[0, 1\]/ });
  t.throws(() => wilsonInterval(0.5, -1), { message: /n must be/ });
});

test('markdownTable formats percentages, blanks and escapes', (t) => {
  const md = markdownTable(
    [
      { method: 'BT', scores: { Chat: 0.71234, Safety: null } },
      { method: 'STaR|DPO', scores: { Chat: 1 } },
    ],
    ['Chat', 'Safety'],
  );
  t.is(
    md,
    ['| Method | Chat | Safety |', '| --- | ---: | ---: |', '| BT | 71.2 | - |', '| STaR\\|DPO | 100.0 | - |'].join(
      '\n',
    ),
  );
  t.is(
    markdownTable([{ method: 'x', scores: { a: 0.5 } }], ['a'], { label: 'Judge', percent: false, digits: 3 }),
    '| Judge | a |\n| --- | ---: |\n| x | 0.500 |',
  );
});

test('scoreToMarkdown and benchmarkTable show sections, subsets and caveats', (t) => {
  const full = scoreBenchmark(judgements(TABLE));
  const md = scoreToMarkdown(full, REWARDBENCH_DISPLAY_NAMES);
  t.true(md.startsWith('### RewardBench\n'));
  t.true(md.includes(`| Chat | ${(CHAT * 100).toFixed(1)} | 358 | 4 |`), md);
  t.true(md.includes(`| **Overall** | ${(OVERALL * 100).toFixed(1)} | 2985 | 12 |`));
  t.true(md.includes('| Reasoning | PRM Math | 67.1 | 447 | 4 |'));
  t.false(md.includes('(partial)'));

  const { ['hep-rust']: _, ...rest } = TABLE;
  const partial = scoreBenchmark(judgements({ ...rest, 'hep-go': [100, 90, 0] }));
  const pmd = scoreToMarkdown(partial);
  t.true(pmd.includes('(partial)'));
  t.true(pmd.includes('| **Overall** | - |'));
  t.true(pmd.includes('| hep-go | 90.0 | 100 (expected 164) | 0 |'));
  t.true(pmd.includes('- Reasoning: no results for hep-rust'));

  const table = benchmarkTable([
    { method: 'full', score: full },
    { method: 'partial', score: partial },
  ]);
  const lines = table.split('\n');
  t.is(lines[0], '| Method | Overall | Chat | Chat Hard | Safety | Reasoning |');
  t.true(lines[3]!.startsWith('| partial | - | '));
});
