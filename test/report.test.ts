// Charts and the report folder: well-formed SVG with the titles, axis titles
// and every series, identical bytes for identical input, and the files written.
import test from 'ava';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { barChartSvg, lineChartSvg, writeReport } from '../lib/report/index.js';
import type { BarChartOptions, LineChartOptions } from '../lib/report/index.js';

let dir = '';
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'genrm-report-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
const fresh = () => join(dir, `r${counter++}`);

/** Throws unless every tag is closed in order (enough to catch broken output; no XML parser here). */
function checkWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (selfClose) continue;
    if (!close) stack.push(name!);
    else if (stack.pop() !== name) throw new Error(`unbalanced </${name}> at ${m.index}`);
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(svg)) throw new Error('unescaped &');
}

/** The text of every <text> element, entities decoded. */
const texts = (svg: string) =>
  [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]!
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&'),
  );

const BARS: BarChartOptions = {
  title: 'Accuracy by method & section',
  yTitle: 'Accuracy',
  yDomain: [0, 1],
  yFormat: '.0%',
  data: [
    { group: 'Chat', series: 'Bradley-Terry', value: 0.71, low: 0.66, high: 0.76 },
    { group: 'Chat', series: 'STaR-DPO', value: 0.82, low: 0.78, high: 0.86 },
    { group: 'Chat', series: 'Zero-shot <judge>', value: 0.55, low: 0.5, high: 0.6 },
    { group: 'Safety', series: 'Bradley-Terry', value: 0.64, low: 0.6, high: 0.68 },
    { group: 'Safety', series: 'STaR-DPO', value: 0.7, low: 0.66, high: 0.74 },
    { group: 'Safety', series: 'Zero-shot <judge>', value: 0.52, low: 0.47, high: 0.57 },
  ],
};

const LINES: LineChartOptions = {
  title: 'Accuracy by STaR iteration',
  xTitle: 'STaR iteration',
  yTitle: 'Accuracy',
  yDomain: [0, 1],
  data: [0, 1, 2, 3].flatMap((x) => [
    { x, series: 'STaR-SFT', value: 0.5 + 0.05 * x },
    { x, series: 'STaR-DPO', value: 0.5 + 0.08 * x },
  ]),
};

test('bar chart: well-formed SVG with title, axis title, groups and every series', async (t) => {
  const svg = await barChartSvg(BARS);
  t.true(svg.startsWith('<svg'));
  t.true(svg.trimEnd().endsWith('</svg>'));
  t.notThrows(() => checkWellFormed(svg));
  const words = texts(svg);
  for (const want of [
    'Accuracy by method & section',
    'Accuracy',
    'Method',
    'Chat',
    'Safety',
    'Bradley-Terry',
    'STaR-DPO',
    'Zero-shot <judge>',
    '100%',
  ]) {
    t.true(words.includes(want), `missing text ${JSON.stringify(want)} in ${JSON.stringify(words)}`);
  }
  t.true(svg.includes('mark-rule role-mark'), 'error bars drawn');
  const plain = await barChartSvg({ ...BARS, data: BARS.data.map(({ low: _l, high: _h, ...d }) => d) });
  t.false(plain.includes('mark-rule role-mark'));
  t.notThrows(() => checkWellFormed(plain));
});

test('line chart: well-formed SVG with titles and every series', async (t) => {
  const svg = await lineChartSvg(LINES);
  t.true(svg.startsWith('<svg'));
  t.notThrows(() => checkWellFormed(svg));
  const words = texts(svg);
  for (const want of ['Accuracy by STaR iteration', 'STaR iteration', 'Accuracy', 'STaR-SFT', 'STaR-DPO', '0', '3']) {
    t.true(words.includes(want), `missing text ${JSON.stringify(want)} in ${JSON.stringify(words)}`);
  }
  // y labels run 0.0 to 1.0; a decimal label above 1 would be a fractional iteration tick.
  t.deepEqual(
    words.filter((w) => /^\d+\.\d+$/.test(w) && Number(w) > 1),
    [],
    'integer iterations get integer ticks',
  );
  const categorical = await lineChartSvg({
    ...LINES,
    data: [
      { x: 'base', series: 'keep rate', value: 0.2 },
      { x: 'iter 1', series: 'keep rate', value: 0.4 },
    ],
  });
  t.notThrows(() => checkWellFormed(categorical));
  t.true(texts(categorical).includes('iter 1'));
});

