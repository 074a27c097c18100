// Each engine kernel through the `kernels` namespace: fast paths against their
// references, gradients against central differences, losses against closed forms.
import test from 'ava';
import { info, kernels } from '../lib/index.js';
import { random } from './helpers.js';

const isas = info().cpu.supportedIsas;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return a.length === b.length ? m : Infinity;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Directional derivative of f at x along u by central differences, in float64 arithmetic on float32 data. */
function numericDirectional(x: Float32Array, u: Float32Array, f: () => number, h = 1e-2): number {
  const x0 = x.slice();
  for (let i = 0; i < x.length; i++) x[i] = x0[i]! + h * u[i]!;
  const up = f();
  for (let i = 0; i < x.length; i++) x[i] = x0[i]! - h * u[i]!;
  const down = f();
  x.set(x0);
  return (up - down) / (2 * h);
}

test('table of ops: every CPU path here matches its reference on every check shape', (t) => {
  const table = kernels.ops();
  t.true(table.length >= 10);
  let checked = 0;
  for (const op of table) {
    t.true(op.checks.length > 0 && op.sources.length > 0, op.name);
    for (const path of op.paths) {
      if (path.backend !== 'cpu' || !path.available) continue;
      for (const c of kernels.checkOp({ op: op.name, path: path.name, seed: 7 })) {
        t.true(
          c.ok,
          `${op.name} ${path.name} "${c.shape}" ${c.output}: ${c.worstError} x tolerance (got ${c.got}, want ${c.want})`,
        );
        checked++;
      }
    }
  }
  // Every ISA this CPU has runs at least the products.
  for (const isa of isas)
    t.true(
      table.find((o) => o.name === 'gemm')!.paths.some((p) => p.name === `cpu/${isa}` && p.available),
      isa,
    );
  t.true(checked > 50);
});

test('table of ops: unknown names and paths are refused by name; a prepared op runs', (t) => {
  t.throws(() => kernels.checkOp({ op: 'gemn', path: 'cpu/portable' }), {
    message: /op: expected one of embedding_forward, .*gemm.*, got "gemn"/,
  });
  t.throws(() => kernels.checkOp({ op: 'gemm', path: 'cpu/sse' }), {
    message: /path of gemm: expected one of .*cpu\/portable.*, got "cpu\/sse"/,
  });
  const prepared = kernels.prepareOp({ op: 'rmsnorm_forward', path: 'cpu' });
  prepared.run();
  t.true(prepared.bytes > 0 && prepared.flops === 0);
  t.regex(prepared.shape, /d512/);
});

test('attention: a sequence never sees its neighbours in the pack', (t) => {
  const heads = 2,
    headDim = 8;
  const a = random(5 * heads * headDim, 7),
    b = random(4 * heads * headDim, 8);
  const alone = kernels.attention({ cuSeqlens: Int32Array.of(0, 4), heads, headDim, q: b, k: b, v: b });
  const packed = new Float32Array(9 * heads * headDim);
  packed.set(a);
  packed.set(b, a.length);
  const both = kernels.attention({
    cuSeqlens: Int32Array.of(0, 5, 9),
    heads,
    headDim,
    q: packed,
    k: packed,
    v: packed,
  });
  t.true(maxAbsDiff(both.out.subarray(a.length), alone.out) < 1e-6);
});

test('attention rejects inconsistent shapes with named fields', (t) => {
  const x = new Float32Array(64);
  t.throws(() => kernels.attention({ cuSeqlens: Int32Array.of(0, 3, 2), heads: 2, headDim: 4, q: x, k: x, v: x }), {
    message: /cuSeqlens\[2\]: expected >= cuSeqlens\[1\]/,
  });
  t.throws(
    () => kernels.attention({ cuSeqlens: Int32Array.of(0, 4), heads: 4, kvHeads: 3, headDim: 4, q: x, k: x, v: x }),
    { message: /kvHeads: expected a positive divisor of heads/ },
  );
  t.throws(
    () =>
      kernels.attention({
        cuSeqlens: Int32Array.of(0, 4),
        heads: 2,
        headDim: 4,
        q: x.subarray(0, 32),
        k: x.subarray(0, 32),
        v: new Float32Array(3),
      }),
    { message: /v\.length: expected 32, got 3/ },
  );
});

test('rmsnorm gradients match central differences', (t) => {
  const rows = 3,
    dim = 10;
  const x = random(rows * dim, 1),
    w = random(dim, 2),
    r = random(rows * dim, 3);
  const f = () => dot(kernels.rmsnorm({ x, weight: w, rows, dim, eps: 1e-5 }).y, r);
  const fwd = kernels.rmsnorm({ x, weight: w, rows, dim, eps: 1e-5 });
  const g = kernels.rmsnormBackward({ x, weight: w, rstd: fwd.rstd, dy: r, rows, dim });
  const ux = random(rows * dim, 4),
    uw = random(dim, 5);
  t.true(Math.abs(numericDirectional(x, ux, f, 1e-3) - dot(g.dx, ux)) < 2e-3);
  t.true(Math.abs(numericDirectional(w, uw, f, 1e-3) - dot(g.dweight, uw)) < 2e-3);
});

