// Single kernels on Float32Arrays, for tests and benchmarks. Each runs
// synchronously in the engine (arguments are validated natively before use).
import type { OpComparison, OpInfo, PreparedOp } from './binding.js';
export type { OpComparison, OpInfo, PreparedOp } from './binding.js';
import { native, type Isa } from './native.js';

export interface GemmOptions {
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** Row-major, m x k (k x m when transA). */
  a: Float32Array;
  /** Row-major, k x n (n x k when transB). */
  b: Float32Array;
  /** Row-major m x n, updated in place; a new zeroed array when absent. */
  c?: Float32Array;
  transA?: boolean;
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0: C is overwritten without being read. */
  beta?: number;
  /** Kernel path; default the engine's (see configure()). */
  isa?: Isa;
  /** Use the plain double-accumulating reference instead of the fast path. */
  reference?: boolean;
}

/** C = alpha * op(A) op(B) + beta * C. Returns C. */
export function gemm(options: GemmOptions): Float32Array {
  const c = options.c ?? new Float32Array(Math.max(0, options.m * options.n));
  return native().binding.kernels.gemm({ ...options, c });
}

const k = () => native().binding.kernels;

export interface AttentionShape {
  /** Segment offsets: sequence s is tokens [cuSeqlens[s], cuSeqlens[s+1]); the last entry is the token count. */
  cuSeqlens: Int32Array;
  heads: number;
  /** Default heads (no grouping). */
  kvHeads?: number;
  headDim: number;
  /** Default 1/sqrt(headDim). */
  scale?: number;
  isa?: Isa;
  /** Use the materialising double-precision reference. */
  reference?: boolean;
}

/** Causal attention within each packed sequence. q: [tokens, heads, headDim]; k, v: [tokens, kvHeads, headDim]. */
export function attention(o: AttentionInput): { out: Float32Array; lse: Float32Array } {
  return k().attention(o);
}

/** Gradients of attention given dout (and the forward's out and lse, unless reference). */
export function attentionBackward(o: AttentionBackwardInput): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  return k().attentionBackward(o);
}

export type AttentionInput = AttentionShape & { q: Float32Array; k: Float32Array; v: Float32Array };
export type AttentionBackwardInput = AttentionInput & { dout: Float32Array; out?: Float32Array; lse?: Float32Array };
export type RmsnormInput = { x: Float32Array; weight: Float32Array; rows: number; dim: number; eps?: number };
export type RmsnormBackwardInput = {
  x: Float32Array;
  weight: Float32Array;
  rstd: Float32Array;
  dy: Float32Array;
  rows: number;
  dim: number;
};
export type RopeInput = {
  x: Float32Array;
  positions: Int32Array;
  heads: number;
  headDim: number;
  theta?: number;
  inverse?: boolean;
};
export type SwigluInput = { gate: Float32Array; up: Float32Array };
export type EmbeddingInput = { table: Float32Array; ids: Int32Array; vocab: number; dim: number };
export type EmbeddingBackwardInput = { ids: Int32Array; dout: Float32Array; vocab: number; dim: number };
export type DpoLossInput = {
  policyLogps: Float32Array;
  refLogps: Float32Array;
  pairs: Int32Array;
  counts?: Float32Array;
  beta?: number;
  labelSmoothing?: number;
  lossType?: 'sigmoid' | 'ipo' | 'hinge' | 'robust';
};
export type BtLossInput = {
  rewards: Float32Array;
  pairs: Int32Array;
  margins?: Float32Array;
  centerRewardsCoefficient?: number;
};
export type AdamwInput = {
  params: Float32Array;
  grads: Float32Array;
  m: Float32Array;
  v: Float32Array;
  step: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
};
export type SamplingFilterInput = { logits: Float32Array; temperature?: number; topK?: number; topP?: number };

export function rmsnorm(o: RmsnormInput): { y: Float32Array; rstd: Float32Array } {
  return k().rmsnorm(o);
}

export function rmsnormBackward(o: RmsnormBackwardInput): { dx: Float32Array; dweight: Float32Array } {
  return k().rmsnormBackward(o);
}

/** Rotary embedding (HF convention) of x: [tokens, heads, headDim]; inverse rotates back (the backward). */
export function rope(o: RopeInput): Float32Array {
  return k().rope(o);
}

/** silu(gate) * up. */
export function swiglu(o: SwigluInput): Float32Array {
  return k().swiglu(o);
}

export function swigluBackward(o: SwigluInput & { dout: Float32Array }): { dgate: Float32Array; dup: Float32Array } {
  return k().swiglu(o);
}

export function embedding(o: EmbeddingInput): Float32Array {
  return k().embedding(o);
}

/** Gradient of the embedding table: dtable[ids[t]] += dout[t]. */
export function embeddingBackward(o: EmbeddingBackwardInput): Float32Array {
  return k().embedding(o);
}

export interface LogprobOptions {
  hidden: Float32Array;
  weight: Float32Array;
  targets: Int32Array;
  rows: number;
  dim: number;
  vocab: number;
  isa?: Isa;
}

/** log_softmax(hidden W^T)[targets], chunked so rows x vocab logits are never all held. */
export function logprob(o: LogprobOptions & { reference?: boolean }): Float32Array {
  return k().logprob(o);
}

export function logprobBackward(o: LogprobOptions & { dlogp: Float32Array }): {
  dhidden: Float32Array;
  dweight: Float32Array;
} {
  return k().logprob(o);
}

export function sftLoss(o: { seqLogps: Float32Array; seqCounts: Float32Array }): {
  loss: number;
  dlogps: Float32Array;
} {
  return k().sftLoss(o);
}

/** DPO family on per-sequence log-probs; pairs is flat [chosen0, rejected0, ...]. Metrics use TRL's names. */
export function dpoLoss(o: DpoLossInput): Record<string, number> & { loss: number; dlogps: Float32Array } {
  return k().dpoLoss(o);
}

/** Bradley-Terry loss on rewards; pairs is flat [chosen0, rejected0, ...]. */
export function btLoss(o: BtLossInput): Record<string, number> & { loss: number; drewards: Float32Array } {
  return k().btLoss(o);
}

/** One AdamW step (torch semantics) on one tensor; updates params, m and v in place. */
export function adamw(o: AdamwInput): void {
  k().adamw(o);
}

/**
 * The tokens generation may draw from one row of logits: temperature, then top-k,
 * then top-p, as Model.generate applies them (equal logits ordered by id). ids
 * ascending; probs their probabilities after filtering (summing to 1).
 */
export function samplingFilter(o: SamplingFilterInput): { ids: Int32Array; probs: Float64Array } {
  return k().samplingFilter(o);
}

/** The engine's table of ops: each kernel with its reference, paths and tolerances. */
export function ops(): OpInfo[] {
  return k().ops();
}

/** Runs one path of an op against the op's reference on every check shape. */
export function checkOp(options: { op: string; path: string; seed?: number }): OpComparison[] {
  return k().checkOp(options);
}

/** One path on the op's bench shape, ready to be timed. */
export function prepareOp(options: { op: string; path: string }): PreparedOp {
  return k().prepareOp(options);
}
