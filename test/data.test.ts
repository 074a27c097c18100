// lib/data on JSON Lines: each format read to exact pairs, auto-detection, ties,
// malformed rows (skipped and listed, or thrown under strict), limit, early
// break and abort leaving a consistent report, file-level errors, line
// splitting edge cases, and write -> read round trips.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError, loadPreferences, readPreferences, writePreferencesJsonl } from '../lib/data/index.js';
import type { PreferencePair, ReadReport } from '../lib/data/index.js';
import { openCount, rewardbenchRow, ultrafeedbackRow, ultrainteractRow } from './helpers.js';

let dir = '';
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'genrm-data-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes lines (objects are JSON-encoded, strings written as they are) to a fresh file. */
async function jsonl(lines: unknown[], name = 'data.jsonl'): Promise<string> {
  const file = join(dir, `${counter++}-${name}`);
  await writeFile(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

/** rows = pairs + skipped + dropped ties, whatever stopped the read. */
function consistent(t: ExecutionContext, report: ReadReport, keepTies = false): void {
  t.is(report.rows, report.pairs + report.skipped.length + (keepTies ? 0 : report.ties));
}

const ufPair = (i: number, over: Partial<PreferencePair> = {}): PreferencePair => ({
  id: `p${i}`,
  prompt: [{ role: 'user', content: `question ${i}` }],
  chosen: `good answer ${i}`,
  rejected: `bad answer ${i}`,
  source: 'ultrafeedback',
  group: `p${i}`,
  scores: { chosen: 8, rejected: 3.5 },
  ...over,
});

test('ultrafeedback: conversations become prompt + answers, prompt_id the group, scores kept', async (t) => {
  const multi = [
    { content: 'be brief', role: 'system' },
    { content: 'question 1', role: 'user' },
    { content: 'earlier reply', role: 'assistant' },
    { content: 'and now?', role: 'user' },
  ];
  const file = await jsonl([
    ultrafeedbackRow(0),
    ultrafeedbackRow(1, {
      chosen: [...multi, { content: 'short', role: 'assistant' }],
      rejected: [...multi, { content: 'very long', role: 'assistant' }],
      score_chosen: 9,
      score_rejected: 1,
    }),
    ultrafeedbackRow(2, { id: 'p2-b', score_chosen: 10, score_rejected: 9.75 }),
  ]);
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(pairs, [
    ufPair(0),
    {
      id: 'p1',
      prompt: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'question 1' },
        { role: 'assistant', content: 'earlier reply' },
        { role: 'user', content: 'and now?' },
      ],
      chosen: 'short',
      rejected: 'very long',
      source: 'ultrafeedback',
      group: 'p1',
      scores: { chosen: 9, rejected: 1 },
    },
    ufPair(2, { id: 'p2-b', scores: { chosen: 10, rejected: 9.75 } }),
  ]);
  t.deepEqual(report, { file, format: 'ultrafeedback', rows: 3, pairs: 3, skipped: [], ties: 0, exhausted: true });
});

test('ultrainteract: trajectory turns map to messages (human/gpt too), parent_id the group, task the subset', async (t) => {
  const file = await jsonl([
    ultrainteractRow(0),
    ultrainteractRow(1, {
      parent_id: 77,
      task: 'Coding',
      trajectory: [
        { from: 'human', value: 'write f' },
        { from: 'gpt', value: 'def f(): pass' },
        { from: 'human', value: 'it fails; fix it' },
      ],
    }),
  ]);
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(pairs, [
    {
      id: 'u0',
      prompt: [{ role: 'user', content: 'solve 0' }],
      chosen: 'right 0',
      rejected: 'wrong 0',
      source: 'ultrainteract',
      subset: 'Math_CoT',
      group: 'task0',
    },
    {
      id: 'u1',
      prompt: [
        { role: 'user', content: 'write f' },
        { role: 'assistant', content: 'def f(): pass' },
        { role: 'user', content: 'it fails; fix it' },
      ],
      chosen: 'right 1',
      rejected: 'wrong 1',
      source: 'ultrainteract',
      subset: 'Coding',
      group: '77',
    },
  ]);
  t.is(report.format, 'ultrainteract');
  t.is(report.pairs, 2);
});

