// Scoring judged preference pairs: plain accuracy (held-out pairs) and a
// benchmark's subset / section / overall scores (RewardBench or a custom one).
// Pure functions over results; running judges is lib/genrm's job.
//
// A judgement's score is 1 when the judge preferred the human-preferred answer,
// 0 when it preferred the other, and 0.5 for no verdict or a tie, as RewardBench's
// generative harness counts an unparseable verdict. The 0.5 cases are counted
// (`ties`) so a judge that hedges is visible, not just average.
//
// Where the results do not match the benchmark, nothing is renormalized
// silently:
// - A section missing some subsets gets the score the official harness gives it
//   (the weighted mean over the subsets present) but `complete: false`, its
//   `missing` list, and a note; the overall is then null, since a mean over
//   different subsets is not the benchmark's number. A section with no subset
//   at all scores null (the harness writes 0).
// - A subset whose row count differs from the benchmark's `rows` keeps its fixed
//   weight, as in the harness (weights never depend on the rows present); it is
//   listed in `mismatched` and in a note, and the scores are then estimates of
//   the official ones (e.g. a run on a sample of each subset).
// - Subsets the benchmark does not know are scored per subset, enter no section,
//   and are listed in `unknownSubsets`.
import type { Benchmark } from './benchmark.js';
import { REWARDBENCH, validateBenchmark } from './benchmark.js';
import type { ProtocolRecord } from './provenance.js';

export interface Judgement {
  id: string;
  /** The benchmark subset; required by scoreBenchmark, ignored by accuracy. */
  subset?: string;
  /** 1 = chose the human-preferred answer, 0 = the other, 0.5 = no verdict or tie; any value in [0, 1]. */
  score: number;
}

export interface Accuracy {
  /** Mean score; NaN when count is 0 (JSON writes it as null). */
  accuracy: number;
  count: number;
  /** Judgements that scored exactly 0.5. */
  ties: number;
}

export interface SubsetScore extends Accuracy {
  /** The section it belongs to; absent for prior sets and unknown subsets. */
  section?: string;
  /** The benchmark's expected rows for this subset, when it declares them. */
  expectedRows?: number;
}

export interface SectionScore {
  /** Weighted mean over the subsets present; null when none is. */
  score: number | null;
  /** Judgements in the section's subsets. */
  count: number;
  ties: number;
  /** Every subset of the section is present. */
  complete: boolean;
  /** Subsets with no judgements. */
  missing: string[];
  /** Present subsets whose row count differs from the benchmark's. */
  mismatched: string[];
}

export interface BenchmarkScore {
  benchmark: string;
  /** Every subset present: the benchmark's in its order, then unknown ones sorted. */
  subsets: Record<string, SubsetScore>;
  sections: Record<string, SectionScore>;
  /** Plain mean of the sections; null unless every section is complete. */
  overall: number | null;
  /** The prior sets' plain mean (RewardBench's "Prior Sets"), when any of them is present. */
  prior?: SectionScore;
  /** The older overall: sections weighted 1, prior sets `prior.weight`; null when overall is. */
  priorOverall?: number | null;
  /** Subsets in the results that no section or prior set uses. */
  unknownSubsets: string[];
  /** All judgements, and those that scored 0.5. */
  count: number;
  ties: number;
  /** Plain-language caveats: partial sections, row mismatches, unknown subsets. */
  notes: string[];
  /** How the judgements were made, when the caller says (see ProtocolRecord). */
  protocol?: ProtocolRecord;
}

function checkScore(j: Judgement): void {
  if (typeof j.score !== 'number' || !(j.score >= 0 && j.score <= 1)) {
    throw new Error(`judgement ${JSON.stringify(j.id)}: score must be a number in [0, 1], got ${j.score}`);
  }
}

function checkUnique(js: readonly Judgement[]): void {
  const seen = new Set<string>();
  for (const j of js) {
    // Ids are unique within a data set; RewardBench and its prior sets may reuse them.
    const key = `${j.subset ?? ''}\u0000${j.id}`;
    if (seen.has(key)) {
      const where = j.subset !== undefined ? ` in subset ${JSON.stringify(j.subset)}` : '';
      throw new Error(
        `judgement ${JSON.stringify(j.id)}${where} appears twice; combine repeated samples (e.g. majority vote) before scoring`,
      );
    }
    seen.add(key);
  }
}

function tally(js: readonly Judgement[]): Accuracy {
  let sum = 0;
  let ties = 0;
  for (const j of js) {
    checkScore(j);
    sum += j.score;
    if (j.score === 0.5) ties++;
  }
  return { accuracy: js.length > 0 ? sum / js.length : NaN, count: js.length, ties };
}

/** Mean score of a set of judgements, their number and how many scored 0.5. */
export function accuracy(js: readonly Judgement[]): Accuracy {
  checkUnique(js);
  return tally(js);
}

