import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cliPath } from './helpers.js';

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

test('genrm info --json describes the binary, the CPU and CUDA', (t) => {
  const r = cli(['info', '--json']);
  t.is(r.status, 0, r.stderr);
  const i = JSON.parse(r.stdout);
  t.regex(i.version, /^\d+\.\d+\.\d+/);
  t.true(i.binary.path.endsWith('.node'));
  t.true(['cpu', 'cuda'].includes(i.backend));
  t.true(['portable', 'avx2', 'avx512'].includes(i.cpu.isa));
  t.true(i.threads >= 1);
  t.is(typeof i.cuda.compiled, 'boolean');
  t.is(typeof i.cuda.cublas, 'boolean');
  if (!i.cuda.compiled) t.false(i.cuda.cublas);
  if (!i.cuda.usable) t.is(typeof i.cuda.error, 'string');
});

test('genrm info prints text that names the backend and the loader attempts', (t) => {
  const r = cli(['info'], { GENRM_DEVICE: 'cpu', GENRM_THREADS: '1' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /backend:\s+cpu \(GENRM_DEVICE=cpu\)/);
  t.regex(r.stdout, /threads:\s+1/);
  t.regex(r.stdout, /cuda: skipped/);
});

test('bad settings in the environment are clear errors, not crashes', (t) => {
  const dev = cli(['info'], { GENRM_DEVICE: 'gpu' });
  t.is(dev.status, 1);
  t.regex(dev.stderr, /GENRM_DEVICE: expected one of auto, cpu, cuda, got "gpu"/);
  const thr = cli(['info'], { GENRM_THREADS: 'many' });
  t.is(thr.status, 1);
  t.regex(thr.stderr, /GENRM_THREADS: expected an integer in \[1, 1024\], got "many"/);
  const isa = cli(['info'], { GENRM_ISA: 'sse' });
  t.is(isa.status, 1);
  t.regex(isa.stderr, /GENRM_ISA: expected one of "portable", "avx2", "avx512", got "sse"/);
});

test('GENRM_ISA=portable selects the portable kernels', (t) => {
  const r = cli(['info', '--json'], { GENRM_ISA: 'portable' });
  t.is(r.status, 0, r.stderr);
  t.is(JSON.parse(r.stdout).cpu.isa, 'portable');
});

test('unknown commands and options fail with usage help', (t) => {
  const r = cli(['frobnicate']);
  t.not(r.status, 0);
  t.regex(r.stderr, /unknown command 'frobnicate'/);
  const o = cli(['bench', '--threads', 'zero']);
  t.not(o.status, 0);
  t.regex(o.stderr, /expected a positive integer, got "zero"/);
});

test('genrm bench --quick --json reports GEMM rows with medians and GFLOP/s', (t) => {
  const r = cli(['bench', '--quick', '--json', '--filter', 'gemm']);
  t.is(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  const rows = doc.results.filter((x: { name: string }) => x.name.startsWith('gemm_'));
  t.true(rows.length >= 8);
  for (const row of rows) {
    t.true(row.medianMs > 0);
    t.true(row.gflops > 0);
    t.regex(row.shape, /^[NT][NT] m\d+ n\d+ k\d+$/);
  }
});

test('genrm info names the GEMM a model on the GPU uses', async (t) => {
  const { formatInfo } = await import('../lib/cli/info.js');
  const { info } = await import('../lib/info.js');
  const base = info();
  const device = {
    index: 0,
    name: 'NVIDIA H200',
    computeCapability: '9.0',
    totalMemory: 2 ** 37,
    multiprocessors: 132,
  };
  const cuda = { ...base.cuda, compiled: true, usable: true, devices: [device], error: undefined };
  const saved = process.env.GENRM_CUDA_GEMM;
  try {
    delete process.env.GENRM_CUDA_GEMM;
    t.regex(formatInfo({ ...base, cuda: { ...cuda, cublas: true } }), /^ {10}GEMM: cuBLAS$/m);
    t.regex(
      formatInfo({ ...base, cuda: { ...cuda, cublas: false } }),
      /GEMM: the project's own tensor-core kernel \(no cuBLAS in this binary\)$/m,
    );
    process.env.GENRM_CUDA_GEMM = 'own';
    t.regex(formatInfo({ ...base, cuda: { ...cuda, cublas: true } }), /GEMM: cuBLAS \(GENRM_CUDA_GEMM=own\)$/m);
  } finally {
    if (saved === undefined) delete process.env.GENRM_CUDA_GEMM;
    else process.env.GENRM_CUDA_GEMM = saved;
  }
});