test('rewardbench: the prompt string becomes one user message, numeric ids become strings', async (t) => {
  const file = await jsonl([rewardbenchRow(3), rewardbenchRow(4, { id: 'x-4', subset: 'math-prm' })]);
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(pairs, [
    {
      id: '3',
      prompt: [{ role: 'user', content: 'ask 3' }],
      chosen: 'yes 3',
      rejected: 'no 3',
      source: 'rewardbench',
      subset: 'alpacaeval-easy',
    },
    {
      id: 'x-4',
      prompt: [{ role: 'user', content: 'ask 4' }],
      chosen: 'yes 4',
      rejected: 'no 4',
      source: 'rewardbench',
      subset: 'math-prm',
    },
  ]);
  t.deepEqual(report, { file, format: 'rewardbench', rows: 2, pairs: 2, skipped: [], ties: 0, exhausted: true });
});

test('the format is detected from the first object row; an unknown one names the columns seen', async (t) => {
  // The first data row is not JSON: it is skipped and the next row decides.
  const file = await jsonl(['{oops', rewardbenchRow(1)]);
  const { pairs, report } = await loadPreferences(file);
  t.is(report.format, 'rewardbench');
  t.is(pairs.length, 1);
  t.is(report.skipped.length, 1);

  const trl = await jsonl([{ prompt: 'p', chosen: 'a', rejected: 'b' }]);
  const e = await t.throwsAsync(loadPreferences(trl), { instanceOf: DataError });
  t.is(
    e?.message,
    `${trl} row 0 (line 1): cannot tell the format from the columns "prompt", "chosen", "rejected": none of ` +
      'ultrafeedback (prompt_id, score_chosen, score_rejected), ultrainteract (trajectory, parent_id), ' +
      'rewardbench (subset, chosen_model, rejected_model) match; pass options.format',
  );
  t.is(e?.row, 0);
  t.is(e?.field, '');

  const both = await jsonl([{ ...rewardbenchRow(0), prompt_id: 'x' }]);
  await t.throwsAsync(loadPreferences(both), { instanceOf: DataError, message: /more than one of/ });
});

test('an explicit format is used as given: rows of another format are malformed', async (t) => {
  const file = await jsonl([rewardbenchRow(0)]);
  const { pairs, report } = await loadPreferences(file, { format: 'ultrafeedback' });
  t.is(report.format, 'ultrafeedback');
  t.deepEqual(pairs, []);
  t.deepEqual(report.skipped, [{ file, row: 0, line: 1, field: 'prompt_id', reason: 'missing' }]);
  // Known before any row is read.
  t.is(readPreferences(file, { format: 'rewardbench' }).report.format, 'rewardbench');
  t.is(readPreferences(file).report.format, undefined);
});

test('ties are dropped and counted by default, kept on request', async (t) => {
  const file = await jsonl([
    ultrafeedbackRow(0),
    ultrafeedbackRow(1, { score_chosen: 5, score_rejected: 5 }),
    ultrafeedbackRow(2),
  ]);
  const dropped = await loadPreferences(file);
  t.deepEqual(
    dropped.pairs.map((p) => p.id),
    ['p0', 'p2'],
  );
  t.like(dropped.report, { rows: 3, pairs: 2, ties: 1, skipped: [] });
  consistent(t, dropped.report);
  const kept = await loadPreferences(file, { keepTies: true });
  t.deepEqual(
    kept.pairs.map((p) => p.id),
    ['p0', 'p1', 'p2'],
  );
  t.deepEqual(kept.pairs[1]!.scores, { chosen: 5, rejected: 5 });
  t.like(kept.report, { rows: 3, pairs: 3, ties: 1 });
  consistent(t, kept.report, true);
});

