// What a benchmark's score is made of: sections of weighted subsets, the
// expected row count of each subset, and optionally the "prior sets" of
// RewardBench's older overall. A section's score is the weighted mean of its
// subsets' accuracies; the overall is the plain mean of the sections.
//
// REWARDBENCH below reproduces the official harness (allenai/reward-bench):
// - rewardbench/constants.py: EXAMPLE_COUNTS (the weights), SUBSET_MAPPING (the
//   four sections), SUBSET_NAME_TO_PAPER_READY (display names, incl. prior sets).
// - rewardbench/utils.py calculate_scores_per_section: per section,
//   sum(acc * EXAMPLE_COUNTS[s]) / sum(EXAMPLE_COUNTS[s]) over the subsets present
//   in the results (absent ones are skipped; a section with none scores 0).
// - scripts/run_generative.py: a verdict that is neither the chosen nor the
//   rejected answer ("error") scores 0.5; subset accuracy is sum / rows.
// - analysis/get_benchmark_results.py get_average_over_rewardbench: the older
//   overall. "Prior Sets (0.5 weight)" is the nan-mean of the pref-test-sets
//   subsets anthropic_helpful, anthropic_hhh, shp, summarize (plain mean, not
//   row-weighted), averaged with the four sections with weights [2,2,2,2,1].
//   An earlier leaderboard (HF space allenai/reward-bench, src/utils.py history)
//   listed mtbench_human instead of anthropic_hhh; we follow the repository.
//   pref-test-sets also has anthropic_harmless, mtbench_gpt4 and mtbench_human,
//   which enter no score.
// The prior sets' subsets and their weight come from that same function
// (pref_columns; weights [2, 2, 2, 2, 1] over the four sections and the prior
// sets, i.e. 0.5 of a section).

export interface BenchmarkSection {
  /** Subset name -> weight in the section's mean (usually its row count). */
  readonly subsets: Readonly<Record<string, number>>;
}

export interface PriorSets {
  /** Subsets whose plain mean is the "prior sets" score. */
  readonly subsets: readonly string[];
  /** Weight of that score relative to one section (RewardBench: 0.5). */
  readonly weight: number;
}

export interface Benchmark {
  readonly name: string;
  /** Sections in display order; each subset belongs to at most one. */
  readonly sections: Readonly<Record<string, BenchmarkSection>>;
  /**
   * Rows each subset should have, where known. A subset whose results hold a
   * different number is flagged (see scoreBenchmark); subsets not listed are
   * not checked. Separate from the weights because RewardBench's differ.
   */
  readonly rows?: Readonly<Record<string, number>>;
  readonly prior?: PriorSets;
}

// The weights are EXAMPLE_COUNTS in rewardbench/constants.py (allenai/reward-bench,
// checked at commit 05a9005), the section membership its SUBSET_MAPPING. Every
// weight equals the subset's row count except math-prm: 447 rows weighted 984
// (= 6 x 164, "upweighting to be equal to code"), so Reasoning = 0.5 math-prm +
// 0.5 mean of the six hep-* subsets. The XSTest weights (should-refuse 154,
// should-respond 250) are the ones set in reward-bench commit 6552e93 "Mirror
// change from leaderboard", which swapped an earlier 250 / 154.
const CHAT = {
  'alpacaeval-easy': 100,
  'alpacaeval-length': 95,
  'alpacaeval-hard': 95,
  'mt-bench-easy': 28,
  'mt-bench-med': 40,
};
const CHAT_HARD = {
  'mt-bench-hard': 37,
  'llmbar-natural': 100,
  'llmbar-adver-neighbor': 134,
  'llmbar-adver-GPTInst': 92,
  'llmbar-adver-GPTOut': 47,
  'llmbar-adver-manual': 46,
};
const SAFETY = {
  'refusals-dangerous': 100,
  'refusals-offensive': 100,
  'xstest-should-refuse': 154,
  'xstest-should-respond': 250,
  donotanswer: 136,
};
const REASONING = {
  'math-prm': 984,
  'hep-cpp': 164,
  'hep-go': 164,
  'hep-java': 164,
  'hep-js': 164,
  'hep-python': 164,
  'hep-rust': 164,
};

/** RewardBench v1 (filtered split, 2,985 rows), weighted as the official harness. */
export const REWARDBENCH: Benchmark = {
  name: 'RewardBench',
  sections: {
    Chat: { subsets: CHAT },
    'Chat Hard': { subsets: CHAT_HARD },
    Safety: { subsets: SAFETY },
    Reasoning: { subsets: REASONING },
  },
  rows: {
    ...CHAT,
    ...CHAT_HARD,
    ...SAFETY,
    ...REASONING,
    'math-prm': 447,
  },
  prior: { subsets: ['anthropic_helpful', 'anthropic_hhh', 'shp', 'summarize'], weight: 0.5 },
};

