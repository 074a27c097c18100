// Runs bench/torch/reference.py (PyTorch on this machine, same run) when a
// Python with torch is available; otherwise says why and returns nothing.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../lib/package-root.js';

export interface TorchRequest {
  threads: number;
  attention?: Array<{ B: number; H: number; T: number; D: number }>;
  train?: TrainConfig[];
  generate?: Array<GenerateConfig & { batch: number }>;
  min_seconds?: number;
  /** Timed runs at least (training steps only; default 3). */
  min_runs?: number;
}

export interface TrainConfig {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kv_heads: number;
  ff: number;
  T: number;
  B: number;
}

export interface GenerateConfig {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kv_heads: number;
  ff: number;
  prompt: number;
  new: number;
}

export interface TorchResult {
  torch: string;
  threads: number;
  attention: Array<{ B: number; H: number; T: number; D: number; median_ms: number }>;
  train: Array<TrainConfig & { median_ms: number; tokens_per_s: number; params: number }>;
  generate: Array<GenerateConfig & { batch: number; decode_ms: number; tokens_per_s: number }>;
}

let python: string | null | undefined;

/** A python with torch: GENRM_TORCH_PYTHON, else python3 or /usr/bin/python3 (Debian's python3-torch). */
function findPython(): string | null {
  if (python !== undefined) return python;
  const candidates = [process.env.GENRM_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x);
  python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) ?? null;
  return python;
}

export function runTorch(request: TorchRequest, log: (line: string) => void): TorchResult | undefined {
  const py = findPython();
  if (!py) {
    log(
      'PyTorch comparison skipped: no python3 with torch found (apt-get install python3-torch, or set GENRM_TORCH_PYTHON)',
    );
    return undefined;
  }
  const r = spawnSync(py, [join(packageRoot(), 'bench', 'torch', 'reference.py')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    log(`PyTorch comparison failed: ${r.stderr.trim().split('\n').pop()}`);
    return undefined;
  }
  return JSON.parse(r.stdout) as TorchResult;
}