// Each malformed UltraFeedback row, the issue it must produce (row = index here).
const user = (content: string) => ({ content, role: 'user' });
const assistant = (content: string) => ({ content, role: 'assistant' });
const MALFORMED_UF: Array<[string | Record<string, unknown>, string, string]> = [
  ['{"prompt": "x",', '', 'not valid JSON ('],
  ['[1, 2]', '', 'expected a JSON object, got an array'],
  ['"just a string"', '', 'expected a JSON object, got string'],
  [
    ultrafeedbackRow(3, { chosen: [user('question 3'), { content: 7, role: 'assistant' }] }),
    'chosen[1].content',
    'expected a string, got number',
  ],
  [
    ultrafeedbackRow(4, { rejected: [user('question 4'), { content: 'x', role: 'bot' }] }),
    'rejected[1].role',
    'unknown role "bot"; expected system, user, assistant',
  ],
  [ultrafeedbackRow(5, { score_chosen: undefined }), 'score_chosen', 'missing'],
  [ultrafeedbackRow(6, { score_rejected: '3' }), 'score_rejected', 'expected a finite number, got string'],
  [
    ultrafeedbackRow(7, { prompt: 'another question' }),
    'prompt',
    'differs from the first user message, chosen[0].content',
  ],
  [
    ultrafeedbackRow(8, { rejected: [user('question 8, edited'), assistant('bad')] }),
    'rejected[0].content',
    'differs from chosen[0].content; both must share the prompt',
  ],
  [
    ultrafeedbackRow(9, { chosen: [user('question 9'), assistant('a'), user('b')] }),
    'chosen[2].role',
    "the last message is a user message; expected the assistant's answer",
  ],
  [
    ultrafeedbackRow(10, { chosen: [assistant('question 10'), assistant('a')] }),
    'chosen[0].role',
    "the prompt ends with an assistant message; expected it to end with the user's",
  ],
  [ultrafeedbackRow(11, { chosen: [assistant('only')] }), 'chosen', 'expected at least 2 messages, got 1'],
  [ultrafeedbackRow(12, { rejected: 'bad answer' }), 'rejected', 'expected an array, got string'],
  [
    ultrafeedbackRow(13, { score_chosen: 2, score_rejected: 3 }),
    'score_chosen',
    '2 is below score_rejected 3; the chosen answer must be rated at least as high',
  ],
  [ultrafeedbackRow(14, { prompt_id: '' }), 'prompt_id', 'expected a non-empty string or an integer, got empty string'],
  [ultrafeedbackRow(15, { chosen: [null, assistant('a')] }), 'chosen[0]', 'expected an object, got null'],
  [
    ultrafeedbackRow(16, { rejected: [user('question 16'), assistant('x'), user('y'), assistant('z')] }),
    'rejected',
    'has 4 messages and chosen 2; both must be the same prompt plus one answer',
  ],
  [
    ultrafeedbackRow(17, { prompt: '', chosen: [user(''), assistant('a')], rejected: [user(''), assistant('b')] }),
    'chosen[0].content',
    "expected a non-empty string (the user's last message)",
  ],
];

test('malformed rows are skipped and listed with file, row, line, field and reason', async (t) => {
  const lines: unknown[] = [];
  for (const [row] of MALFORMED_UF) lines.push(row, '');
  lines.push(ultrafeedbackRow(99));
  const file = await jsonl(['', '   ', ...lines]);
  const { pairs, report } = await loadPreferences(file, { format: 'ultrafeedback' });
  t.deepEqual(pairs, [ufPair(99)]);
  t.is(report.skipped.length, MALFORMED_UF.length);
  MALFORMED_UF.forEach(([, field, reason], i) => {
    const issue = report.skipped[i]!;
    // Blank lines are not rows: two blanks first, then one after each row.
    t.like(issue, { file, row: i, line: 3 + 2 * i, field }, `row ${i}`);
    if (reason.endsWith('(')) t.true(issue.reason.startsWith(reason), issue.reason);
    else t.is(issue.reason, reason, `row ${i}`);
  });
  t.like(report, { rows: MALFORMED_UF.length + 1, pairs: 1, ties: 0, exhausted: true });
  consistent(t, report);
});

