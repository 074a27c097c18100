// Loads the engine binary. Order: the CUDA binary when it exists and finds a
// usable GPU, else the CPU binary. GENRM_DEVICE=cpu|cuda|auto overrides (cuda where
// it is unusable is an error that says why). Both binaries are located with
// node-gyp-build: the CPU one under build/ or prebuilds/, the CUDA one in the same
// layout under cuda-addon/ (node-gyp-build ignores custom tags, so the two must not
// share a folder). PREBUILDS_ONLY=1 skips the build/ folders.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { NativeBinding } from './binding.js';
import { packageRoot } from './package-root.js';

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
export type DeviceRequest = (typeof DEVICES)[number];
export type Backend = 'cpu' | 'cuda';
export type Isa = 'portable' | 'avx2' | 'avx512';

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface CudaStatus {
  /** The binary contains CUDA code. */
  compiled: boolean;
  usable: boolean;
  architectures: string;
  runtimeVersion: number;
  /** 0 when no driver is installed. */
  driverVersion: number;
  kernelsRun: boolean;
  /** The binary was built with cuBLAS, which a bf16 model's products then use (unless GENRM_CUDA_GEMM=own). */
  cublas: boolean;
  devices: CudaDevice[];
  /** Device memory the engine holds now and the most it has held, in bytes (zeros without a device). */
  memory: { inUse: number; peak: number };
  /** Why no device is usable; absent when one is. */
  error?: string;
}

export interface NativeInfo {
  build: Backend;
  napiVersion: number;
  compiler: string;
  cpu: { brand: string; features: Record<string, boolean>; supportedIsas: Isa[]; isa: Isa };
  threads: number;
  defaultThreads: number;
  /** Native models constructed and not yet freed (by dispose() or the garbage collector). */
  liveModels: number;
}

export interface NativeGemmOptions {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  isa?: Isa;
  reference?: boolean;
}

export type { NativeBinding } from './binding.js';

export interface LoadAttempt {
  binary: Backend;
  path?: string;
  outcome: 'loaded' | 'not-found' | 'load-failed' | 'unusable' | 'skipped';
  reason?: string;
}

export interface Engine {
  binding: NativeBinding;
  backend: Backend;
  /** Absolute path of the loaded .node file. */
  path: string;
  requested: DeviceRequest;
  attempts: LoadAttempt[];
}

export interface LoadOptions {
  /** Defaults to GENRM_DEVICE, else 'auto'. */
  device?: string;
  /** Package folder to search; defaults to genrm's own. */
  root?: string;
}

const HOW_TO_BUILD =
  'Build from source with `npm run compile` (CPU; needs python3, make and a C++17 compiler) ' +
  'or `npm run compile:cuda` (CUDA; needs nvcc and cmake), or reinstall genrm to get its prebuilt binaries.';

export function parseDevice(value: string | undefined, source = 'GENRM_DEVICE'): DeviceRequest {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return 'auto';
  if ((DEVICES as readonly string[]).includes(v)) return v as DeviceRequest;
  throw new Error(`${source}: expected one of ${DEVICES.join(', ')}, got ${JSON.stringify(value)}`);
}

function locate(dir: string): string | { error: string } {
  try {
    return nodeGypBuild.path(dir);
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
}

function tryLoad(
  binary: Backend,
  dir: string,
  attempts: LoadAttempt[],
  file?: string,
): { binding: NativeBinding; path: string } | undefined {
  const found = file ?? locate(dir);
  if (typeof found !== 'string') {
    attempts.push({ binary, path: dir, outcome: 'not-found', reason: found.error });
    return undefined;
  }
  try {
    const binding = require(found) as NativeBinding;
    return { binding, path: found };
  } catch (e) {
    attempts.push({ binary, path: found, outcome: 'load-failed', reason: (e as Error).message });
    return undefined;
  }
}

function describeAttempts(attempts: LoadAttempt[]): string {
  return attempts
    .map((a) => `  - ${a.binary} binary${a.path ? ` (${a.path})` : ''}: ${a.outcome}${a.reason ? `: ${a.reason}` : ''}`)
    .join('\n');
}

/** Finds and loads a binary; throws an Error listing every attempt when none fits. */
export function loadEngine(options: LoadOptions = {}): Engine {
  const requested = parseDevice(
    options.device ?? process.env.GENRM_DEVICE,
    options.device !== undefined ? 'device' : 'GENRM_DEVICE',
  );
  const root = options.root ?? packageRoot();
  const attempts: LoadAttempt[] = [];
  let cudaFallback: { binding: NativeBinding; path: string } | undefined;

  if (requested !== 'cpu') {
    // GENRM_CUDA_ADDON: a CUDA-build .node file to use instead of searching cuda-addon/
    // (development; the tests use it to load the engine's CPU stand-in for a device).
    const override = process.env.GENRM_CUDA_ADDON?.trim() || undefined;
    const cuda = tryLoad('cuda', join(root, 'cuda-addon'), attempts, override);
    if (cuda) {
      const status = cuda.binding.cudaStatus();
      if (status.usable) {
        attempts.push({ binary: 'cuda', path: cuda.path, outcome: 'loaded' });
        return { binding: cuda.binding, backend: 'cuda', path: cuda.path, requested, attempts };
      }
      attempts.push({
        binary: 'cuda',
        path: cuda.path,
        outcome: 'unusable',
        reason: status.error ?? 'no usable device',
      });
      cudaFallback = cuda;
    }
    if (requested === 'cuda') {
      throw new Error(
        `GENRM_DEVICE=cuda, but the CUDA backend is not usable:\n${describeAttempts(attempts)}\n` +
          'Use GENRM_DEVICE=cpu or auto to run on the CPU. The CUDA backend needs an NVIDIA GPU of compute capability 8.0 or newer, its driver, and the CUDA binary (`npm run compile:cuda`).',
      );
    }
  } else {
    attempts.push({ binary: 'cuda', outcome: 'skipped', reason: 'GENRM_DEVICE=cpu' });
  }

  const cpu = tryLoad('cpu', root, attempts);
  if (cpu) {
    attempts.push({ binary: 'cpu', path: cpu.path, outcome: 'loaded' });
    return { binding: cpu.binding, backend: 'cpu', path: cpu.path, requested, attempts };
  }
  if (cudaFallback) {
    // The CUDA binary carries the whole CPU engine too.
    attempts.push({ binary: 'cuda', path: cudaFallback.path, outcome: 'loaded', reason: 'used for its CPU engine' });
    return { binding: cudaFallback.binding, backend: 'cpu', path: cudaFallback.path, requested, attempts };
  }
  throw new Error(
    `genrm: no usable native binary for ${process.platform}-${process.arch} (Node ${process.versions.node}, N-API ${process.versions.napi}). Tried:\n` +
      `${describeAttempts(attempts)}\n${HOW_TO_BUILD}`,
  );
}

let engine: Engine | undefined;

/** The process-wide engine, loaded on first use. */
export function native(): Engine {
  engine ??= loadEngine();
  return engine;
}
