// Reports: deterministic SVG charts (vega-lite, rendered without a browser) and
// the report folder (report.json, report.md, charts/*.svg).
export {
  barChartSvg,
  lineChartSvg,
  type BarChartOptions,
  type BarDatum,
  type LineChartOptions,
  type LineDatum,
} from './charts.js';
export { writeReport, type Report, type WriteReportOptions } from './write.js';
