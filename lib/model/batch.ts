// Packed batches: several sequences back to back in one token array, with
// segment offsets (cu_seqlens); no padding is ever computed.

export interface PackedBatch {
  /** Token ids of every sequence, back to back. */
  ids: Int32Array;
  /** Sequence s is ids[cuSeqlens[s] .. cuSeqlens[s+1]); starts at 0, ends at ids.length. */
  cuSeqlens: Int32Array;
  /** lossMask[t] = 1: token t is a target, predicted from position t-1 of its sequence (0 at every sequence start). */
  lossMask?: Uint8Array;
}

export interface SequenceInput {
  ids: ArrayLike<number>;
  /** Per-token target flags; default: no targets. Use promptLength for the common case. */
  mask?: ArrayLike<number>;
  /** Tokens before this index are prompt (not targets); the rest are targets. */
  promptLength?: number;
}

/** Packs sequences into one batch; sequence i of the input is sequence i of the batch. */
export function packSequences(sequences: readonly SequenceInput[]): PackedBatch {
  let total = 0;
  for (const s of sequences) total += s.ids.length;
  const ids = new Int32Array(total);
  const cuSeqlens = new Int32Array(sequences.length + 1);
  const anyMask = sequences.some((s) => s.mask !== undefined || s.promptLength !== undefined);
  const lossMask = anyMask ? new Uint8Array(total) : undefined;
  let at = 0;
  sequences.forEach((s, i) => {
    for (let j = 0; j < s.ids.length; j++) ids[at + j] = s.ids[j]!;
    if (lossMask) {
      if (s.mask !== undefined) {
        if (s.mask.length !== s.ids.length)
          throw new Error(`sequences[${i}].mask.length: expected ${s.ids.length}, got ${s.mask.length}`);
        for (let j = 0; j < s.ids.length; j++) lossMask[at + j] = s.mask[j] ? 1 : 0;
      } else if (s.promptLength !== undefined) {
        if (!Number.isInteger(s.promptLength) || s.promptLength < 0 || s.promptLength > s.ids.length)
          throw new Error(
            `sequences[${i}].promptLength: expected an integer in [0, ${s.ids.length}], got ${s.promptLength}`,
          );
        for (let j = Math.max(1, s.promptLength); j < s.ids.length; j++) lossMask[at + j] = 1;
      }
    }
    at += s.ids.length;
    cuSeqlens[i + 1] = at;
  });
  return lossMask ? { ids, cuSeqlens, lossMask } : { ids, cuSeqlens };
}
