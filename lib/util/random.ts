// Small seeded randomness for the TypeScript layer: data order, position draws,
// sampling seeds. Not the engine's generator (that is native SplitMix64); these
// only need to be deterministic, well mixed and cheap.

// The primitives every seeded draw in lib/ is built from (the world's
// generator, the data splits, the trainers' order): one copy of each, so a
// change here is a deliberate change of every draw.

export const FNV_OFFSET = 0x811c9dc5;

/** One FNV-1a step: mix in one byte or code unit. */
export function fnvStep(h: number, unit: number): number {
  return Math.imul(h ^ unit, 0x01000193);
}

/** FNV-1a over a string's UTF-16 code units, from state h. */
export function fnv1a(text: string, h = FNV_OFFSET): number {
  for (let i = 0; i < text.length; i++) h = fnvStep(h, text.charCodeAt(i));
  return h >>> 0;
}

/** MurmurHash3's fmix32: every input bit reaches every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One SplitMix32 output; advances state.s. */
export function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit hash of a string and a seed (FNV-1a, then fmix32 for avalanche). */
export function hash32(text: string, seed = 0): number {
  return fmix32(fnv1a(text, (FNV_OFFSET ^ seed) >>> 0));
}

/** A seed for one named purpose, derived from a run seed: independent streams without bookkeeping. */
export function deriveSeed(seed: number, ...parts: Array<string | number>): number {
  return hash32(parts.join('\u0000'), seed >>> 0);
}

/** SplitMix32 generator: uniform floats in [0, 1). */
export function rng(seed: number): () => number {
  const state = { s: seed | 0 };
  return () => splitmix32(state) / 4294967296;
}

/** Fisher-Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const next = rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
