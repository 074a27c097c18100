// Held-out splits that depend on nothing but each pair's group and a seed: no
// shuffle, no order, no count. The same group lands on the same side in every
// run, every file order and every subset of the data, so pairs that share a
// prompt (UltraFeedback prompt_id, UltraInteract parent_id) never straddle it.

import { FNV_OFFSET, fmix32, fnvStep } from '../util/random.js';

const encoder = new TextEncoder();

/**
 * A group's place in [0, 1): 32-bit FNV-1a over the seed (4 bytes,
 * little-endian) then the key's UTF-8 bytes, finished with MurmurHash3's
 * fmix32 so that keys differing in their last characters spread over the
 * whole range; divided by 2^32.
 */
export function groupHash(key: string, seed = 0): number {
  let h = FNV_OFFSET;
  const s = seed >>> 0;
  for (let i = 0; i < 4; i++) h = fnvStep(h, (s >>> (8 * i)) & 0xff);
  for (const b of encoder.encode(key)) h = fnvStep(h, b);
  return fmix32(h) / 2 ** 32;
}

export interface SplitOptions {
  /** Fraction of groups held out, in (0, 1). */
  heldOut: number;
  /** Picks another split; an integer, taken modulo 2^32. Default 0. */
  seed?: number;
}

/**
 * Splits pairs by group (a pair without one is its own group, keyed by id): a
 * group is held out when groupHash(group, seed) < heldOut. Input order is kept
 * on both sides. `heldOut` is the expected fraction of groups, not of pairs.
 */
export function splitByGroup<T extends { id: string; group?: string }>(
  pairs: readonly T[],
  options: SplitOptions,
): { train: T[]; heldOut: T[] } {
  const { heldOut: fraction, seed = 0 } = options;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) {
    throw new RangeError(`splitByGroup: heldOut: expected a number in (0, 1), got ${String(fraction)}`);
  }
  if (!Number.isInteger(seed)) throw new RangeError(`splitByGroup: seed: expected an integer, got ${String(seed)}`);
  const side = new Map<string, boolean>();
  const train: T[] = [];
  const heldOut: T[] = [];
  for (const pair of pairs) {
    const key = pair.group ?? pair.id;
    let out = side.get(key);
    if (out === undefined) {
      out = groupHash(key, seed) < fraction;
      side.set(key, out);
    }
    (out ? heldOut : train).push(pair);
  }
  return { train, heldOut };
}
