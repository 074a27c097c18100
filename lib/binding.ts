// The addon's contract: every function native/napi exports, with the types of
// what it takes and returns, in one place. The rest of lib/ reaches the native
// layer only through these types (lib/native.ts loads the binary).
import type {
  AdamwInput,
  AttentionBackwardInput,
  AttentionInput,
  BtLossInput,
  DpoLossInput,
  EmbeddingBackwardInput,
  EmbeddingInput,
  LogprobOptions,
  RmsnormBackwardInput,
  RmsnormInput,
  RopeInput,
  SamplingFilterInput,
  SwigluInput,
} from './kernels.js';
import type { PackedBatch } from './model/batch.js';
import type { ForwardResult, Metrics, ParameterInfo, Sample, StepMetrics } from './model/model.js';
import type { Backend, CudaStatus, Isa, NativeGemmOptions, NativeInfo } from './native.js';

/** kernels.* (native/napi/kernels.cpp, kernels_model.cpp): one kernel call on typed arrays, synchronous. */
export interface NativeKernels {
  gemm(o: NativeGemmOptions): Float32Array;
  attention(o: AttentionInput): { out: Float32Array; lse: Float32Array };
  attentionBackward(o: AttentionBackwardInput): { dq: Float32Array; dk: Float32Array; dv: Float32Array };
  rmsnorm(o: RmsnormInput): { y: Float32Array; rstd: Float32Array };
  rmsnormBackward(o: RmsnormBackwardInput): { dx: Float32Array; dweight: Float32Array };
  rope(o: RopeInput): Float32Array;
  // With dout (dlogp for logprob), the backward; the more specific form first.
  swiglu(o: SwigluInput & { dout: Float32Array }): { dgate: Float32Array; dup: Float32Array };
  swiglu(o: SwigluInput): Float32Array;
  embedding(o: EmbeddingInput): Float32Array;
  embedding(o: EmbeddingBackwardInput): Float32Array;
  logprob(o: LogprobOptions & { dlogp: Float32Array }): { dhidden: Float32Array; dweight: Float32Array };
  logprob(o: LogprobOptions & { reference?: boolean }): Float32Array;
  sftLoss(o: { seqLogps: Float32Array; seqCounts: Float32Array }): { loss: number; dlogps: Float32Array };
  dpoLoss(o: DpoLossInput): Record<string, number> & { loss: number; dlogps: Float32Array };
  btLoss(o: BtLossInput): Record<string, number> & { loss: number; drewards: Float32Array };
  adamw(o: AdamwInput): void;
  samplingFilter(o: SamplingFilterInput): { ids: Int32Array; probs: Float64Array };
  ops(): OpInfo[];
  checkOp(o: { op: string; path: string; seed?: number }): OpComparison[];
  prepareOp(o: { op: string; path: string }): PreparedOp;
}

/** One op of the engine's table of ops (native/ops/table.h). */
export interface OpInfo {
  name: string;
  /** What it computes, one line. */
  summary: string;
  /** Where its reference and every path live. */
  sources: string;
  /** Labels of the shapes the parity check runs. */
  checks: string[];
  /** The shape `genrm bench ops` times. */
  bench: string;
  paths: { name: string; backend: 'cpu' | 'cuda'; available: boolean; tolerance: { atol: number; rtol: number } }[];
}

/** One output of one check shape: the worst element's error in units of the tolerance (<= 1 passes). */
export interface OpComparison {
  shape: string;
  output: string;
  worstError: number;
  worstIndex: number;
  got: number;
  want: number;
  ok: boolean;
}

/** A path on the op's bench-shape problem: run() computes it once. */
export interface PreparedOp {
  run(): void;
  shape: string;
  /** Floating-point operations of one run (0 for memory-bound ops). */
  flops: number;
  /** Bytes one run reads and writes, for memory-bound ops (0 otherwise). */
  bytes: number;
}

/** What Model's native calls take: every value explicit (the native layer has no defaults). */
export interface NativeObjective {
  type: 'none' | 'sft' | 'dpo' | 'bt';
  lossScale: number;
  pairs?: Int32Array;
  refLogps?: Float32Array;
  beta?: number;
  labelSmoothing?: number;
  lossType?: 'sigmoid' | 'ipo' | 'hinge' | 'robust';
  margins?: Float32Array;
  centerRewardsCoefficient?: number;
}

export interface NativeOptimizer {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
  warmupSteps: number;
  totalSteps: number;
  minLrRatio: number;
}

export type NativeBuffer = 'params' | 'grads' | 'adam_m' | 'adam_v';

/** A model handle (native/napi/model.cpp): one call at a time; run, step and generate are asynchronous. */
export interface NativeModel {
  layout(): ParameterInfo[];
  read(o: { buffer: NativeBuffer; offset?: number; size?: number }): Float32Array;
  write(o: { buffer: NativeBuffer; offset?: number; data: Float32Array }): void;
  state(): { step: number; rngState: bigint; numParams: number };
  setState(o: { step?: number; rngState?: bigint }): void;
  run(
    batch: PackedBatch,
    objective: NativeObjective,
    options: { backward?: boolean; logitsRow0?: number; logitsRows?: number },
  ): Promise<ForwardResult & { metrics: Metrics }>;
  step(o: NativeOptimizer): Promise<StepMetrics>;
  generate(requests: object[], options: object): Promise<{ samples: Sample[]; cacheBytes: number }>;
  cancel(): void;
  zeroGrad(): void;
  dispose(): void;
  readonly busy: boolean;
  readonly disposed: boolean;
}

export interface NativeModelOptions {
  initialize?: boolean;
  device?: Backend;
  precision?: 'bf16' | 'fp32';
  deterministic?: boolean;
}

/** The addon's exports. */
export interface NativeBinding {
  info(): NativeInfo;
  cudaStatus(): CudaStatus;
  configure(options: { threads?: number; isa?: Isa }): NativeInfo;
  kernels: NativeKernels;
  bench: {
    /** Measured fp32 FMA throughput over all engine threads, GFLOP/s. */
    fmaPeak(options: { isa?: Isa; seconds?: number }): number;
    openblasInfo(): { available: boolean; config?: string; reason?: string };
    /** cblas_sgemm with kernels.gemm's options (isa and reference ignored). */
    openblasGemm(options: NativeGemmOptions): Float32Array;
  };
  files: {
    /** Swaps two paths atomically (renameat2 RENAME_EXCHANGE); false where the file system cannot. */
    exchange(a: string, b: string): boolean;
  };
  Model: new (config: object, seed: number, options?: NativeModelOptions) => NativeModel;
}
