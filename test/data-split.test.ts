// splitByGroup and groupHash: golden hash values (computed independently, in
// Python, from the documented algorithm), determinism under reordering, no
// group on both sides, ids standing in for missing groups, the held-out
// fraction over 1000 groups, and option checks.
import test from 'ava';
import { groupHash, splitByGroup } from '../lib/data/index.js';
import { rng } from './helpers.js';

test('groupHash: FNV-1a over seed and UTF-8 bytes, fmix32, / 2^32', (t) => {
  t.is(groupHash(''), 1234692987 / 2 ** 32);
  t.is(groupHash('p0'), 1014727824 / 2 ** 32);
  t.is(groupHash('p0', 1), 3212682947 / 2 ** 32);
  t.is(groupHash('日本', 7), 3308850442 / 2 ** 32);
  t.is(groupHash('task42', -1), 2830876287 / 2 ** 32); // seeds are taken modulo 2^32
  t.is(groupHash('task42', -1), groupHash('task42', 2 ** 32 - 1));
});

interface Item {
  id: string;
  group?: string;
}

/** 1000 groups of 1 to 5 pairs each, interleaved in a scrambled order. */
function items(): Item[] {
  const next = rng(11);
  const out: Item[] = [];
  for (let g = 0; g < 1000; g++) {
    const n = next(1, 5);
    for (let k = 0; k < n; k++) out.push({ id: `g${g}-${k}`, group: `g${g}` });
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = next(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const groupsOf = (xs: readonly Item[]) => new Set(xs.map((x) => x.group ?? x.id));

test('no group is on both sides, and the held-out fraction of groups is as asked', (t) => {
  const all = items();
  const { train, heldOut } = splitByGroup(all, { heldOut: 0.2 });
  t.is(train.length + heldOut.length, all.length);
  const a = groupsOf(train);
  const b = groupsOf(heldOut);
  t.is(a.size + b.size, 1000);
  for (const g of b) t.false(a.has(g), g);
  // Exactly the groups whose hash is below 0.2: 190 of 1000 for seed 0 (Python agrees).
  t.is(b.size, 190);
  t.deepEqual(
    [...b].sort(),
    Array.from({ length: 1000 }, (_, i) => `g${i}`)
      .filter((g) => groupHash(g) < 0.2)
      .sort(),
  );
  // Order is kept on each side.
  const position = new Map(all.map((x, i) => [x, i]));
  for (const side of [train, heldOut]) {
    for (let i = 1; i < side.length; i++) t.true(position.get(side[i - 1]!)! < position.get(side[i]!)!);
  }
  t.is(groupsOf(splitByGroup(all, { heldOut: 0.2, seed: 5 }).heldOut).size, 180);
  const half = groupsOf(splitByGroup(all, { heldOut: 0.5, seed: 3 }).heldOut).size;
  t.true(half > 450 && half < 550, String(half));
});

test('the split is deterministic and independent of order and of the other pairs', (t) => {
  const all = items();
  const ids = (xs: readonly Item[]) => xs.map((x) => x.id).sort();
  const one = splitByGroup(all, { heldOut: 0.3, seed: 9 });
  const again = splitByGroup(all, { heldOut: 0.3, seed: 9 });
  t.deepEqual(again, one);
  const reversed = splitByGroup([...all].reverse(), { heldOut: 0.3, seed: 9 });
  t.deepEqual(ids(reversed.heldOut), ids(one.heldOut));
  // A subset splits the same way.
  const some = all.filter((_, i) => i % 3 === 0);
  const sub = splitByGroup(some, { heldOut: 0.3, seed: 9 });
  const held = new Set(one.heldOut.map((x) => x.id));
  t.deepEqual(ids(sub.heldOut), ids(some.filter((x) => held.has(x.id))));
  // Another seed, another split.
  t.notDeepEqual(ids(splitByGroup(all, { heldOut: 0.3, seed: 10 }).heldOut), ids(one.heldOut));
});

test('pairs without a group are keyed by id', (t) => {
  const pairs: Item[] = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}` }));
  const { heldOut } = splitByGroup(pairs, { heldOut: 0.25, seed: 2 });
  t.deepEqual(
    heldOut.map((p) => p.id),
    pairs.filter((p) => groupHash(p.id, 2) < 0.25).map((p) => p.id),
  );
  t.true(heldOut.length > 0 && heldOut.length < 200);
});

test('options are checked', (t) => {
  for (const heldOut of [0, 1, -0.1, 1.5, NaN]) {
    t.throws(() => splitByGroup([], { heldOut }), {
      instanceOf: RangeError,
      message: `splitByGroup: heldOut: expected a number in (0, 1), got ${heldOut}`,
    });
  }
  t.throws(() => splitByGroup([], { heldOut: 0.1, seed: 0.5 }), {
    instanceOf: RangeError,
    message: 'splitByGroup: seed: expected an integer, got 0.5',
  });
  t.deepEqual(splitByGroup([], { heldOut: 0.1 }), { train: [], heldOut: [] });
});
