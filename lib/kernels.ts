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
