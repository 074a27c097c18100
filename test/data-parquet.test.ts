// lib/data on Parquet, written here with hyparquet-writer in the datasets' own
// schemas: list<struct<content, role>> conversations (UltraFeedback),
// list<struct<from, value>> trajectories with an INT64 parent_id
// (UltraInteract), flat columns with an INT64 id (RewardBench); nulls, several
// row groups read in order, limit, detection from the schema, broken files.
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { gzipSync } from 'node:zlib';
import type { ColumnSource, SchemaElement } from 'hyparquet-writer';
import { DataError, loadPreferences, readPreferences } from '../lib/data/index.js';
import type { PreferencePair } from '../lib/data/index.js';
import { openCount, rewardbenchRow, ultrafeedbackRow, ultrainteractRow } from './helpers.js';

let dir = '';
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'genrm-data-parquet-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Row = Record<string, unknown>;

const text = (name: string): SchemaElement => ({
  name,
  type: 'BYTE_ARRAY',
  converted_type: 'UTF8',
  repetition_type: 'OPTIONAL',
});
const int64 = (name: string): SchemaElement => ({ name, type: 'INT64', repetition_type: 'OPTIONAL' });
const double = (name: string): SchemaElement => ({ name, type: 'DOUBLE', repetition_type: 'OPTIONAL' });
/** A list<struct<a, b>> of strings, as pyarrow writes it (3-level LIST). */
const structList = (name: string, a: string, b: string): SchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
  text(a),
  text(b),
];

const SCHEMAS: Record<string, SchemaElement[]> = {
  ultrafeedback: [
    text('prompt'),
    text('prompt_id'),
    ...structList('chosen', 'content', 'role'),
    ...structList('rejected', 'content', 'role'),
    ...structList('messages', 'content', 'role'),
    double('score_chosen'),
    double('score_rejected'),
  ],
  ultrainteract: [
    text('id'),
    int64('parent_id'),
    text('task'),
    text('dataset'),
    ...structList('trajectory', 'from', 'value'),
    text('chosen'),
    text('rejected'),
  ],
  rewardbench: [
    text('prompt'),
    text('chosen'),
    text('chosen_model'),
    text('rejected'),
    text('rejected_model'),
    text('subset'),
    int64('id'),
  ],
};

/** Writes rows as a Parquet file with the given top-level schema elements (column order = order of first appearance). */
async function parquet(rows: Row[], elements: SchemaElement[], rowGroupSize = 1000, gzip = false): Promise<string> {
  const top = elements.filter((e, i) => i === 0 || !isChild(elements, i));
  // INT64 columns take bigints.
  const cell = (e: SchemaElement, v: unknown) =>
    v === undefined ? null : e.type === 'INT64' && typeof v === 'number' ? BigInt(v) : v;
  const columnData: ColumnSource[] = top.map((e) => ({ name: e.name, data: rows.map((r) => cell(e, r[e.name])) }));
  const schema: SchemaElement[] = [{ name: 'root', num_children: top.length }, ...elements];
  const compression = gzip
    ? { codec: 'GZIP' as const, compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)) } }
    : {};
  const bytes = parquetWriteBuffer({ columnData, schema, rowGroupSize, ...compression });
  const file = join(dir, `${counter++}.parquet`);
  await writeFile(file, new Uint8Array(bytes));
  return file;
}

/** Whether elements[i] sits inside a group that starts earlier (depth-first layout with num_children). */
function isChild(elements: SchemaElement[], i: number): boolean {
  let open = 0;
  for (let j = 0; j < i; j++) {
    const e = elements[j]!;
    if (open > 0) open--;
    open += e.num_children ?? 0;
  }
  return open > 0;
}

