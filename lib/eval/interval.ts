// Confidence intervals for an accuracy. Wilson's score interval rather than the
// normal approximation: it stays inside [0, 1] and is sensible for small subsets
// and for accuracies near 0 or 1, both common here (a 28-row subset, a judge at 95%).
// A 0.5 score counts as half a success, so the interval treats n judgements with
// mean p as n Bernoulli draws with mean p: a slight overstatement of the variance
// when ties are common, which errs on the wide side.

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

export interface Interval {
  low: number;
  high: number;
}

/** Wilson score interval of a proportion p observed over n trials; [0, 1] when n is 0. */
export function wilsonInterval(p: number, n: number, z: number = Z95): Interval {
  if (!(p >= 0 && p <= 1)) throw new Error(`wilsonInterval: p must be in [0, 1], got ${p}`);
  if (!(n >= 0) || !Number.isFinite(n)) throw new Error(`wilsonInterval: n must be a finite count >= 0, got ${n}`);
  if (!(z > 0) || !Number.isFinite(z)) throw new Error(`wilsonInterval: z must be positive, got ${z}`);
  if (n === 0) return { low: 0, high: 1 };
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At p = 0 (or 1) the bound is exactly 0 (or 1); rounding would leave 1e-17 off.
  return { low: p === 0 ? 0 : Math.max(0, centre - half), high: p === 1 ? 1 : Math.min(1, centre + half) };
}