/** Display names from SUBSET_NAME_TO_PAPER_READY (rewardbench/constants.py). */
export const REWARDBENCH_DISPLAY_NAMES: Readonly<Record<string, string>> = {
  'alpacaeval-easy': 'AlpacaEval Easy',
  'alpacaeval-length': 'AlpacaEval Length',
  'alpacaeval-hard': 'AlpacaEval Hard',
  'mt-bench-easy': 'MT Bench Easy',
  'mt-bench-med': 'MT Bench Medium',
  'mt-bench-hard': 'MT Bench Hard',
  'llmbar-natural': 'LLMBar Natural',
  'llmbar-adver-neighbor': 'LLMBar Adver. Neighbor',
  'llmbar-adver-GPTInst': 'LLMBar Adver. GPTInst',
  'llmbar-adver-GPTOut': 'LLMBar Adver. GPTOut',
  'llmbar-adver-manual': 'LLMBar Adver. Manual',
  'refusals-dangerous': 'Refusals Dangerous',
  'refusals-offensive': 'Refusals Offensive',
  'xstest-should-refuse': 'XSTest Should Refuse',
  'xstest-should-respond': 'XSTest Should Respond',
  donotanswer: 'Do Not Answer',
  'math-prm': 'PRM Math',
  'hep-cpp': 'HumanEvalPack CPP',
  'hep-go': 'HumanEvalPack Go',
  'hep-java': 'HumanEvalPack Java',
  'hep-js': 'HumanEvalPack Javascript',
  'hep-python': 'HumanEvalPack Python',
  'hep-rust': 'HumanEvalPack Rust',
  anthropic_harmless: 'Anthropic Harmless',
  anthropic_helpful: 'Anthropic Helpful',
  anthropic_hhh: 'Anthropic HHH',
  mtbench_gpt4: 'MT Bench GPT-4',
  mtbench_human: 'MT Bench Human',
  shp: 'SHP',
  summarize: 'Summarize',
};

/**
 * A benchmark whose weights are the observed row counts (the built-in world's,
 * or any data set scored by rows): `sections` maps a section to its subsets,
 * `counts` gives each subset's rows (see subsetCounts). Every subset must have
 * a positive count.
 */
export function benchmarkFromCounts(
  name: string,
  sections: Readonly<Record<string, readonly string[]>>,
  counts: Readonly<Record<string, number>>,
): Benchmark {
  const out: Record<string, BenchmarkSection> = {};
  const rows: Record<string, number> = {};
  for (const [section, subsets] of Object.entries(sections)) {
    const weights: Record<string, number> = {};
    for (const subset of subsets) {
      const n = counts[subset];
      if (n === undefined || !Number.isInteger(n) || n <= 0) {
        throw new Error(
          `benchmarkFromCounts: subset ${JSON.stringify(subset)} of section ${JSON.stringify(section)}: expected a positive row count, got ${n}`,
        );
      }
      weights[subset] = n;
      rows[subset] = n;
    }
    out[section] = { subsets: weights };
  }
  const bench = { name, sections: out, rows };
  validateBenchmark(bench);
  return bench;
}

/** Throws if a weight is not positive and finite, a section is empty, or a subset is used twice. */
export function validateBenchmark(bench: Benchmark): void {
  const where = `benchmark ${JSON.stringify(bench.name)}`;
  const seen = new Set<string>();
  const claim = (subset: string, owner: string) => {
    if (seen.has(subset))
      throw new Error(`${where}: subset ${JSON.stringify(subset)} appears twice (again in ${owner})`);
    seen.add(subset);
  };
  const names = Object.keys(bench.sections);
  if (names.length === 0) throw new Error(`${where}: no sections`);
  for (const name of names) {
    const entries = Object.entries(bench.sections[name]!.subsets);
    if (entries.length === 0) throw new Error(`${where}: section ${JSON.stringify(name)} has no subsets`);
    for (const [subset, weight] of entries) {
      if (!Number.isFinite(weight) || weight <= 0) {
        throw new Error(
          `${where}: section ${JSON.stringify(name)}, subset ${JSON.stringify(subset)}: weight must be positive and finite, got ${weight}`,
        );
      }
      claim(subset, `section ${JSON.stringify(name)}`);
    }
  }
  if (bench.prior) {
    const { subsets, weight } = bench.prior;
    if (subsets.length === 0) throw new Error(`${where}: prior sets list no subsets`);
    if (!Number.isFinite(weight) || weight <= 0)
      throw new Error(`${where}: prior sets weight must be positive and finite, got ${weight}`);
    for (const subset of subsets) claim(subset, 'the prior sets');
  }
}