test('rope: HF rotate-half convention, and the inverse is the transpose', (t) => {
  const heads = 2,
    headDim = 6,
    positions = Int32Array.of(0, 1, 7);
  const x = random(3 * heads * headDim, 9),
    y = random(3 * heads * headDim, 10);
  const rx = kernels.rope({ x, positions, heads, headDim, theta: 100 });
  t.true(
    maxAbsDiff(rx.subarray(0, heads * headDim), x.subarray(0, heads * headDim)) === 0,
    'position 0 is the identity',
  );
  // Token 2, head 1, pair i = 1: angle = 7 * 100^(-2/6).
  const base = (2 * heads + 1) * headDim,
    ang = 7 * Math.pow(100, -2 / 6);
  const x1 = x[base + 1]!,
    x2 = x[base + 4]!;
  t.true(Math.abs(rx[base + 1]! - (x1 * Math.cos(ang) - x2 * Math.sin(ang))) < 1e-5);
  t.true(Math.abs(rx[base + 4]! - (x2 * Math.cos(ang) + x1 * Math.sin(ang))) < 1e-5);
  const ry = kernels.rope({ x: y, positions, heads, headDim, theta: 100, inverse: true });
  t.true(Math.abs(dot(rx, y) - dot(x, ry)) < 1e-4);
});

test('swiglu and embedding gradients match central differences', (t) => {
  const gate = random(50, 1),
    up = random(50, 2),
    r = random(50, 3);
  const f = () => dot(kernels.swiglu({ gate, up }), r);
  const g = kernels.swigluBackward({ gate, up, dout: r });
  const u1 = random(50, 4),
    u2 = random(50, 5);
  t.true(Math.abs(numericDirectional(gate, u1, f, 1e-3) - dot(g.dgate, u1)) < 1e-3);
  t.true(Math.abs(numericDirectional(up, u2, f, 1e-3) - dot(g.dup, u2)) < 1e-3);
  const ids = Int32Array.of(3, 0, 3, 2),
    vocab = 5,
    dim = 4;
  const dout = random(ids.length * dim, 6);
  const dtable = kernels.embeddingBackward({ ids, dout, vocab, dim });
  for (let j = 0; j < dim; j++) t.true(Math.abs(dtable[3 * dim + j]! - (dout[j]! + dout[2 * dim + j]!)) < 1e-6);
  t.is(dtable[4 * dim], 0);
  t.throws(() => kernels.embedding({ table: new Float32Array(20), ids: Int32Array.of(5), vocab, dim }), {
    message: /ids\[0\]: expected a token id in \[0, 5\), got 5/,
  });
});

test('fused log-prob matches the reference across chunk boundaries, and its gradients', (t) => {
  const rows = 37,
    dim = 8,
    vocab = 300000; // > 1 chunk of rows (at least 32 rows per chunk)
  const hidden = random(rows * dim, 1),
    weight = random(vocab * dim, 2);
  const targets = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % vocab);
  const ref = kernels.logprob({ hidden, weight, targets, rows, dim, vocab, reference: true });
  for (const isa of isas)
    t.true(maxAbsDiff(kernels.logprob({ hidden, weight, targets, rows, dim, vocab, isa }), ref) < 1e-3, isa);
  // Gradient check on a small vocabulary.
  const v2 = 11,
    h2 = random(4 * dim, 3),
    w2 = random(v2 * dim, 4),
    t2 = Int32Array.of(1, 10, 0, 5),
    g = random(4, 5);
  const f = () => dot(kernels.logprob({ hidden: h2, weight: w2, targets: t2, rows: 4, dim, vocab: v2 }), g);
  const back = kernels.logprobBackward({ hidden: h2, weight: w2, targets: t2, rows: 4, dim, vocab: v2, dlogp: g });
  const uh = random(h2.length, 6),
    uw = random(w2.length, 7);
  t.true(Math.abs(numericDirectional(h2, uh, f, 1e-3) - dot(back.dhidden, uh)) < 2e-3);
  t.true(Math.abs(numericDirectional(w2, uw, f, 1e-3) - dot(back.dweight, uw)) < 2e-3);
});

const logSigmoid = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

