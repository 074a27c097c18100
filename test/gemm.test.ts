import test from 'ava';
import { configure, info, kernels } from '../lib/index.js';
import { random, rng } from './helpers.js';

const isas = info().cpu.supportedIsas;

function naive(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  ta: boolean,
  tb: boolean,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p]! * b[tb ? j * k + p : p * n + j]!;
      c[i * n + j] = s;
    }
  return c;
}

test('gemm matches a plain JS product on random shapes, every path and transpose', (t) => {
  const pick = rng(2024);
  for (let trial = 0; trial < 24; trial++) {
    const m = pick(1, 70),
      n = pick(1, 70),
      k = pick(1, 300);
    const ta = trial % 2 === 1,
      tb = (trial >> 1) % 2 === 1;
    const a = random(m * k, trial + 1),
      b = random(k * n, trial + 101);
    const want = naive(m, n, k, a, b, ta, tb);
    for (const isa of isas) {
      for (const reference of [false, true]) {
        const c = kernels.gemm({ m, n, k, a, b, transA: ta, transB: tb, isa, reference });
        let worst = 0;
        for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(c[i]! - want[i]!));
        t.true(
          worst < 1e-4 * Math.sqrt(k) + 1e-5,
          `m${m} n${n} k${k} ta${ta} tb${tb} ${isa} ref=${reference}: max error ${worst}`,
        );
      }
    }
  }
});

test('gemm applies alpha and beta to the existing C', (t) => {
  const m = 9,
    n = 13,
    k = 5;
  const a = random(m * k, 1),
    b = random(k * n, 2),
    c0 = random(m * n, 3);
  const plain = kernels.gemm({ m, n, k, a, b });
  const c = kernels.gemm({ m, n, k, a, b, c: c0.slice(), alpha: 2, beta: -0.5 });
  for (let i = 0; i < m * n; i++) t.true(Math.abs(c[i]! - (2 * plain[i]! - 0.5 * c0[i]!)) < 1e-5);
});

test('gemm is bitwise identical for 1 and 2 threads', (t) => {
  const m = 300,
    n = 200,
    k = 260;
  const a = random(m * k, 5),
    b = random(k * n, 6);
  const before = info().threads;
  try {
    for (const isa of isas) {
      configure({ threads: 1 });
      const one = kernels.gemm({ m, n, k, a, b, transB: false, isa });
      configure({ threads: 2 });
      const two = kernels.gemm({ m, n, k, a, b, isa });
      t.deepEqual(Buffer.from(one.buffer), Buffer.from(two.buffer), isa);
    }
  } finally {
    configure({ threads: before });
  }
});

test('gemm rejects bad arguments with errors that name the field', (t) => {
  const a = new Float32Array(6),
    b = new Float32Array(12);
  const bad: Array<[object, RegExp]> = [
    [{ m: 2, n: 4, k: 3, a, b, c: new Float32Array(7) }, /c\.length: expected 8, got 7/],
    [{ m: 2, n: 4, k: 3, a: new Float32Array(5), b }, /a\.length: expected 6, got 5/],
    [{ m: 2.5, n: 4, k: 3, a, b }, /m: expected an integer, got 2.5/],
    [{ m: -1, n: 4, k: 3, a, b }, /m: expected an integer in \[0, /],
    [{ m: 2, n: 4, k: 3, a: new Float64Array(6), b }, /a: expected a Float32Array, got a Float64Array/],
    [{ m: 2, n: 4, k: 3, a, b: [1, 2] }, /b: expected a Float32Array, got an array/],
    [{ m: 2, n: 4, k: 3, a, b, isa: 'sse9' }, /isa: expected one of "portable", "avx2", "avx512", got "sse9"/],
    [{ m: 2, n: 4, k: 3, a, b, alpha: 'x' }, /alpha: expected a number, got a string/],
  ];
  for (const [options, message] of bad) {
    const e = t.throws(() => kernels.gemm(options as kernels.GemmOptions));
    t.regex(e?.message ?? '', message);
  }
});

test('gemm refuses an output that overlaps an input', (t) => {
  const buf = new Float32Array(20);
  const a = buf.subarray(0, 6),
    c = buf.subarray(4, 12);
  const e = t.throws(() => kernels.gemm({ m: 2, n: 4, k: 3, a, b: new Float32Array(12), c }));
  t.regex(e?.message ?? '', /c and a: expected separate memory/);
});

test('gemm with beta 0 ignores NaN already in C; with k = 0 it scales C', (t) => {
  const c = new Float32Array(6).fill(Number.NaN);
  kernels.gemm({ m: 2, n: 3, k: 4, a: random(8, 1), b: random(12, 2), c });
  t.true(c.every(Number.isFinite));
  const d = Float32Array.from([1, 2, 3, 4, 5, 6]);
  kernels.gemm({ m: 2, n: 3, k: 0, a: new Float32Array(0), b: new Float32Array(0), c: d, beta: 2 });
  t.deepEqual(Array.from(d), [2, 4, 6, 8, 10, 12]);
});
