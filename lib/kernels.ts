// Single kernels on Float32Arrays, for tests and benchmarks. Each runs
// synchronously in the engine (arguments are validated natively before use).
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

type Binding = Record<string, (options: object) => unknown>;
const k = (): Binding => native().binding.kernels as unknown as Binding;

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
export function attention(o: AttentionShape & { q: Float32Array; k: Float32Array; v: Float32Array }): { out: Float32Array; lse: Float32Array } {
  return k().attention!(o) as { out: Float32Array; lse: Float32Array };
}

/** Gradients of attention given dout (and the forward's out and lse, unless reference). */
export function attentionBackward(o: AttentionShape & { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array; out?: Float32Array; lse?: Float32Array }): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  return k().attentionBackward!(o) as { dq: Float32Array; dk: Float32Array; dv: Float32Array };
}

export function rmsnorm(o: { x: Float32Array; weight: Float32Array; rows: number; dim: number; eps?: number }): { y: Float32Array; rstd: Float32Array } {
  return k().rmsnorm!(o) as { y: Float32Array; rstd: Float32Array };
}

export function rmsnormBackward(o: { x: Float32Array; weight: Float32Array; rstd: Float32Array; dy: Float32Array; rows: number; dim: number }): { dx: Float32Array; dweight: Float32Array } {
  return k().rmsnormBackward!(o) as { dx: Float32Array; dweight: Float32Array };
}

/** Rotary embedding (HF convention) of x: [tokens, heads, headDim]; inverse rotates back (the backward). */
export function rope(o: { x: Float32Array; positions: Int32Array; heads: number; headDim: number; theta?: number; inverse?: boolean }): Float32Array {
  return k().rope!(o) as Float32Array;
}

/** silu(gate) * up. */
export function swiglu(o: { gate: Float32Array; up: Float32Array }): Float32Array {
  return k().swiglu!(o) as Float32Array;
}

export function swigluBackward(o: { gate: Float32Array; up: Float32Array; dout: Float32Array }): { dgate: Float32Array; dup: Float32Array } {
  return k().swiglu!(o) as { dgate: Float32Array; dup: Float32Array };
}

export function embedding(o: { table: Float32Array; ids: Int32Array; vocab: number; dim: number }): Float32Array {
  return k().embedding!(o) as Float32Array;
}

/** Gradient of the embedding table: dtable[ids[t]] += dout[t]. */
export function embeddingBackward(o: { ids: Int32Array; dout: Float32Array; vocab: number; dim: number }): Float32Array {
  return k().embedding!(o) as Float32Array;
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
  return k().logprob!(o) as Float32Array;
}

export function logprobBackward(o: LogprobOptions & { dlogp: Float32Array }): { dhidden: Float32Array; dweight: Float32Array } {
  return k().logprob!(o) as { dhidden: Float32Array; dweight: Float32Array };
}

export function sftLoss(o: { seqLogps: Float32Array; seqCounts: Float32Array }): { loss: number; dlogps: Float32Array } {
  return k().sftLoss!(o) as { loss: number; dlogps: Float32Array };
}

/** DPO family on per-sequence log-probs; pairs is flat [chosen0, rejected0, ...]. Metrics use TRL's names. */
export function dpoLoss(o: { policyLogps: Float32Array; refLogps: Float32Array; pairs: Int32Array; counts?: Float32Array; beta?: number; labelSmoothing?: number; lossType?: 'sigmoid' | 'ipo' | 'hinge' | 'robust' }): Record<string, number> & { loss: number; dlogps: Float32Array } {
  return k().dpoLoss!(o) as Record<string, number> & { loss: number; dlogps: Float32Array };
}

/** Bradley-Terry loss on rewards; pairs is flat [chosen0, rejected0, ...]. */
export function btLoss(o: { rewards: Float32Array; pairs: Int32Array; margins?: Float32Array; centerRewardsCoefficient?: number }): Record<string, number> & { loss: number; drewards: Float32Array } {
  return k().btLoss!(o) as Record<string, number> & { loss: number; drewards: Float32Array };
}

/** One AdamW step (torch semantics) on one tensor; updates params, m and v in place. */
export function adamw(o: { params: Float32Array; grads: Float32Array; m: Float32Array; v: Float32Array; step: number; lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }): void {
  k().adamw!(o);
}

/**
 * The tokens generation may draw from one row of logits: temperature, then top-k,
 * then top-p, as Model.generate applies them (equal logits ordered by id). ids
 * ascending; probs their probabilities after filtering (summing to 1).
 */
export function samplingFilter(o: { logits: Float32Array; temperature?: number; topK?: number; topP?: number }): { ids: Int32Array; probs: Float64Array } {
  return k().samplingFilter!(o) as { ids: Int32Array; probs: Float64Array };
}
