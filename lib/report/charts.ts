// SVG charts for reports: vega-lite specs compiled to vega and rendered
// headless (renderer 'none' + toSVG), which needs no browser and no canvas
// package; text widths are then estimated by vega, not measured, so labels
// may sit a pixel off but the output depends only on the input.
//
// Deterministic: the same input gives the same bytes. Groups, series and x
// values keep the order they first appear in the data (not sorted), so colours
// and bar positions do not shift when a method is renamed.
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export interface BarDatum {
  /** Position on the x axis (e.g. a section). */
  group: string;
  /** Colour and legend entry (e.g. a method). */
  series: string;
  value: number;
  /** Error bar ends, both or neither. */
  low?: number;
  high?: number;
}

export interface BarChartOptions {
  title: string;
  data: readonly BarDatum[];
  yTitle: string;
  /** y range; default from zero to the data's maximum. */
  yDomain?: [number, number];
  /** x axis title; default none (the group names speak for themselves). */
  xTitle?: string;
  /** Legend title; default "Method". */
  seriesTitle?: string;
  /** d3 format of the y axis, e.g. ".0%"; default vega's. */
  yFormat?: string;
}

export interface LineDatum {
  /** A number (e.g. a STaR iteration) or a category. */
  x: number | string;
  series: string;
  value: number;
}

export interface LineChartOptions {
  title: string;
  data: readonly LineDatum[];
  xTitle: string;
  yTitle: string;
  yDomain?: [number, number];
  seriesTitle?: string;
  yFormat?: string;
}

const WIDTH = 480;
const HEIGHT = 300;

const firstSeen = <T>(values: readonly T[]): T[] => [...new Set(values)];

function checkFinite(where: string, i: number, name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${where}: data[${i}].${name} must be a finite number, got ${v}`);
}

function checkCommon(where: string, title: string, n: number, yDomain: [number, number] | undefined): void {
  if (!title) throw new Error(`${where}: a title is required`);
  if (n === 0) throw new Error(`${where}: no data`);
  if (yDomain && !(Number.isFinite(yDomain[0]) && Number.isFinite(yDomain[1]) && yDomain[0] < yDomain[1])) {
    throw new Error(`${where}: yDomain must be [low, high] with low < high, got [${yDomain.join(', ')}]`);
  }
}

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const yAxis = (title: string, format?: string) => ({ title, ...(format ? { format } : {}) });
const yScale = (domain?: [number, number]) => (domain ? { domain, clamp: true } : { zero: true });

/** Grouped bars (one cluster per group, one bar per series), with optional error bars. */
export async function barChartSvg(options: BarChartOptions): Promise<string> {
  const where = 'barChartSvg';
  const { data } = options;
  checkCommon(where, options.title, data.length, options.yDomain);
  data.forEach((d, i) => {
    checkFinite(where, i, 'value', d.value);
    if ((d.low === undefined) !== (d.high === undefined))
      throw new Error(`${where}: data[${i}] has only one of low and high`);
    if (d.low !== undefined) {
      checkFinite(where, i, 'low', d.low);
      checkFinite(where, i, 'high', d.high);
    }
  });
  const groups = firstSeen(data.map((d) => d.group));
  const series = firstSeen(data.map((d) => d.series));
  const x = {
    field: 'group',
    type: 'nominal',
    sort: groups,
    title: options.xTitle ?? null,
    axis: { labelAngle: 0 },
  } as const;
  const xOffset = { field: 'series', type: 'nominal', sort: series, scale: { domain: series } } as const;
  const y = {
    field: 'value',
    type: 'quantitative',
    axis: yAxis(options.yTitle, options.yFormat),
    scale: yScale(options.yDomain),
  } as const;
  const errors = data.filter((d) => d.low !== undefined);
  const spec: TopLevelSpec = {
    title: options.title,
    // With xOffset the step is one bar's slot; groups get vega-lite's padding between them.
    width: { step: series.length > 4 ? 20 : 32 },
    height: HEIGHT,
    data: { values: data.map((d) => ({ ...d })) },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x,
          xOffset,
          y,
          color: {
            field: 'series',
            type: 'nominal',
            sort: series,
            scale: { domain: series },
            title: options.seriesTitle ?? 'Method',
          },
        },
      },
      ...(errors.length > 0
        ? [
            {
              transform: [{ filter: 'isValid(datum.low)' }],
              mark: { type: 'rule' as const, color: 'black', strokeWidth: 1.5 },
              encoding: {
                x,
                xOffset,
                y: { field: 'low', type: 'quantitative' as const, scale: yScale(options.yDomain) },
                y2: { field: 'high' },
              },
            },
          ]
        : []),
    ],
    config: { view: { stroke: null } },
  };
  return render(spec);
}

/** Lines with points, one per series (e.g. accuracy by STaR iteration, one line per method). */
export async function lineChartSvg(options: LineChartOptions): Promise<string> {
  const where = 'lineChartSvg';
  const { data } = options;
  checkCommon(where, options.title, data.length, options.yDomain);
  const numeric = data.every((d) => typeof d.x === 'number');
  if (!numeric && data.some((d) => typeof d.x === 'number'))
    throw new Error(`${where}: x values mix numbers and strings`);
  data.forEach((d, i) => {
    checkFinite(where, i, 'value', d.value);
    if (numeric) checkFinite(where, i, 'x', d.x);
    else if (typeof d.x !== 'string')
      throw new Error(`${where}: data[${i}].x must be a number or a string, got ${d.x}`);
  });
  const series = firstSeen(data.map((d) => d.series));
  const integers = numeric && data.every((d) => Number.isInteger(d.x));
  const x = numeric
    ? ({
        field: 'x',
        type: 'quantitative',
        title: options.xTitle,
        axis: integers ? { tickMinStep: 1, format: 'd' } : {},
        scale: { zero: false },
      } as const)
    : ({
        field: 'x',
        type: 'ordinal',
        title: options.xTitle,
        sort: firstSeen(data.map((d) => d.x as string)),
        axis: { labelAngle: 0 },
      } as const);
  const spec: TopLevelSpec = {
    title: options.title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: data.map((d) => ({ ...d })) },
    mark: { type: 'line', point: true },
    encoding: {
      x,
      y: {
        field: 'value',
        type: 'quantitative',
        axis: yAxis(options.yTitle, options.yFormat),
        scale: yScale(options.yDomain),
      },
      color: {
        field: 'series',
        type: 'nominal',
        sort: series,
        scale: { domain: series },
        title: options.seriesTitle ?? 'Method',
      },
    },
    config: { view: { stroke: null } },
  };
  return render(spec);
}