test('malformed ultrainteract and rewardbench rows name their fields', async (t) => {
  const ui = await jsonl([
    ultrainteractRow(0, { trajectory: [{ from: 'robot', value: 'x' }] }),
    ultrainteractRow(1, {
      trajectory: [
        { from: 'user', value: 'q' },
        { from: 'gpt', value: 'a' },
      ],
    }),
    ultrainteractRow(2, { trajectory: [] }),
    ultrainteractRow(3, { parent_id: null }),
    ultrainteractRow(4, { task: '' }),
    ultrainteractRow(5, { chosen: ['x'] }),
    ultrainteractRow(6, { id: 1.5 }),
    ultrainteractRow(7, { trajectory: [{ from: 'user', value: 3 }] }),
    ultrainteractRow(8),
  ]);
  const a = await loadPreferences(ui);
  t.deepEqual(
    a.pairs.map((p) => p.id),
    ['u8'],
  );
  t.deepEqual(
    a.report.skipped.map((s) => [s.row, s.field, s.reason]),
    [
      [0, 'trajectory[0].from', 'unknown from "robot"; expected user, assistant, system, human, gpt'],
      [1, 'trajectory[1].from', "the prompt ends with an assistant message; expected it to end with the user's"],
      [2, 'trajectory', 'expected at least 1 message, got 0'],
      [3, 'parent_id', 'expected a non-empty string or an integer, got null'],
      [4, 'task', 'expected a non-empty string, got empty string'],
      [5, 'chosen', 'expected a string, got array'],
      [6, 'id', 'expected a non-empty string or an integer, got number'],
      [7, 'trajectory[0].value', 'expected a string, got number'],
    ],
  );

  const rb = await jsonl([
    rewardbenchRow(0, { subset: undefined }),
    rewardbenchRow(1, { prompt: '' }),
    rewardbenchRow(2, { rejected_model: false }),
    rewardbenchRow(3, { id: null }),
    rewardbenchRow(4, { chosen_model: null }), // unused metadata: null is fine
    rewardbenchRow(5, { chosen_model: undefined }),
  ]);
  const b = await loadPreferences(rb);
  t.deepEqual(
    b.pairs.map((p) => p.id),
    ['4'],
  );
  t.deepEqual(
    b.report.skipped.map((s) => [s.row, s.field, s.reason]),
    [
      [0, 'subset', 'missing'],
      [1, 'prompt', 'expected a non-empty string, got empty string'],
      [2, 'rejected_model', 'expected a string or null, got boolean'],
      [3, 'id', 'expected a non-empty string or an integer, got null'],
      [5, 'chosen_model', 'missing'],
    ],
  );
});

test('strict mode throws the first malformed row as a DataError', async (t) => {
  const file = await jsonl([
    ultrafeedbackRow(0),
    ultrafeedbackRow(1, { chosen: [user('question 1'), { content: 7, role: 'assistant' }] }),
    'not json',
  ]);
  const { pairs, report } = readPreferences(file, { strict: true });
  const seen: string[] = [];
  const e = await t.throwsAsync(
    async () => {
      for await (const p of pairs) seen.push(p.id);
    },
    { instanceOf: DataError },
  );
  t.is(e?.message, `${file} row 1 (line 2), field chosen[1].content: expected a string, got number`);
  t.like(e, {
    file,
    row: 1,
    line: 2,
    field: 'chosen[1].content',
    reason: 'expected a string, got number',
    name: 'DataError',
  });
  t.deepEqual(seen, ['p0']);
  t.like(report, { rows: 2, pairs: 1, exhausted: false });
  t.deepEqual(report.skipped, [
    { file, row: 1, line: 2, field: 'chosen[1].content', reason: 'expected a string, got number' },
  ]);
  consistent(t, report);
});