test('ultrafeedback parquet: nested list<struct> conversations, doubles; the messages column is not needed', async (t) => {
  const file = await parquet(
    [
      ultrafeedbackRow(0),
      ultrafeedbackRow(1, {
        prompt: 'q1',
        chosen: [
          { content: 'sys', role: 'system' },
          { content: 'q1', role: 'user' },
          { content: 'yes', role: 'assistant' },
        ],
        rejected: [
          { content: 'sys', role: 'system' },
          { content: 'q1', role: 'user' },
          { content: 'no', role: 'assistant' },
        ],
        score_chosen: 7.25,
        score_rejected: 7,
      }),
      ultrafeedbackRow(2, { score_chosen: 6, score_rejected: 6 }),
    ],
    SCHEMAS.ultrafeedback!,
  );
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(pairs, [
    {
      id: 'p0',
      prompt: [{ role: 'user', content: 'question 0' }],
      chosen: 'good answer 0',
      rejected: 'bad answer 0',
      source: 'ultrafeedback',
      group: 'p0',
      scores: { chosen: 8, rejected: 3.5 },
    },
    {
      id: 'p1',
      prompt: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'q1' },
      ],
      chosen: 'yes',
      rejected: 'no',
      source: 'ultrafeedback',
      group: 'p1',
      scores: { chosen: 7.25, rejected: 7 },
    },
  ]);
  t.deepEqual(report, {
    file,
    format: 'ultrafeedback',
    rows: 3,
    pairs: 2,
    skipped: [],
    ties: 1,
    totalRows: 3,
    exhausted: true,
  });
});

test('ultrainteract parquet: trajectories of {from, value}, INT64 parent_id as a string', async (t) => {
  const file = await parquet(
    [
      ultrainteractRow(0, { parent_id: 12n }),
      ultrainteractRow(1, {
        parent_id: 9007199254740993n,
        trajectory: [
          { from: 'user', value: 'a' },
          { from: 'assistant', value: 'b' },
          { from: 'user', value: 'c' },
        ],
      }),
    ],
    SCHEMAS.ultrainteract!,
  );
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(pairs, [
    {
      id: 'u0',
      prompt: [{ role: 'user', content: 'solve 0' }],
      chosen: 'right 0',
      rejected: 'wrong 0',
      source: 'ultrainteract',
      subset: 'Math_CoT',
      group: '12',
    },
    {
      id: 'u1',
      prompt: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
      chosen: 'right 1',
      rejected: 'wrong 1',
      source: 'ultrainteract',
      subset: 'Math_CoT',
      group: '9007199254740993',
    },
  ]);
  t.is(report.format, 'ultrainteract');
});

test('gzip-compressed pages read like snappy ones (datasets are published with several codecs)', async (t) => {
  const rows = Array.from({ length: 30 }, (_, i) => rewardbenchRow(i));
  const { pairs, report } = await loadPreferences(await parquet(rows, SCHEMAS.rewardbench!, 10, true), {
    strict: true,
  });
  t.is(report.rows, 30);
  t.deepEqual(
    pairs.map((p) => p.chosen),
    rows.map((r) => r.chosen),
  );
});

test('rewardbench parquet over several row groups: every row, in order; limit stops inside a group', async (t) => {
  const rows = Array.from({ length: 50 }, (_, i) => rewardbenchRow(i, { id: BigInt(1000 + i), subset: `s${i % 3}` }));
  const file = await parquet(rows, SCHEMAS.rewardbench!, 7);
  t.deepEqual(
    parquetMetadata(await readFile(file)).row_groups.map((g) => Number(g.num_rows)),
    [7, 7, 7, 7, 7, 7, 7, 1],
  );
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(
    pairs.map((p) => p.id),
    Array.from({ length: 50 }, (_, i) => String(1000 + i)),
  );
  t.deepEqual(pairs[49], {
    id: '1049',
    prompt: [{ role: 'user', content: 'ask 49' }],
    chosen: 'yes 49',
    rejected: 'no 49',
    source: 'rewardbench',
    subset: 's1',
  });
  t.deepEqual(report, {
    file,
    format: 'rewardbench',
    rows: 50,
    pairs: 50,
    skipped: [],
    ties: 0,
    totalRows: 50,
    exhausted: true,
  });

  const first10 = await loadPreferences(file, { limit: 10 });
  t.deepEqual(
    first10.pairs.map((p) => p.id),
    Array.from({ length: 10 }, (_, i) => String(1000 + i)),
  );
  t.like(first10.report, { rows: 10, pairs: 10, totalRows: 50, exhausted: false });

  // An early break in the third row group closes the file.
  const stream = readPreferences(file);
  const seen: PreferencePair[] = [];
  for await (const p of stream.pairs) {
    seen.push(p);
    t.is(openCount(file), 1);
    if (seen.length === 17) break;
  }
  t.is(openCount(file), 0);
  t.is(seen[16]!.id, '1016');
  t.like(stream.report, { rows: 17, pairs: 17, exhausted: false });
});