/** Judgements per subset, e.g. for benchmarkFromCounts. */
export function subsetCounts(js: readonly Judgement[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const j of js) {
    if (j.subset === undefined) throw new Error(`judgement ${JSON.stringify(j.id)} has no subset`);
    counts[j.subset] = (counts[j.subset] ?? 0) + 1;
  }
  return counts;
}

const list = (names: readonly string[]) => names.join(', ');

/**
 * Scores judgements against a benchmark (default RewardBench); see the file
 * comment for edge cases. `options.protocol` is carried into the score, so the
 * number keeps its record of how the judgements were made.
 */
export function scoreBenchmark(
  js: readonly Judgement[],
  bench: Benchmark = REWARDBENCH,
  options: { protocol?: ProtocolRecord } = {},
): BenchmarkScore {
  validateBenchmark(bench);
  checkUnique(js);
  const groups = new Map<string, Judgement[]>();
  for (const j of js) {
    if (j.subset === undefined) {
      throw new Error(
        `judgement ${JSON.stringify(j.id)} has no subset; scoreBenchmark needs one (accuracy() scores an unsplit set)`,
      );
    }
    let group = groups.get(j.subset);
    if (!group) groups.set(j.subset, (group = []));
    group.push(j);
  }

  const known = [
    ...Object.values(bench.sections).flatMap((s) => Object.keys(s.subsets)),
    ...(bench.prior?.subsets ?? []),
  ];
  const knownSet = new Set(known);
  const unknownSubsets = [...groups.keys()].filter((s) => !knownSet.has(s)).sort();
  const sectionOf = new Map<string, string>();
  for (const [name, s] of Object.entries(bench.sections))
    for (const subset of Object.keys(s.subsets)) sectionOf.set(subset, name);
  const subsets: Record<string, SubsetScore> = {};
  for (const name of [...known, ...unknownSubsets]) {
    const group = groups.get(name);
    if (!group) continue;
    const section = sectionOf.get(name);
    const expected = bench.rows?.[name];
    subsets[name] = {
      ...(section !== undefined ? { section } : {}),
      ...tally(group),
      ...(expected !== undefined ? { expectedRows: expected } : {}),
    };
  }

  // weights: subset -> weight (sections), or equal weights (prior sets' plain mean).
  const combine = (weights: Readonly<Record<string, number>>): SectionScore => {
    let weighted = 0;
    let total = 0;
    let count = 0;
    let ties = 0;
    const missing: string[] = [];
    const mismatched: string[] = [];
    for (const [name, weight] of Object.entries(weights)) {
      const s = subsets[name];
      if (!s) {
        missing.push(name);
        continue;
      }
      weighted += weight * s.accuracy;
      total += weight;
      count += s.count;
      ties += s.ties;
      if (s.expectedRows !== undefined && s.expectedRows !== s.count) mismatched.push(name);
    }
    return {
      score: total > 0 ? weighted / total : null,
      count,
      ties,
      complete: missing.length === 0,
      missing,
      mismatched,
    };
  };

  const notes: string[] = [];
  const sections: Record<string, SectionScore> = {};
  for (const [name, section] of Object.entries(bench.sections)) {
    const s = combine(section.subsets);
    sections[name] = s;
    if (s.score === null) notes.push(`${name}: no results for any subset; the section has no score.`);
    else if (!s.complete)
      notes.push(
        `${name}: no results for ${list(s.missing)}; the section is the weighted mean of the subsets present.`,
      );
  }
  const all = Object.values(sections);
  const overall = all.every((s) => s.complete) ? all.reduce((a, s) => a + s.score!, 0) / all.length : null;
  if (overall === null) notes.push('The overall is not reported because a section is incomplete.');

  let prior: SectionScore | undefined;
  let priorOverall: number | null | undefined;
  if (bench.prior && bench.prior.subsets.some((name) => subsets[name])) {
    prior = combine(Object.fromEntries(bench.prior.subsets.map((name) => [name, 1])));
    const w = bench.prior.weight;
    priorOverall = overall === null ? null : (overall * all.length + w * prior.score!) / (all.length + w);
    if (!prior.complete)
      notes.push(`Prior sets: no results for ${list(prior.missing)}; their score is the mean of those present.`);
  }

  const mismatched = Object.entries(subsets).filter(
    ([, s]) => s.expectedRows !== undefined && s.expectedRows !== s.count,
  );
  if (mismatched.length > 0) {
    const detail = mismatched.map(([name, s]) => `${name} ${s.count} (expected ${s.expectedRows})`);
    notes.push(
      `Row counts differ from the benchmark's: ${list(detail)}. Weights stay fixed, so the scores estimate the official ones.`,
    );
  }
  if (unknownSubsets.length > 0) notes.push(`Subsets outside the benchmark, scored alone: ${list(unknownSubsets)}.`);
  const ties = Object.values(subsets).reduce((a, s) => a + s.ties, 0);
  return {
    benchmark: bench.name,
    subsets,
    sections,
    overall,
    ...(prior ? { prior, priorOverall } : {}),
    unknownSubsets,
    count: js.length,
    ties,
    notes,
    ...(options.protocol ? { protocol: options.protocol } : {}),
  };
}