test('limit stops after that many pairs and reads no further', async (t) => {
  const rows = [
    ultrafeedbackRow(0),
    '{bad',
    ultrafeedbackRow(1, { score_chosen: 4, score_rejected: 4 }),
    ultrafeedbackRow(2),
    ultrafeedbackRow(3),
    ultrafeedbackRow(4),
  ];
  const file = await jsonl(rows);
  const { pairs, report } = await loadPreferences(file, { limit: 2 });
  t.deepEqual(
    pairs.map((p) => p.id),
    ['p0', 'p2'],
  );
  t.like(report, { rows: 4, pairs: 2, ties: 1, exhausted: false });
  t.is(report.skipped.length, 1);
  consistent(t, report);

  const none = await loadPreferences(file, { limit: 0 });
  t.like(none, { pairs: [], report: { rows: 0, pairs: 0, exhausted: false } });
  const all = await loadPreferences(file, { limit: 100 });
  t.like(all.report, { rows: 6, pairs: 4, exhausted: true });
});

test('an early break leaves a consistent report and closes the file', async (t) => {
  const file = await jsonl(Array.from({ length: 50 }, (_, i) => ultrafeedbackRow(i)));
  const { pairs, report } = readPreferences(file);
  let n = 0;
  for await (const pair of pairs) {
    t.is(openCount(file), 1);
    if (++n === 3) break;
    t.is(pair.id, `p${n - 1}`);
  }
  t.is(openCount(file), 0);
  t.like(report, { rows: 3, pairs: 3, ties: 0, exhausted: false });
  consistent(t, report);
  // A second iteration of the same stream yields nothing more.
  for await (const _ of pairs) t.fail('iterated twice');
  t.is(report.rows, 3);
});

test("an abort stops the read between rows with the signal's reason", async (t) => {
  const file = await jsonl(Array.from({ length: 20 }, (_, i) => ultrafeedbackRow(i)));
  const controller = new AbortController();
  const { pairs, report } = readPreferences(file, { signal: controller.signal });
  const seen: string[] = [];
  const e = await t.throwsAsync(async () => {
    for await (const p of pairs) {
      seen.push(p.id);
      if (seen.length === 2) controller.abort();
    }
  });
  t.is(e?.name, 'AbortError');
  t.deepEqual(seen, ['p0', 'p1']);
  t.like(report, { rows: 2, pairs: 2, exhausted: false });

  const before = readPreferences(file, { signal: AbortSignal.abort(new Error('stop')) });
  await t.throwsAsync(
    async () => {
      for await (const _ of before.pairs) t.fail();
    },
    { message: 'stop' },
  );
  t.is(before.report.rows, 0);
});

test('file-level errors: missing file, folder, unknown extension, JSON array, bad options', async (t) => {
  const missing = join(dir, 'nope.jsonl');
  const e = await t.throwsAsync(loadPreferences(missing), { instanceOf: DataError });
  t.is(e?.message, `${missing}: no such file`);
  t.is(e?.row, undefined);
  t.is((e?.cause as NodeJS.ErrnoException).code, 'ENOENT');

  const folder = join(dir, `${counter++}-folder.jsonl`);
  await mkdir(folder);
  await t.throwsAsync(loadPreferences(folder), { instanceOf: DataError, message: `${folder}: not a regular file` });

  t.throws(() => readPreferences(join(dir, 'data.csv')), {
    instanceOf: DataError,
    message: `${join(dir, 'data.csv')}: unknown extension ".csv"; expected .jsonl or .json (JSON Lines) or .parquet`,
  });

  const array = join(dir, `${counter++}-array.json`);
  await writeFile(array, JSON.stringify([rewardbenchRow(0), rewardbenchRow(1)], null, 2));
  await t.throwsAsync(loadPreferences(array), {
    instanceOf: DataError,
    message: /line 1\): starts with "\[", like a JSON array; genrm reads JSON Lines/,
  });
  const oneLine = join(dir, `${counter++}-array.json`);
  await writeFile(oneLine, JSON.stringify([rewardbenchRow(0)]));
  await t.throwsAsync(loadPreferences(oneLine), { instanceOf: DataError, message: /holds a JSON array/ });

  t.throws(() => readPreferences(missing, { limit: -1 }), {
    instanceOf: RangeError,
    message: 'readPreferences: limit: expected a non-negative integer, got -1',
  });
  t.throws(() => readPreferences(missing, { limit: 1.5 }), { instanceOf: RangeError });
  t.throws(() => readPreferences(missing, { format: 'hh' as 'rewardbench' }), {
    instanceOf: TypeError,
    message: /format: expected 'auto', 'ultrafeedback', 'ultrainteract', 'rewardbench', got "hh"/,
  });
});