test('charts are deterministic, also with other charts rendered in between', async (t) => {
  const a = await barChartSvg(BARS);
  const l = await lineChartSvg(LINES);
  const [b, l2] = await Promise.all([barChartSvg(BARS), lineChartSvg(LINES)]);
  t.is(a, b);
  t.is(l, l2);
  t.is(await barChartSvg(structuredClone(BARS)), a);
  // Another series order is another chart (order is kept, not sorted).
  t.not(await barChartSvg({ ...BARS, data: [...BARS.data].reverse() }), a);
});

test('bad chart input is refused', async (t) => {
  await t.throwsAsync(barChartSvg({ ...BARS, data: [] }), { message: /barChartSvg: no data/ });
  await t.throwsAsync(barChartSvg({ ...BARS, title: '' }), { message: /title is required/ });
  await t.throwsAsync(barChartSvg({ ...BARS, data: [{ group: 'a', series: 'b', value: NaN }] }), {
    message: /data\[0\]\.value must be a finite number/,
  });
  await t.throwsAsync(barChartSvg({ ...BARS, data: [{ group: 'a', series: 'b', value: 1, low: 0 }] }), {
    message: /only one of low and high/,
  });
  await t.throwsAsync(barChartSvg({ ...BARS, yDomain: [1, 0] }), { message: /yDomain/ });
  await t.throwsAsync(
    lineChartSvg({
      ...LINES,
      data: [
        { x: 0, series: 's', value: 1 },
        { x: 'b', series: 's', value: 1 },
      ],
    }),
    { message: /mix numbers and strings/ },
  );
});

test('writeReport writes report.json, report.md and the charts', async (t) => {
  const out = fresh();
  const bar = await barChartSvg(BARS);
  const line = await lineChartSvg(LINES);
  const json = { method: 'STaR-DPO', overall: 0.81, sections: { Chat: 0.9, Safety: null } };
  const written = await writeReport(
    out,
    {
      json,
      markdown: '# Results\n\n![by iteration](charts/star-iterations.svg)',
      charts: { by_section: bar, 'star-iterations': line },
    },
    { fsync: false },
  );
  t.deepEqual(written, [
    join(out, 'charts', 'by_section.svg'),
    join(out, 'charts', 'star-iterations.svg'),
    join(out, 'report.json'),
    join(out, 'report.md'),
  ]);
  t.deepEqual(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')), json);
  t.is(await readFile(join(out, 'charts', 'by_section.svg'), 'utf8'), bar);
  t.is(await readFile(join(out, 'charts', 'star-iterations.svg'), 'utf8'), line);
  const md = await readFile(join(out, 'report.md'), 'utf8');
  t.is(
    md,
    '# Results\n\n![by iteration](charts/star-iterations.svg)\n\n## Charts\n\n![by_section](charts/by_section.svg)\n',
  );
  t.deepEqual((await readdir(out)).sort(), ['charts', 'report.json', 'report.md'], 'no temp files left');

  // Rewriting replaces the files; a report without charts writes no charts folder.
  await writeReport(out, { json: { v: 2 }, markdown: 'two' }, { fsync: true });
  t.deepEqual(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')), { v: 2 });
  t.is(await readFile(join(out, 'report.md'), 'utf8'), 'two\n');
  const bare = fresh();
  await writeReport(bare, { json: [], markdown: '' }, { fsync: false });
  t.deepEqual((await readdir(bare)).sort(), ['report.json', 'report.md']);
});

test('writeReport refuses unsafe chart names and non-SVG text before writing', async (t) => {
  const out = fresh();
  for (const name of ['../x', 'a/b', '.hidden', 'a b', 'x.svg', '']) {
    await t.throwsAsync(writeReport(out, { json: {}, markdown: '', charts: { [name]: '<svg></svg>' } }), {
      message: /chart name/,
    });
  }
  await t.throwsAsync(writeReport(out, { json: {}, markdown: '', charts: { ok: 'not svg' } }), {
    message: /not SVG text/,
  });
  await t.throwsAsync(writeReport(out, { json: undefined, markdown: '' }), { message: /not serializable/ });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'keep'), 'x');
  t.deepEqual(await readdir(out), ['keep'], 'nothing written');
});
