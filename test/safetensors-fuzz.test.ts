// Fuzzes the safetensors reader: thousands of deterministic mutants of valid files
// (truncations, byte flips, insertions and deletions, bad length prefixes, shifted
// offsets, duplicated entries, wrong dtypes and shapes, ...). Each must either open
// and read every tensor within the file, or throw a SafetensorsError; any other
// error, or a hang, fails. Mutants are opened in memory; a sample also goes through
// the file path API, which must agree.
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DTYPE_SIZES,
  FLOAT32_READABLE,
  SafetensorsError,
  float32ToBf16,
  openSafetensors,
  openSafetensorsBytes,
  writeSafetensors,
} from '../lib/model/safetensors.js';
import type { SafetensorsReader } from '../lib/model/safetensors.js';
import { rng } from '../lib/util/random.js';
import { random } from './helpers.js';

const MUTANTS = 10_000;
const DISK_EVERY = 50;

/** The library's seeded generator (lib/util/random.ts), with integer and pick helpers. */
function prng(seed: number) {
  const next = rng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

interface Parts {
  length: bigint;
  header: Uint8Array;
  data: Uint8Array;
}

/** The file's parts; a header that claims more than the file holds is cut to what is there. */
function split(file: Uint8Array): Parts {
  if (file.length < 8) return { length: 0n, header: new Uint8Array(0), data: new Uint8Array(0) };
  const length = new DataView(file.buffer, file.byteOffset).getBigUint64(0, true);
  const n = Number(length < BigInt(file.length - 8) ? length : BigInt(file.length - 8));
  return { length, header: file.subarray(8, 8 + n), data: file.subarray(8 + n) };
}

function join3(header: Uint8Array, data: Uint8Array, length: bigint = BigInt(header.length)): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length, true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

const encode = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Re-encodes a header object in its key order, with a matching length prefix.
 * Stacked mutations can leave nothing to edit (a header that is no longer JSON,
 * an entry that is no longer an object): the file is then passed on unchanged.
 */
function withHeader(file: Uint8Array, edit: (h: Record<string, unknown>) => void): Uint8Array {
  try {
    const { header, data } = split(file);
    const h = JSON.parse(decode(header)) as Record<string, unknown>;
    edit(h);
    return join3(encode(JSON.stringify(h)), data);
  } catch {
    return file;
  }
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

const JSON_CHARS = encode('{}[]",:0123456789-.eE tfnul\\');
const VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  1.5,
  2 ** 53,
  1e308,
  -0.5,
  '',
  'F32',
  'x',
  [],
  [0],
  [1, 2],
  [-1, 4],
  [0, 2 ** 53],
  [4, 0],
  [0, 1e20],
  {},
  { a: 1 },
  [[1]],
  ['1', '2'],
  7,
  2 ** 31,
];
const DTYPE_NAMES = [...Object.keys(DTYPE_SIZES), 'F128', 'f32', 'FLOAT', '', null, 4, ['F32']];

function tensorNames(h: Record<string, unknown>): string[] {
  return Object.keys(h).filter((k) => k !== '__metadata__');
}

type Mutator = (file: Uint8Array, r: Rng) => Uint8Array;

const MUTATORS: Record<string, Mutator> = {
  truncate: (f, r) => f.slice(0, r.int(f.length + 1)),
  appendBytes: (f, r) =>
    splice(
      f,
      f.length,
      0,
      new Uint8Array(1 + r.int(16)).map(() => r.int(256)),
    ),
  dropDataBytes: (f, r) => f.slice(0, Math.max(0, f.length - 1 - r.int(8))),
  flipPrefixBit: (f, r) => {
    if (f.length < 8) return f;
    const out = f.slice();
    const i = r.int(8);
    out[i]! ^= 1 << r.int(8);
    return out;
  },
  setLength: (f, r) => {
    if (f.length < 8) return f;
    const { length } = split(f);
    const out = f.slice();
    const choices = [
      0n,
      1n,
      2n,
      7n,
      8n,
      2n ** 31n,
      2n ** 32n + length,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(100 * 1024 * 1024 + 1),
      length + 1n,
      length - 1n,
      length + BigInt(1 + r.int(64)),
      length > 8n ? length - BigInt(1 + r.int(8)) : 0n,
      BigInt(f.length - 8),
      BigInt(f.length),
    ];
    new DataView(out.buffer).setBigUint64(0, r.pick(choices), true);
    return out;
  },
  flipHeaderBits: (f, r) => {
    const out = f.slice();
    const n = split(f).header.length;
    if (n === 0) return f;
    for (let k = 1 + r.int(4); k > 0; k--) out[8 + r.int(n)]! ^= 1 << r.int(8);
    return out;
  },
  setHeaderByte: (f, r) => {
    const n = split(f).header.length;
    if (n === 0) return f;
    const out = f.slice();
    out[8 + r.int(n)] = r.next() < 0.7 ? r.pick(Array.from(JSON_CHARS)) : r.int(256);
    return out;
  },
  insertHeaderBytes: (f, r) => {
    const { header, data, length } = split(f);
    const insert = new Uint8Array(1 + r.int(4)).map(() =>
      r.next() < 0.7 ? r.pick(Array.from(JSON_CHARS)) : r.int(256),
    );
    const h = splice(header, r.int(header.length + 1), 0, insert);
    return join3(h, data, r.next() < 0.5 ? BigInt(h.length) : length);
  },
  deleteHeaderBytes: (f, r) => {
    const { header, data, length } = split(f);
    if (header.length === 0) return f;
    const at = r.int(header.length);
    const h = splice(header, at, Math.min(1 + r.int(4), header.length - at));
    return join3(h, data, r.next() < 0.5 ? BigInt(h.length) : length);
  },
  replaceDigit: (f, r) => {
    const { header, data } = split(f);
    const text = decode(header);
    const digits = [...text.matchAll(/\d/g)].map((m) => m.index);
    if (digits.length === 0) return f;
    const at = r.pick(digits);
    return join3(encode(text.slice(0, at) + String(r.int(10)) + text.slice(at + 1)), data);
  },
  shiftOffsets: (f, r) =>
    withHeader(f, (h) => {
      const names = tensorNames(h);
      if (names.length === 0) return;
      const e = h[r.pick(names)] as { data_offsets: number[] };
      const delta = r.pick([1, -1, 2, -2, 4, -4, 8, -8, 1 + r.int(100), 2 ** 40, -(2 ** 40)]);
      const which = r.int(3);
      e.data_offsets = e.data_offsets.map((o, i) => (which === 2 || which === i ? o + delta : o));
    }),
  swapOffsets: (f, r) =>
    withHeader(f, (h) => {
      const names = tensorNames(h);
      if (names.length < 2) return;
      const a = h[r.pick(names)] as { data_offsets: unknown };
      const b = h[r.pick(names)] as { data_offsets: unknown };
      [a.data_offsets, b.data_offsets] = [b.data_offsets, a.data_offsets];
    }),
  duplicateEntry: (f, r) => {
    const { header, data } = split(f);
    const text = decode(header).trimEnd();
    let h: Record<string, unknown>;
    try {
      h = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return f;
    }
    if (typeof h !== 'object' || h === null) return f;
    const keys = Object.keys(h);
    if (keys.length === 0) return f;
    const key = r.pick(keys);
    // Same name again (a duplicate key), or the same entry under a new name (overlap).
    const name = r.next() < 0.5 ? key : `${key}_copy`;
    const entry = `${JSON.stringify(name)}:${JSON.stringify(h[key])}`;
    const at = r.next() < 0.5 ? 1 : text.length - 1;
    const sep = at === 1 ? `${entry},` : `,${entry}`;
    return join3(encode(text.slice(0, at) + sep + text.slice(at)), data);
  },
  wrongDtype: (f, r) =>
    withHeader(f, (h) => {
      const names = tensorNames(h);
      if (names.length) (h[r.pick(names)] as Record<string, unknown>).dtype = r.pick(DTYPE_NAMES);
    }),
  wrongShape: (f, r) =>
    withHeader(f, (h) => {
      const names = tensorNames(h);
      if (!names.length) return;
      const e = h[r.pick(names)] as { shape: unknown };
      const shape = e.shape as number[];
      e.shape = r.pick<unknown>([
        [],
        [0],
        [...shape, 1],
        [...shape, 2],
        shape.slice(1),
        shape.map((d) => d * 2),
        [-1],
        [1.5],
        ['2'],
        [2 ** 53, 2 ** 53],
        [2 ** 26, 2 ** 26, 2 ** 26, 0],
        [2 ** 40, 2 ** 40],
        shape.map((d) => d + 1),
        3,
        null,
        [[1]],
      ]);
    }),
  setField: (f, r) =>
    withHeader(f, (h) => {
      const names = tensorNames(h);
      if (!names.length) return;
      const e = h[r.pick(names)] as Record<string, unknown>;
      e[r.pick(['dtype', 'shape', 'data_offsets', 'extra'])] = r.pick(VALUES);
    }),
  removeField: (f, r) =>
    withHeader(f, (h) => {
      const names = tensorNames(h);
      if (names.length)
        delete (h[r.pick(names)] as Record<string, unknown>)[r.pick(['dtype', 'shape', 'data_offsets'])];
    }),
  removeEntry: (f, r) =>
    withHeader(f, (h) => {
      const keys = Object.keys(h);
      if (keys.length) delete h[r.pick(keys)];
    }),
  replaceEntry: (f, r) =>
    withHeader(f, (h) => {
      const keys = Object.keys(h);
      if (keys.length) h[r.pick(keys)] = r.pick(VALUES);
    }),
  metadata: (f, r) =>
    withHeader(f, (h) => {
      h.__metadata__ = r.next() < 0.5 ? r.pick(VALUES) : { k: r.pick(VALUES) };
    }),
  headerNotObject: (f, r) => join3(encode(JSON.stringify(r.pick(VALUES))), split(f).data),
  flipDataBits: (f, r) => {
    const out = f.slice();
    const start = 8 + split(f).header.length;
    if (out.length > start) out[start + r.int(out.length - start)]! ^= 1 << r.int(8);
    return out;
  },
  garbage: (_, r) => new Uint8Array(r.int(64)).map(() => r.int(256)),
};

/** Writes the seed files with the real writer. */
async function seeds(dir: string): Promise<Uint8Array[]> {
  const files: Array<Parameters<typeof writeSafetensors>> = [
    [
      join(dir, 'mixed.safetensors'),
      [
        { name: 'w', dtype: 'F32', shape: [3, 4], data: random(12, 1) },
        { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([1]) },
        { name: 'empty', dtype: 'F32', shape: [0, 2], data: new Float32Array(0) },
        { name: 'bf', dtype: 'BF16', shape: [5], data: float32ToBf16(random(5, 2)) },
        { name: 'half', dtype: 'F16', shape: [2, 2], data: new Uint16Array([0x3c00, 0x0001, 0x7c00, 0xfe00]) },
      ],
      { format: 'pt', note: 'seed' },
    ],
    [join(dir, 'single.safetensors'), [{ name: 'h', dtype: 'F16', shape: [7], data: new Uint16Array(7).fill(0x3800) }]],
    [join(dir, 'none.safetensors'), [], { only: 'metadata' }],
    [
      join(dir, 'names.safetensors'),
      [
        { name: '0', dtype: 'BF16', shape: [1, 1], data: new Uint16Array([0x3f80]) },
        { name: 'é "quoted"', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
        { name: 'z', dtype: 'F16', shape: [0], data: new Uint16Array(0) },
      ],
    ],
  ];
  const out: Uint8Array[] = [];
  for (const args of files) {
    await writeSafetensors(...args);
    out.push(new Uint8Array(await readFile(args[0])));
  }
  return out;
}

/** Reads every tensor of an opened mutant and checks what the reader promised. */
async function readAll(r: SafetensorsReader, size: number): Promise<string | undefined> {
  let covered = 0;
  for (const x of r.tensors) {
    if (!(x.begin >= 0 && x.begin <= x.end && r.dataOffset + x.end <= size))
      return `tensor ${x.name} [${x.begin}, ${x.end}] outside a ${size}-byte file`;
    const numel = x.shape.reduce((a, b) => a * b, 1);
    if (numel * DTYPE_SIZES[x.dtype] !== x.end - x.begin) return `tensor ${x.name}: shape and offsets disagree`;
    covered += x.end - x.begin;
    const raw = await r.readRaw(x.name);
    if (raw.length !== x.end - x.begin) return `tensor ${x.name}: readRaw returned ${raw.length} bytes`;
    if (FLOAT32_READABLE.includes(x.dtype) && (await r.readFloat32(x.name)).length !== numel)
      return `tensor ${x.name}: readFloat32 length`;
  }
  if (r.dataOffset + covered !== size)
    return `tensors cover ${covered} bytes of a ${size - r.dataOffset}-byte data section`;
  return undefined;
}

type Outcome = { ok: true } | { ok: false; message: string };

async function attempt(open: () => Promise<SafetensorsReader>, size: number, name: string): Promise<Outcome | string> {
  let r: SafetensorsReader | undefined;
  try {
    r = await open();
    const problem = await readAll(r, size);
    return problem ?? { ok: true };
  } catch (e) {
    if (!(e instanceof SafetensorsError)) return `threw ${(e as Error)?.name}: ${(e as Error)?.message ?? String(e)}`;
    if (!e.message.startsWith(`${name}: `)) return `message does not name the file: ${e.message}`;
    return { ok: false, message: e.message.slice(name.length) };
  } finally {
    await r?.close();
  }
}

test('mutated files open and read within bounds, or throw a SafetensorsError', async (t) => {
  t.timeout(20_000);
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'genrm-fuzz-'));
  try {
    const bases = await seeds(dir);
    const names = Object.keys(MUTATORS);
    const r = prng(20240611);
    const stats = new Map<string, { ok: number; err: number }>(names.map((n) => [n, { ok: 0, err: 0 }]));
    const messages = new Set<string>();
    let onDisk = 0;
    for (let i = 0; i < MUTANTS; i++) {
      const base = r.pick(bases);
      // Mostly one mutation; sometimes two or three stacked.
      const steps = r.next() < 0.8 ? 1 : 2 + r.int(2);
      let bytes = base;
      const applied: string[] = [];
      for (let s = 0; s < steps; s++) {
        const name = i < names.length ? names[i]! : r.pick(names);
        applied.push(name);
        bytes = MUTATORS[name]!(bytes, r);
      }
      const label = `mutant ${i} (${applied.join('+')})`;
      const outcome = await attempt(() => openSafetensorsBytes(bytes, label), bytes.length, label);
      if (typeof outcome === 'string') {
        t.fail(`${label}: ${outcome}`);
        return;
      }
      const s = stats.get(applied[0]!)!;
      if (outcome.ok) s.ok++;
      else {
        s.err++;
        messages.add(
          outcome.message
            .replace(/\d+/g, 'N')
            .replace(/"[^"]*"/g, 'S')
            .slice(0, 60),
        );
      }
      if (i % DISK_EVERY === 0) {
        // The path-based API must reach the same verdict with the same message.
        const path = join(dir, `m${i}.safetensors`);
        await writeFile(path, bytes);
        const viaDisk = await attempt(() => openSafetensors(path), bytes.length, path);
        t.deepEqual(viaDisk, outcome, label);
        onDisk++;
        await rm(path);
      }
    }
    const opened = [...stats.values()].reduce((n, s) => n + s.ok, 0);
    t.log(
      `${MUTANTS} mutants (${onDisk} also from disk): ${opened} opened, ${MUTANTS - opened} rejected with ${messages.size} kinds of message, ` +
        `${Math.round(performance.now() - started)} ms`,
    );
    t.log([...stats].map(([n, s]) => `${n} ${s.ok}/${s.err}`).join(', '));
    // Sanity on the fuzzer itself: each mutator ran, valid mutants exist, and
    // the rejections exercise many different checks.
    for (const [name, s] of stats) t.true(s.ok + s.err > 0, `${name} never ran`);
    t.true(stats.get('flipDataBits')!.ok > 0);
    t.true(stats.get('truncate')!.err > 0);
    t.true(opened > 100 && opened < MUTANTS - 1000);
    t.true(messages.size >= 25, [...messages].join('\n'));
    if (process.env.FUZZ_VERBOSE) t.log([...messages].sort().join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
