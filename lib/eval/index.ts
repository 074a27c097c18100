// Evaluation: pure scoring of judged pairs (accuracy, RewardBench and custom
// benchmarks), confidence intervals and markdown tables.
export {
  REWARDBENCH,
  REWARDBENCH_DISPLAY_NAMES,
  benchmarkFromCounts,
  validateBenchmark,
  type Benchmark,
  type BenchmarkSection,
  type PriorSets,
} from './benchmark.js';
export {
  accuracy,
  scoreBenchmark,
  subsetCounts,
  type Accuracy,
  type BenchmarkScore,
  type Judgement,
  type SectionScore,
  type SubsetScore,
} from './score.js';
export { wilsonInterval, Z95, type Interval } from './interval.js';
export { benchmarkTable, markdownTable, scoreToMarkdown, type TableOptions } from './markdown.js';
export { protocolMarkdown, type ProtocolRecord, type SettingValue } from './provenance.js';