test('line handling: CRLF, a BOM, no final newline, .json, lines longer than a read chunk, invalid UTF-8', async (t) => {
  const long = 'é'.repeat(400_000) + '€'; // 800 KB of two-byte characters: spans several 256 KiB chunks, splitting characters
  const rows = [rewardbenchRow(0, { chosen: long }), rewardbenchRow(1), rewardbenchRow(2, { prompt: '日本語 🎉' })];
  const file = join(dir, `${counter++}-crlf.json`);
  const body = Buffer.concat([
    Buffer.from('\ufeff' + rows.map((r) => JSON.stringify(r)).join('\r\n') + '\r\n\r\n'),
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), // "{\xff\xfe}" is not UTF-8
    Buffer.from(JSON.stringify(rewardbenchRow(3))), // no final newline
  ]);
  await writeFile(file, body);
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(
    pairs.map((p) => p.id),
    ['0', '1', '2', '3'],
  );
  t.is(pairs[0]!.chosen, long);
  t.is(pairs[2]!.prompt[0]!.content, '日本語 🎉');
  t.deepEqual(report.skipped, [{ file, row: 3, line: 5, field: '', reason: 'not valid UTF-8' }]);
  t.like(report, { rows: 5, pairs: 4, exhausted: true });
});

test('an empty file gives no pairs and no format', async (t) => {
  const file = join(dir, `${counter++}-empty.jsonl`);
  await writeFile(file, '\n\n');
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(pairs, []);
  t.deepEqual(report, { file, format: undefined, rows: 0, pairs: 0, skipped: [], ties: 0, exhausted: true });
});

test("options.source names the pairs' source", async (t) => {
  const file = await jsonl([rewardbenchRow(0)]);
  const { pairs } = await loadPreferences(file, { source: 'rb-filtered' });
  t.is(pairs[0]!.source, 'rb-filtered');
});

test("write -> read round trips in each format, in the dataset's own layout", async (t) => {
  const uf: PreferencePair[] = [
    ufPair(0, { source: 'world' }),
    {
      ...ufPair(1, { source: 'world', id: 'p1-second', scores: { chosen: 2, rejected: 2 } }),
      prompt: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'q "1"\n' },
      ],
    },
  ];
  const ufFile = join(dir, `${counter++}-uf.jsonl`);
  t.is(await writePreferencesJsonl(ufFile, uf, 'ultrafeedback', { fsync: false }), 2);
  const first = JSON.parse((await readFile(ufFile, 'utf8')).split('\n')[0]!);
  t.deepEqual(first, {
    prompt: 'question 0',
    prompt_id: 'p0',
    chosen: [
      { content: 'question 0', role: 'user' },
      { content: 'good answer 0', role: 'assistant' },
    ],
    rejected: [
      { content: 'question 0', role: 'user' },
      { content: 'bad answer 0', role: 'assistant' },
    ],
    score_chosen: 8,
    score_rejected: 3.5,
  });
  t.deepEqual((await loadPreferences(ufFile, { source: 'world', keepTies: true })).pairs, uf);

  const rb: PreferencePair[] = [
    {
      id: '12',
      prompt: [{ role: 'user', content: 'hi' }],
      chosen: 'a',
      rejected: '',
      source: 'ood',
      subset: 'math-prm',
    },
    {
      id: 'r-x',
      prompt: [{ role: 'user', content: 'hey' }],
      chosen: 'b',
      rejected: 'c',
      source: 'ood',
      subset: 'hep-js',
    },
  ];
  const rbFile = join(dir, `${counter++}-rb.jsonl`);
  await writePreferencesJsonl(
    rbFile,
    (async function* () {
      yield* rb;
    })(),
    'rewardbench',
    { fsync: false },
  );
  t.deepEqual(JSON.parse((await readFile(rbFile, 'utf8')).split('\n')[0]!), {
    prompt: 'hi',
    chosen: 'a',
    chosen_model: 'unknown',
    rejected: '',
    rejected_model: 'unknown',
    subset: 'math-prm',
    id: 12,
  });
  t.deepEqual((await loadPreferences(rbFile, { source: 'ood' })).pairs, rb);

  const ui: PreferencePair[] = [
    {
      id: 'i0',
      prompt: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: 'y' },
        { role: 'user', content: 'z' },
      ],
      chosen: 'c',
      rejected: 'r',
      source: 'ui',
      subset: 'Coding',
      group: 'g',
    },
  ];
  const uiFile = join(dir, `${counter++}-ui.jsonl`);
  await writePreferencesJsonl(uiFile, ui, 'ultrainteract', { fsync: false });
  t.deepEqual((await loadPreferences(uiFile, { source: 'ui' })).pairs, ui);
});

