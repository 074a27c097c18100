import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEngine, packageRoot, parseDevice } from '../lib/index.js';

const cudaBinaryBuilt = ['build/Release', `prebuilds/${process.platform}-${process.arch}`].some((d) =>
  existsSync(join(packageRoot(), 'cuda-addon', d, 'genrm.node')),
);

test('GENRM_DEVICE accepts auto, cpu and cuda in any case, and rejects others listing the valid ones', (t) => {
  t.is(parseDevice(undefined), 'auto');
  t.is(parseDevice(''), 'auto');
  t.is(parseDevice('CPU'), 'cpu');
  t.is(parseDevice(' cuda '), 'cuda');
  const e = t.throws(() => parseDevice('gpu'));
  t.is(e?.message, 'GENRM_DEVICE: expected one of auto, cpu, cuda, got "gpu"');
  t.throws(() => loadEngine({ device: 'tpu' }), { message: /device: expected one of auto, cpu, cuda, got "tpu"/ });
});

test('with no binary anywhere, the error lists what was tried and how to build', (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'genrm-empty-'));
  try {
    const e = t.throws(() => loadEngine({ root: empty, device: 'auto' }));
    t.regex(e?.message ?? '', /no usable native binary for linux-x64/);
    t.regex(e?.message ?? '', /cuda binary \(.*cuda-addon\): not-found/);
    t.regex(e?.message ?? '', /cpu binary \(.*genrm-empty-.*\): not-found/);
    t.regex(e?.message ?? '', /npm run compile/);
  } finally {
    rmSync(empty, { recursive: true });
  }
});

test('device cpu skips the CUDA binary and loads the CPU one', (t) => {
  const e = loadEngine({ device: 'cpu' });
  t.is(e.backend, 'cpu');
  t.is(e.binding.info().build, 'cpu');
  t.deepEqual(e.attempts[0], { binary: 'cuda', outcome: 'skipped', reason: 'GENRM_DEVICE=cpu' });
});

// On a machine without an NVIDIA driver (our CI), the CUDA binary loads, reports
// why it cannot run, and auto falls back to the CPU binary.
const withCudaBinary = cudaBinaryBuilt ? test : test.skip;

withCudaBinary('the CUDA binary loads without a driver and reports why it is unusable', (t) => {
  const e = loadEngine({ device: 'auto' });
  const cuda = e.attempts.find((a) => a.binary === 'cuda');
  t.truthy(cuda);
  if (e.backend === 'cuda') {
    t.is(cuda?.outcome, 'loaded'); // a GPU machine
    return;
  }
  t.is(cuda?.outcome, 'unusable');
  t.regex(cuda?.reason ?? '', /cudaGetDeviceCount failed|no CUDA devices|compute capability/);
  t.is(e.backend, 'cpu');
  const err = t.throws(() => loadEngine({ device: 'cuda' }));
  t.regex(err?.message ?? '', /GENRM_DEVICE=cuda, but the CUDA backend is not usable/);
  t.regex(err?.message ?? '', new RegExp(cuda!.reason!.slice(0, 30).replace(/[()]/g, '.')));
});