test('malformed parquet rows (nulls, bad roles, missing columns) are skipped with their row index', async (t) => {
  const file = await parquet(
    [
      ultrafeedbackRow(0),
      ultrafeedbackRow(1, {
        chosen: [
          { content: 'question 1', role: 'user' },
          { content: null, role: 'assistant' },
        ],
      }),
      ultrafeedbackRow(2, { score_rejected: null }),
      ultrafeedbackRow(3, {
        rejected: [
          { content: 'question 3', role: 'user' },
          { content: 'x', role: 'critic' },
        ],
      }),
      ultrafeedbackRow(4, { chosen: null }),
      ultrafeedbackRow(5, { rejected: [{ content: 'question 5', role: 'user' }, null] }),
      ultrafeedbackRow(6),
    ],
    SCHEMAS.ultrafeedback!,
    3,
  );
  const { pairs, report } = await loadPreferences(file);
  t.deepEqual(
    pairs.map((p) => p.id),
    ['p0', 'p6'],
  );
  t.deepEqual(report.skipped, [
    { file, row: 1, field: 'chosen[1].content', reason: 'expected a string, got null' },
    { file, row: 2, field: 'score_rejected', reason: 'expected a finite number, got null' },
    { file, row: 3, field: 'rejected[1].role', reason: 'unknown role "critic"; expected system, user, assistant' },
    { file, row: 4, field: 'chosen', reason: 'expected an array, got null' },
    { file, row: 5, field: 'rejected[1]', reason: 'expected an object, got null' },
  ]);

  // A column the schema lacks is missing in every row; strict stops at the first.
  const noSubset = await parquet(
    [rewardbenchRow(0), rewardbenchRow(1)],
    SCHEMAS.rewardbench!.filter((e) => e.name !== 'subset'),
  );
  const lax = await loadPreferences(noSubset);
  t.deepEqual(
    lax.report.skipped.map((s) => [s.row, s.field, s.reason]),
    [
      [0, 'subset', 'missing'],
      [1, 'subset', 'missing'],
    ],
  );
  const e = await t.throwsAsync(loadPreferences(noSubset, { strict: true }), { instanceOf: DataError });
  t.is(e?.message, `${noSubset} row 0, field subset: missing`);
});

test('parquet: the format comes from the schema; an unknown schema names its columns', async (t) => {
  const file = await parquet([{ question: 'q', answer_a: 'a' }], [text('question'), text('answer_a')]);
  const e = await t.throwsAsync(loadPreferences(file), { instanceOf: DataError });
  t.regex(e?.message ?? '', /^.*\.parquet: cannot tell the format from the columns "question", "answer_a": none of /);
  t.is(e?.row, undefined);
  // Rows of another format, read as asked: every row is missing the columns.
  const rb = await parquet([rewardbenchRow(0)], SCHEMAS.rewardbench!);
  const { report } = await loadPreferences(rb, { format: 'ultrainteract' });
  // (Its INT64 id passes as an UltraInteract id; parent_id is the first column it lacks.)
  t.deepEqual(report.skipped, [{ file: rb, row: 0, field: 'parent_id', reason: 'missing' }]);
});

test('a file that is not Parquet, or is cut short, is a DataError naming it', async (t) => {
  const good = await parquet([rewardbenchRow(0), rewardbenchRow(1)], SCHEMAS.rewardbench!);
  const bytes = await readFile(good);
  const cut = join(dir, `${counter++}-cut.parquet`);
  await writeFile(cut, bytes.subarray(0, bytes.length - 10));
  const e = await t.throwsAsync(loadPreferences(cut), { instanceOf: DataError });
  t.true(e?.message.startsWith(`${cut}: cannot read it as Parquet (footer): `), e?.message);
  const text = join(dir, `${counter++}-text.parquet`);
  await writeFile(text, '{"prompt": "x"}\n');
  await t.throwsAsync(loadPreferences(text), { instanceOf: DataError, message: /cannot read it as Parquet/ });
});