test('the writer refuses pairs the format cannot hold, naming the pair and field, and writes nothing', async (t) => {
  const file = join(dir, `${counter++}-refused.jsonl`);
  const cases: Array<[PreferencePair[], 'ultrafeedback' | 'rewardbench' | 'ultrainteract', number, string, RegExp]> = [
    [
      [ufPair(0), ufPair(1, { scores: undefined })],
      'ultrafeedback',
      1,
      'scores',
      /^pair "p1": missing; the ultrafeedback format needs/,
    ],
    [[ufPair(0, { group: undefined })], 'ultrafeedback', 0, 'group', /stores it as prompt_id/],
    [[ufPair(0, { subset: 's' })], 'ultrafeedback', 0, 'subset', /no column for it/],
    [
      [ufPair(0, { scores: { chosen: 1, rejected: 2 } })],
      'ultrafeedback',
      0,
      'score_chosen',
      /is below score_rejected/,
    ],
    [
      [ufPair(0, { scores: { chosen: NaN, rejected: 2 } })],
      'ultrafeedback',
      0,
      'score_chosen',
      /expected a finite number, got null/,
    ],
    [
      [
        ufPair(0, {
          prompt: [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: 'b' },
          ],
        }),
      ],
      'ultrafeedback',
      0,
      'chosen[1].role',
      /ends with an assistant message/,
    ],
    [
      [ufPair(0, { prompt: [{ role: 'robot' as 'user', content: 'a' }] })],
      'ultrafeedback',
      0,
      'prompt[0].role',
      /unknown role "robot"/,
    ],
    [
      [ufPair(0, { chosen: 5 as unknown as string })],
      'ultrafeedback',
      0,
      'chosen[1].content',
      /expected a string, got number/,
    ],
    [
      [
        ufPair(0, {
          subset: undefined,
          group: undefined,
          scores: undefined,
          prompt: [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: 'b' },
            { role: 'user', content: 'c' },
          ],
        }),
      ],
      'rewardbench',
      0,
      'prompt',
      /holds one user message; got user, assistant, user/,
    ],
    [[ufPair(0, { subset: 's', scores: undefined })], 'rewardbench', 0, 'group', /no column for it/],
    [[ufPair(0, { subset: 's', group: 'g' })], 'ultrainteract', 0, 'scores', /no column for them/],
    [
      [ufPair(0, { subset: 's', group: 'g', scores: undefined, id: '' })],
      'ultrainteract',
      0,
      'id',
      /expected a non-empty string/,
    ],
  ];
  for (const [pairs, format, row, field, reason] of cases) {
    const e = await t.throwsAsync(
      writePreferencesJsonl(file, pairs, format, { fsync: false }),
      { instanceOf: DataError },
      `${format} ${field}`,
    );
    t.like(e, { file, row, field }, `${format} ${field}`);
    t.regex(e?.reason ?? '', reason, `${format} ${field}`);
  }
  t.false((await readdir(dir)).some((f) => f.includes('refused')));
});