test('DPO losses equal their closed forms, and stay finite at margins of 1e4', (t) => {
  const beta = 0.3,
    eps = 0.15;
  for (const h of [-1e4, -3, 0, 0.7, 1e4]) {
    // One pair (0 chosen, 1 rejected); reference log-probs zero: h = pi_c - pi_r.
    const policyLogps = Float32Array.of(h / 2, -h / 2),
      refLogps = Float32Array.of(0, 0),
      pairs = Int32Array.of(0, 1);
    const z = beta * h;
    const cases: Array<['sigmoid' | 'robust' | 'hinge' | 'ipo', number, number]> = [
      [
        'sigmoid',
        -(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z),
        beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z)),
      ],
      [
        'robust',
        (-(1 - eps) * logSigmoid(z) + eps * logSigmoid(-z)) / (1 - 2 * eps),
        (beta * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z))) / (1 - 2 * eps),
      ],
      ['hinge', Math.max(0, 1 - z), z < 1 ? -beta : 0],
    ];
    for (const [lossType, loss, dh] of cases) {
      const r = kernels.dpoLoss({ policyLogps, refLogps, pairs, beta, labelSmoothing: eps, lossType });
      t.true(
        Number.isFinite(r.loss) && Math.abs(r.loss - loss) <= 1e-6 * Math.max(1, Math.abs(loss)),
        `${lossType} h=${h}: ${r.loss} vs ${loss}`,
      );
      t.true(Math.abs(r.dlogps[0]! - dh) < 1e-6 && Math.abs(r.dlogps[1]! + dh) < 1e-6, `${lossType} h=${h} gradient`);
    }
    const rs = kernels.dpoLoss({ policyLogps, refLogps, pairs, beta });
    t.is(rs['rewards/accuracies'], h > 0 ? 1 : 0);
    t.true(Math.abs(rs['rewards/margins']! - beta * h) <= 1e-6 * Math.max(1, Math.abs(beta * h)));
  }
  // IPO normalises by target length: h = 6/3 - (-4)/2 = 4.
  const ipo = kernels.dpoLoss({
    policyLogps: Float32Array.of(6, -4),
    refLogps: Float32Array.of(0, 0),
    counts: Float32Array.of(3, 2),
    pairs: Int32Array.of(0, 1),
    beta: 0.25,
    lossType: 'ipo',
  });
  t.true(Math.abs(ipo.loss - (4 - 2) ** 2) < 1e-9);
});

test('Bradley-Terry loss equals its closed form with margins and centering, finite at 1e4', (t) => {
  for (const gap of [-1e4, -1, 0, 2.5, 1e4]) {
    const rewards = Float32Array.of(gap, 0, 1),
      pairs = Int32Array.of(0, 1, 2, 1),
      margins = Float32Array.of(0.5, -0.25),
      c = 0.01;
    const x0 = gap - 0 - 0.5,
      x1 = 1 - 0 + 0.25;
    const loss = (-logSigmoid(x0) - logSigmoid(x1)) / 2 + (c * ((gap + 0) ** 2 + (1 + 0) ** 2)) / 2;
    const r = kernels.btLoss({ rewards, pairs, margins, centerRewardsCoefficient: c });
    t.true(Math.abs(r.loss - loss) <= 1e-6 * Math.max(1, Math.abs(loss)), `gap ${gap}: ${r.loss} vs ${loss}`);
    const d0 = -sigmoid(-x0) / 2 + c * gap;
    t.true(Math.abs(r.drewards[0]! - d0) <= 1e-5 * Math.max(1, Math.abs(d0)));
  }
  t.throws(() => kernels.btLoss({ rewards: Float32Array.of(1, Number.NaN), pairs: Int32Array.of(0, 1) }), {
    message: /rewards\[1\]: expected a finite number, got nan/i,
  });
  t.throws(() => kernels.btLoss({ rewards: Float32Array.of(1, 2), pairs: Int32Array.of(0, 2) }), {
    message: /pairs\[1\]: expected a sequence index in \[0, 2\), got 2/,
  });
});

test('AdamW step equals the torch formula with bias correction and decoupled decay', (t) => {
  const params = Float32Array.of(0.5, -1, 2),
    grads = Float32Array.of(0.1, -0.2, 0),
    m = new Float32Array(3),
    v = new Float32Array(3);
  const lr = 0.01,
    b1 = 0.9,
    b2 = 0.95,
    eps = 1e-8,
    wd = 0.1;
  const expected = Array.from(params, (p, i) => {
    const g = grads[i]!;
    const mh = ((1 - b1) * g) / (1 - b1),
      vh = ((1 - b2) * g * g) / (1 - b2);
    return p * (1 - lr * wd) - (lr * mh) / (Math.sqrt(vh) + eps);
  });
  kernels.adamw({ params, grads, m, v, step: 1, lr, beta1: b1, beta2: b2, eps, weightDecay: wd });
  t.true(maxAbsDiff(params, expected) < 1e-6);
});
