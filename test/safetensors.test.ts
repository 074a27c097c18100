// The safetensors reader and writer: round trips, conversions against values
// computed by hand, every validation error, range reads, and the atomic writer.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  SafetensorsError,
  bf16ToFloat32,
  f16ToFloat32,
  float32ToBf16,
  openSafetensors,
  openSafetensorsBytes,
  writeSafetensors,
} from '../lib/model/safetensors.js';
import type { SafetensorsWriteTensor } from '../lib/model/safetensors.js';
import { writeFileAtomic } from '../lib/util/atomic-write.js';
import { parameterShapes, readConfig } from '../lib/model/config.js';
import { packageRoot } from '../lib/package-root.js';
import { random } from './helpers.js';

let dir = '';
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'genrm-safetensors-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
const tmp = (name = 'f.safetensors') => join(dir, `${counter++}-${name}`);

const f16 = (...h: number[]) => f16ToFloat32(new Uint16Array(h));
const toBf16 = (...b: number[]) => Array.from(float32ToBf16(new Float32Array(new Uint32Array(b).buffer)));

/** A file from a header given as text or an object, with `data` bytes (a count means zeros). */
function build(header: string | object, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

async function writeBytes(bytes: Uint8Array, name?: string): Promise<string> {
  const path = tmp(name);
  await writeFile(path, bytes);
  return path;
}

/** Opens `bytes` from disk and expects a SafetensorsError matching `message`. */
async function rejects(
  t: ExecutionContext,
  bytes: Uint8Array,
  message: RegExp,
  where: { tensor?: string; field?: string } = {},
  options = {},
) {
  const path = await writeBytes(bytes);
  const e = await t.throwsAsync(openSafetensors(path, options), { instanceOf: SafetensorsError, message });
  t.true(e?.message.startsWith(`${path}: `), e?.message);
  t.is(e?.file, path);
  if ('tensor' in where) t.is(e?.tensor, where.tensor);
  if ('field' in where) t.is(e?.field, where.field);
  return e;
}

const a4 = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };

test('round trip: F32, BF16 and F16, scalars and empty tensors, metadata, in the given order', async (t) => {
  const w = random(12, 1);
  const bf = float32ToBf16(random(6, 2));
  const half = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x7e00, 0x8000]);
  const tensors: SafetensorsWriteTensor[] = [
    { name: 'w', dtype: 'F32', shape: [3, 4], data: w },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([2.5]) },
    { name: 'empty', dtype: 'F32', shape: [2, 0, 3], data: new Float32Array(0) },
    { name: 'bf', dtype: 'BF16', shape: [2, 3], data: bf },
    { name: 'half', dtype: 'F16', shape: [6], data: half },
    { name: 'empty16', dtype: 'BF16', shape: [0], data: new Uint16Array(0) },
    { name: 'odd', dtype: 'F16', shape: [1], data: new Uint16Array([0x3555]) },
    { name: 'last', dtype: 'F32', shape: [1, 1], data: new Float32Array([-1]) },
  ];
  const path = tmp();
  await writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcödé "quoted"' });
  const r = await openSafetensors(path);
  t.deepEqual(r.metadata, { format: 'pt', note: 'ünïcödé "quoted"' });
  t.deepEqual(
    r.tensors.map((x) => x.name),
    tensors.map((x) => x.name),
  );
  t.deepEqual(
    r.tensors.map((x) => [x.begin, x.end]),
    [
      [0, 48],
      [48, 52],
      [52, 52],
      [52, 64],
      [64, 76],
      [76, 76],
      [76, 78],
      [78, 82],
    ],
  );
  t.is(r.dataOffset % 8, 0);
  t.is(r.size, r.dataOffset + 82);
  t.deepEqual(r.get('w'), { name: 'w', dtype: 'F32', shape: [3, 4], begin: 0, end: 48 });
  t.is(r.get('__metadata__'), undefined);
  t.deepEqual(await r.readFloat32('w'), w);
  t.deepEqual(await r.readFloat32('scalar'), new Float32Array([2.5]));
  t.deepEqual(await r.readFloat32('empty'), new Float32Array(0));
  t.deepEqual(await r.readFloat32('bf'), bf16ToFloat32(bf));
  t.deepEqual(Array.from(await r.readFloat32('half')), [1, -2, 2 ** -24, Infinity, NaN, -0]);
  t.deepEqual(await r.readFloat32('empty16'), new Float32Array(0));
  t.deepEqual(await r.readFloat32('odd'), new Float32Array([0.333251953125]));
  t.deepEqual(await r.readRaw('bf'), new Uint8Array(bf.buffer));
  t.deepEqual(await r.readRaw('half'), new Uint8Array(half.buffer));
  t.deepEqual(await r.readRaw('empty'), new Uint8Array(0));
  await r.close();
  await r.close();
  await t.throwsAsync(r.readFloat32('w'), {
    instanceOf: SafetensorsError,
    message: /tensor "w": the reader is closed/,
  });
});

test('the header is padded with spaces so the data starts 8-byte aligned, and needs no other padding', async (t) => {
  for (let n = 1; n <= 9; n++) {
    const path = tmp();
    await writeSafetensors(path, [{ name: 'x'.repeat(n), dtype: 'F32', shape: [1], data: new Float32Array([n]) }]);
    const bytes = await readFile(path);
    const len = Number(bytes.readBigUInt64LE(0));
    t.is((8 + len) % 8, 0);
    const text = bytes.subarray(8, 8 + len).toString('utf8');
    t.regex(text, /^\{.*\} *$/);
    t.true(text.trimEnd().length > len - 8);
    const r = await openSafetensors(path);
    t.deepEqual(await r.readFloat32('x'.repeat(n)), new Float32Array([n]));
    await r.close();
  }
});

test('no tensors at all, with or without metadata', async (t) => {
  for (const meta of [undefined, { a: 'b' }]) {
    const path = tmp();
    await writeSafetensors(path, [], meta);
    const r = await openSafetensors(path);
    t.deepEqual(r.tensors, []);
    t.deepEqual(r.metadata, meta ?? {});
    t.is(r.size, r.dataOffset);
    await r.close();
  }
});

test('tensors are listed in data order; header order breaks ties; integer-like names keep their place', async (t) => {
  // Header order differs from data order, as files from other writers may.
  const header =
    '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"10":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},' +
    '"2":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}';
  const data = new Uint8Array(new Float32Array([1, 2]).buffer);
  const r = await openSafetensors(await writeBytes(build(header, data)));
  t.deepEqual(
    r.tensors.map((x) => x.name),
    ['2', '10', 'z', 'b'],
  );
  t.deepEqual(await r.readFloat32('b'), new Float32Array([2]));
  await r.close();

  const path = tmp();
  await writeSafetensors(
    path,
    ['z', '10', '2', 'a'].map((name) => ({
      name,
      dtype: 'F32' as const,
      shape: [],
      data: new Float32Array([name.length]),
    })),
  );
  const w = await openSafetensors(path);
  t.deepEqual(
    w.tensors.map((x) => x.name),
    ['z', '10', '2', 'a'],
  );
  await w.close();
});

test('raw Uint8Array data for any write dtype; readRaw returns other dtypes as stored', async (t) => {
  const path = tmp();
  const bf = new Uint8Array([0x80, 0x3f, 0x00, 0xc0]); // bf16 1, -2 little-endian
  await writeSafetensors(path, [
    { name: 'bf', dtype: 'BF16', shape: [2], data: bf },
    { name: 'f', dtype: 'F32', shape: [1], data: new Uint8Array(new Float32Array([7]).buffer) },
  ]);
  const r = await openSafetensors(path);
  t.deepEqual(Array.from(await r.readFloat32('bf')), [1, -2]);
  t.deepEqual(Array.from(await r.readFloat32('f')), [7]);
  await r.close();

  const ints = new Uint8Array(new Int32Array([1, -1, 5]).buffer);
  const f64 = new Uint8Array(new Float64Array([0.1, 1e300, -3]).buffer);
  const header = {
    __metadata__: null,
    i: { dtype: 'I32', shape: [3], data_offsets: [0, 12] },
    d: { dtype: 'F64', shape: [3], data_offsets: [12, 36] },
    e: { dtype: 'F8_E4M3', shape: [2], data_offsets: [36, 38] },
  };
  const body = new Uint8Array(38);
  body.set(ints, 0);
  body.set(f64, 12);
  body.set([0x38, 0xb8], 36);
  const other = await openSafetensors(await writeBytes(build(header, body)));
  t.deepEqual(other.metadata, {});
  t.deepEqual(new Int32Array((await other.readRaw('i')).buffer), new Int32Array([1, -1, 5]));
  t.deepEqual(await other.readFloat32('d'), new Float32Array([0.1, Infinity, -3]));
  t.deepEqual(await other.readRaw('e'), new Uint8Array([0x38, 0xb8]));
  await t.throwsAsync(other.readFloat32('i'), {
    instanceOf: SafetensorsError,
    message: /tensor "i": dtype: readFloat32 supports F32, F16, BF16, F64, got I32; use readRaw/,
  });
  await t.throwsAsync(other.readFloat32('e'), { instanceOf: SafetensorsError, message: /got F8_E4M3/ });
  await t.throwsAsync(other.readRaw('nope'), {
    instanceOf: SafetensorsError,
    message: /tensor "nope": no such tensor \(the file has 3\)/,
  });
  await other.close();
});

test('float32ToBf16 rounds to nearest, ties to even, and keeps NaN a NaN', (t) => {
  t.deepEqual(toBf16(0x3f800000), [0x3f80]); // 1
  t.deepEqual(toBf16(0x3f808000), [0x3f80]); // halfway, 0x3f80 is even: down
  t.deepEqual(toBf16(0x3f818000), [0x3f82]); // halfway, 0x3f81 is odd: up
  t.deepEqual(toBf16(0x3f808001), [0x3f81]); // just above halfway: up
  t.deepEqual(toBf16(0x3f807fff), [0x3f80]); // just below: down
  t.deepEqual(toBf16(0xbf818000), [0xbf82]); // negative ties likewise
  t.deepEqual(toBf16(0x80000000, 0x00000000), [0x8000, 0x0000]); // signed zeros
  t.deepEqual(toBf16(0x7f800000, 0xff800000), [0x7f80, 0xff80]); // infinities
  t.deepEqual(toBf16(0x7f7fffff), [0x7f80]); // FLT_MAX overflows to infinity
  t.deepEqual(toBf16(0x7f7f7fff), [0x7f7f]);
  t.deepEqual(toBf16(0x00008000, 0x00018000, 0x00000001), [0x0000, 0x0002, 0x0000]); // subnormals
  // NaNs whose payload lies only in the low half must not truncate to infinity.
  t.deepEqual(toBf16(0x7f800001, 0xff800001, 0x7fc00000, 0x7fffffff), [0x7fc0, 0xffc0, 0x7fc0, 0x7fff]);
  // Through values: 1 + 2^-7 is exactly representable; pi rounds to 0x4049.
  t.deepEqual(Array.from(float32ToBf16(new Float32Array([1 + 2 ** -7, Math.PI, -65504]))), [0x3f81, 0x4049, 0xc780]);
  // A view at an offset converts just its elements.
  const big = new Float32Array([9, 1, 2, 9]);
  t.deepEqual(Array.from(float32ToBf16(big.subarray(1, 3))), [0x3f80, 0x4000]);
});

test('bf16ToFloat32 is exact, NaN payloads included', (t) => {
  const out = bf16ToFloat32(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0001, 0x8000, 0x7fc1, 0x4049]));
  t.deepEqual(Array.from(out.subarray(0, 6)), [1, -2, Infinity, -Infinity, 2 ** -133, -0]);
  t.true(Object.is(out[5], -0));
  t.is(new Uint32Array(out.buffer)[6], 0x7fc10000);
  t.is(out[7], 3.140625);
  // Widening then rounding back is the identity on every bit pattern.
  const all = new Uint16Array(65536).map((_, i) => i);
  t.deepEqual(
    float32ToBf16(bf16ToFloat32(all)).filter((v, i) => v !== all[i] && (i & 0x7f80) !== 0x7f80),
    new Uint16Array(0),
  );
});

test('f16ToFloat32: normals, subnormals, signed zeros, infinities and NaN', (t) => {
  t.deepEqual(
    Array.from(f16(0x3c00, 0xc000, 0x7bff, 0xfbff, 0x3555, 0x3800, 0x4248)),
    [1, -2, 65504, -65504, 0.333251953125, 0.5, 3.140625],
  );
  // Subnormals are mant * 2^-24; 0x0400 is the smallest normal, 2^-14.
  t.deepEqual(Array.from(f16(0x0001, 0x8001, 0x0002, 0x03ff, 0x0400, 0x0200)), [
    2 ** -24,
    -(2 ** -24),
    2 ** -23,
    1023 * 2 ** -24,
    2 ** -14,
    2 ** -15,
  ]);
  const zeros = f16(0x0000, 0x8000);
  t.true(Object.is(zeros[0], 0));
  t.true(Object.is(zeros[1], -0));
  t.deepEqual(Array.from(f16(0x7c00, 0xfc00)), [Infinity, -Infinity]);
  const nans = f16(0x7e00, 0xfe00, 0x7c01, 0x7fff);
  t.true(Array.from(nans).every(Number.isNaN));
  t.deepEqual(Array.from(new Uint32Array(nans.buffer)), [0x7fc00000, 0xffc00000, 0x7f802000, 0x7fffe000]);
  // Independent check over every finite positive half: strictly increasing, with the
  // step 2^-24 through the subnormals and the first binade, doubling each binade after.
  const all = f16ToFloat32(new Uint16Array(0x7c00).map((_, i) => i));
  for (let h = 1; h < 0x7c00; h++) {
    const step = 2 ** (Math.max((h - 1) >> 10, 1) - 25);
    if (all[h]! - all[h - 1]! !== step) {
      t.fail(`f16 0x${h.toString(16)}: step ${all[h]! - all[h - 1]!}, expected ${step}`);
      return;
    }
  }
  // And the negative halves mirror the positive ones.
  const neg = f16ToFloat32(new Uint16Array(0x7c00).map((_, i) => i | 0x8000));
  t.true(neg.every((v, i) => Object.is(v, -all[i]!)));
});

test('a tensor is read by its byte range alone, when it is asked for', async (t) => {
  const a = random(256, 3);
  const b = random(256, 4);
  const path = tmp();
  await writeSafetensors(path, [
    { name: 'a', dtype: 'F32', shape: [256], data: a },
    { name: 'b', dtype: 'F32', shape: [16, 16], data: b },
  ]);
  const r = await openSafetensors(path);
  // Overwrite a's bytes after opening: b still reads correctly, and a reads what is on disk now.
  const h = await open(path, 'r+');
  await h.write(new Uint8Array(1024).fill(0x40), 0, 1024, r.dataOffset);
  await h.close();
  t.deepEqual(await r.readFloat32('b'), b);
  t.true((await r.readFloat32('a')).every((v) => v === 3.0039215087890625));
  // A file cut short after opening is an error naming the tensor, not short data.
  await truncate(path, r.dataOffset + 1500);
  await t.throwsAsync(r.readFloat32('b'), {
    instanceOf: SafetensorsError,
    message: /file ended at byte \d+ while reading tensor "b"/,
  });
  t.deepEqual((await r.readFloat32('a')).length, 256);
  await r.close();
});

test('opening reads only the header: a 5 GiB (sparse) file opens at once; its last tensor reads alone', async (t) => {
  const huge = 5 * 2 ** 30; // more than Node 20's largest Buffer
  const header = JSON.stringify({
    big: { dtype: 'BF16', shape: [huge / 2], data_offsets: [0, huge] },
    tail: { dtype: 'F32', shape: [2], data_offsets: [huge, huge + 8] },
  });
  const head = build(header);
  const path = tmp();
  await writeFile(path, head);
  await truncate(path, head.length + huge + 8);
  const h = await open(path, 'r+');
  await h.write(new Uint8Array(new Float32Array([1.5, -2]).buffer), 0, 8, head.length + huge);
  await h.close();
  const started = performance.now();
  const r = await openSafetensors(path);
  t.true(performance.now() - started < 2000);
  t.is(r.size, head.length + huge + 8);
  t.deepEqual(await r.readFloat32('tail'), new Float32Array([1.5, -2]));
  await t.throwsAsync(r.readRaw('big'), {
    instanceOf: SafetensorsError,
    message: /tensor "big": reading it needs 5368709120 bytes, more than the \d+ one array can hold/,
  });
  await t.throwsAsync(r.readFloat32('big'), {
    instanceOf: SafetensorsError,
    message: /converting it to float32 needs 10737418240 bytes/,
  });
  await r.close();
  await rm(path);
});

test('validation: the length prefix', async (t) => {
  await rejects(t, new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length prefix/);
  await rejects(t, new Uint8Array(0), /file is 0 bytes/);
  await rejects(t, build('', 4), /header length: expected a positive header length, got 0/, { field: 'header length' });
  await rejects(
    t,
    build('{}', 0, 2n ** 40n),
    /header length: expected at most 104857600 bytes \(maxHeaderBytes\), got 1099511627776/,
  );
  await rejects(t, build('{}', 0, 2n ** 64n - 1n), /got 18446744073709551615/);
  await rejects(
    t,
    build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4),
    /expected at most 16 bytes \(maxHeaderBytes\), got \d+/,
    {},
    { maxHeaderBytes: 16 },
  );
  await rejects(t, build('{}', 0, 3n), /header length: header of 3 bytes runs past the end of the 10-byte file/);
  await t.throwsAsync(openSafetensors(await writeBytes(build('{}')), { maxHeaderBytes: 0 }), {
    message: /maxHeaderBytes: expected a positive integer, got 0/,
  });
});

test('validation: the header text', async (t) => {
  const invalidUtf8 = build('{"a"}');
  invalidUtf8[10] = 0xff;
  await rejects(t, invalidUtf8, /header: expected UTF-8 text, found invalid UTF-8/, { field: 'header' });
  await rejects(t, build('{"a":'), /header: expected JSON, got invalid JSON/);
  await rejects(t, build('\uFEFF{}'), /header: expected JSON, got invalid JSON/);
  await rejects(t, build('[1,2]'), /header: expected a JSON object, got \[1,2\]/);
  await rejects(t, build('null'), /header: expected a JSON object, got null/);
  await rejects(t, build('"x"'), /header: expected a JSON object, got "x"/);
  await rejects(
    t,
    build(`{"a":${JSON.stringify(a4)},"a":${JSON.stringify(a4)}}`, 4),
    /tensor "a": appears more than once in the header/,
    { tensor: 'a' },
  );
  await rejects(
    t,
    build('{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4),
    /tensor "a": duplicate key "dtype" in the header/,
    { tensor: 'a' },
  );
  await rejects(t, build('{"__metadata__":{"k":"1","\\u006b":"2"}}'), /duplicate key "k"/);
  // Leading and trailing whitespace (the reference writer pads with spaces) is fine.
  const r = await openSafetensors(await writeBytes(build(` \n{"a":${JSON.stringify(a4)}}   `, 4)));
  t.deepEqual(
    r.tensors.map((x) => x.name),
    ['a'],
  );
  await r.close();
});

test('validation: each entry', async (t) => {
  const one = (entry: unknown, data = 4) => build({ a: entry }, data);
  await rejects(t, one(3), /tensor "a": expected an object with dtype, shape and data_offsets, got 3/, {
    tensor: 'a',
    field: undefined,
  });
  await rejects(t, one([a4]), /tensor "a": expected an object/);
  await rejects(
    t,
    one({ ...a4, dtype: 'F128' }),
    /tensor "a": dtype: expected one of BOOL, U8, I8, F8_E4M3, F8_E5M2, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64, got "F128"/,
    { tensor: 'a', field: 'dtype' },
  );
  await rejects(t, one({ ...a4, dtype: 'f32' }), /dtype: expected one of .*, got "f32"/);
  await rejects(t, one({ ...a4, dtype: 'toString' }), /dtype: expected one of .*, got "toString"/);
  await rejects(
    t,
    one({ shape: [1], data_offsets: [0, 4] }),
    /tensor "a": dtype: expected one of .*, got nothing \(the field is missing\)/,
  );
  await rejects(t, one({ ...a4, shape: 1 }), /tensor "a": shape: expected an array of non-negative integers, got 1/, {
    field: 'shape',
  });
  await rejects(t, one({ ...a4, shape: [-1] }), /shape: expected an array of non-negative integers, got \[-1\]/);
  await rejects(t, one({ ...a4, shape: [1.5] }), /got \[1.5\]/);
  await rejects(t, one({ ...a4, shape: ['1'] }), /got \["1"\]/);
  await rejects(t, one({ ...a4, shape: [2 ** 53] }), /got \[9007199254740992\]/);
  await rejects(
    t,
    one({ dtype: 'F32', shape: [1] }),
    /tensor "a": data_offsets: expected \[begin, end\], two non-negative integers, got nothing/,
    { field: 'data_offsets' },
  );
  await rejects(
    t,
    one({ ...a4, data_offsets: [0, 4, 8] }),
    /data_offsets: expected \[begin, end\], two non-negative integers, got \[0,4,8\]/,
  );
  await rejects(t, one({ ...a4, data_offsets: [-4, 0] }), /got \[-4,0\]/);
  await rejects(t, one({ ...a4, data_offsets: [0, 4.5] }), /got \[0,4.5\]/);
  await rejects(
    t,
    one({ ...a4, data_offsets: [4, 0] }),
    /tensor "a": data_offsets: expected begin <= end, got \[4, 0\]/,
  );
  await rejects(
    t,
    one({ ...a4, shape: [2] }),
    /tensor "a": data_offsets: expected 8 bytes \(shape \[2\], 2 elements of 4 bytes for F32\), got 4 \(\[0, 4\]\)/,
  );
  await rejects(
    t,
    one({ ...a4, dtype: 'BF16' }),
    /expected 2 bytes \(shape \[1\], 1 elements of 2 bytes for BF16\), got 4/,
  );
  // A product past 2^53 would alias a small number in floating point.
  await rejects(t, one({ ...a4, shape: [2 ** 32, 2 ** 32, 1, 2 ** 30] }), new RegExp(`expected ${2n ** 96n} bytes`));
  await rejects(t, one({ ...a4, shape: [0, 2 ** 52] }), /expected 0 bytes/);
  await rejects(
    t,
    one({ ...a4, shape: [2], data_offsets: [0, 8] }),
    /tensor "a": data_offsets: \[0, 8\] runs past the end of the data section, which holds 4 bytes/,
  );
  // Unknown extra fields in an entry are ignored, as the reference does.
  const r = await openSafetensors(await writeBytes(one({ ...a4, note: 'x' })));
  t.is(r.tensors.length, 1);
  await r.close();
});

test('validation: the tensors must tile the data section', async (t) => {
  const f = (begin: number, n = 1) => ({ dtype: 'F32', shape: [n], data_offsets: [begin, begin + 4 * n] });
  await rejects(
    t,
    build({ a: f(0, 2), b: f(4) }, 12),
    /tensor "b": data_offsets: \[4, 8\] overlaps tensor "a" at \[0, 8\]; expected it to start at 8/,
    { tensor: 'b', field: 'data_offsets' },
  );
  await rejects(t, build({ a: f(0), b: f(0) }, 8), /tensor "b": .*overlaps tensor "a" at \[0, 4\]/);
  await rejects(
    t,
    build({ a: f(0), b: f(8) }, 12),
    /tensor "b": data_offsets: \[8, 12\] leaves a hole: expected it to start at 4, where tensor "a" ends, got 8/,
  );
  await rejects(
    t,
    build({ a: f(4) }, 8),
    /tensor "a": .*leaves a hole: expected it to start at 0, the start of the data section, got 4/,
  );
  // A file longer than its tensors: the reference implementation rejects it.
  await rejects(
    t,
    build({ a: f(0), b: f(4) }, 9),
    /tensor "b": data_offsets: expected the tensors to end at the end of the file \(data section of 9 bytes\), but they end at 8: 1 trailing bytes belong to no tensor/,
  );
  await rejects(
    t,
    build({}, 3),
    /data_offsets: expected the tensors to end at the end of the file \(data section of 3 bytes\), but they end at 0/,
    { tensor: undefined },
  );
  // Empty tensors may sit anywhere in the tiling, including at the very end.
  const ok = await openSafetensors(
    await writeBytes(
      build(
        {
          e: { dtype: 'F16', shape: [0], data_offsets: [8, 8] },
          a: f(0),
          b: f(4),
          z: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
        },
        8,
      ),
    ),
  );
  t.deepEqual(
    ok.tensors.map((x) => x.name),
    ['a', 'z', 'b', 'e'],
  );
  await ok.close();
});

test('validation: __metadata__', async (t) => {
  await rejects(t, build({ __metadata__: 'x' }), /__metadata__: expected an object of strings, got "x"/, {
    field: '__metadata__',
  });
  await rejects(t, build({ __metadata__: ['x'] }), /__metadata__: expected an object of strings/);
  await rejects(t, build({ __metadata__: { a: 1 } }), /__metadata__.a: expected a string, got 1/, {
    field: '__metadata__.a',
  });
  const r = await openSafetensors(
    await writeBytes(build('{"__metadata__":{"__proto__":"x","b":""},"a":' + JSON.stringify(a4) + '}', 4)),
  );
  t.deepEqual(Object.keys(r.metadata), ['__proto__', 'b']);
  t.is(Object.getPrototypeOf(r.metadata), Object.prototype);
  t.deepEqual(
    r.tensors.map((x) => x.name),
    ['a'],
  );
  await r.close();
});

test('opening something that is not a safetensors file', async (t) => {
  await t.throwsAsync(openSafetensors(dir), {
    instanceOf: SafetensorsError,
    message: new RegExp(`^${dir}: expected a regular file`),
  });
  const e = await t.throwsAsync(openSafetensors(join(dir, 'missing.safetensors')));
  t.is((e as NodeJS.ErrnoException).code, 'ENOENT');
  // The in-memory variant validates identically.
  await t.throwsAsync(openSafetensorsBytes(build('{}', 0, 99n), 'mem'), {
    instanceOf: SafetensorsError,
    message: /^mem: header length: header of 99 bytes runs past the end of the 10-byte file/,
  });
});

test('writeSafetensors validates before writing anything', async (t) => {
  const path = tmp();
  await writeFile(path, 'old');
  const bad = async (tensors: unknown[], message: RegExp, metadata?: unknown) => {
    await t.throwsAsync(
      writeSafetensors(path, tensors as SafetensorsWriteTensor[], metadata as Record<string, string>),
      { instanceOf: SafetensorsError, message },
    );
    t.is(await readFile(path, 'utf8'), 'old');
  };
  const x = { name: 'x', dtype: 'F32', shape: [2], data: new Float32Array(2) };
  await bad([x, { ...x }], /tensor "x": appears more than once; tensor names must be unique/);
  await bad(
    [{ ...x, name: '__metadata__' }],
    /name: expected a non-empty string other than "__metadata__", got "__metadata__"/,
  );
  await bad([{ ...x, name: '' }], /name: expected a non-empty string/);
  await bad([{ ...x, shape: [3] }], /tensor "x": data: expected 3 elements for shape \[3\] of F32, got 2/);
  await bad([{ ...x, shape: [-2] }], /tensor "x": shape: expected an array of non-negative integers, got \[-2\]/);
  await bad([{ ...x, dtype: 'I32' }], /tensor "x": dtype: expected one of F32, BF16, F16, got "I32"/);
  await bad(
    [{ ...x, dtype: 'BF16' }],
    /tensor "x": data: expected a Uint16Array \(or a Uint8Array of raw bytes\) for BF16, got a Float32Array; convert it with float32ToBf16/,
  );
  await bad(
    [{ ...x, data: new Uint16Array(2) }],
    /data: expected a Float32Array \(or a Uint8Array of raw bytes\) for F32, got a Uint16Array/,
  );
  await bad([{ ...x, data: new Uint8Array(7) }], /data: expected 8 bytes for shape \[2\] of F32, got 7/);
  await bad([{ ...x, data: [0, 0] }], /data: expected a Float32Array, Uint16Array or Uint8Array, got \[object Array\]/);
  await bad([x], /__metadata__.k: expected a string, got 3/, { k: 3 });
  t.deepEqual(
    (await readdir(dir)).filter((n) => n.includes(basename(path)) && n !== basename(path)),
    [],
  );
});

test('writeSafetensors replaces a file atomically and leaves no temp file', async (t) => {
  const sub = join(dir, 'replace');
  await mkdir(sub);
  const path = join(sub, 'model.safetensors');
  await writeSafetensors(path, [{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
  await writeSafetensors(path, [{ name: 'b', dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) }]);
  const r = await openSafetensors(path);
  t.deepEqual(
    r.tensors.map((x) => x.name),
    ['b'],
  );
  await r.close();
  t.deepEqual(await readdir(sub), ['model.safetensors']);
});

test('writeFileAtomic writes chunks back to back and cleans up when it fails', async (t) => {
  const sub = join(dir, 'atomic');
  await mkdir(sub);
  const path = join(sub, 'out.bin');
  await writeFileAtomic(path, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])]);
  t.deepEqual(new Uint8Array(await readFile(path)), new Uint8Array([1, 2, 3]));
  // Small chunks are staged and large ones written directly: the order must survive.
  const big = random(300_000, 9);
  const pieces = [
    new Uint8Array([7]),
    new Uint8Array(big.buffer),
    new Uint8Array(2 ** 20 - 3).fill(5),
    new Uint8Array([8, 9]),
    new Uint8Array(700_000).fill(6),
  ];
  await writeFileAtomic(path, pieces);
  const expected = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  pieces.reduce((at, p) => (expected.set(p, at), at + p.length), 0);
  t.true(Buffer.from(expected).equals(await readFile(path)));
  await writeFileAtomic(path, new TextEncoder().encode('replaced'), { fsync: false });
  t.is(await readFile(path, 'utf8'), 'replaced');
  // Renaming over a folder fails after the temp file was written: it must be removed.
  await mkdir(join(sub, 'taken'));
  await writeFile(join(sub, 'taken', 'x'), '');
  await t.throwsAsync(writeFileAtomic(join(sub, 'taken'), new Uint8Array(10)));
  await t.throwsAsync(writeFileAtomic(join(sub, 'no-such-dir', 'f'), new Uint8Array(1)), { code: 'ENOENT' });
  t.deepEqual((await readdir(sub)).sort(), ['out.bin', 'taken']);
});

// Checkpoints made by another writer (the Python reference), when the repo has them.
const fixtureRoot = join(packageRoot(), 'test', 'fixtures');
const fixtures = existsSync(fixtureRoot)
  ? readdirSync(fixtureRoot, { withFileTypes: true })
      .filter(
        (d) =>
          d.isDirectory() &&
          existsSync(join(fixtureRoot, d.name, 'model.safetensors')) &&
          existsSync(join(fixtureRoot, d.name, 'config.json')),
      )
      .map((d) => d.name)
  : [];
const fixtureFiles = existsSync(fixtureRoot)
  ? readdirSync(fixtureRoot, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.safetensors'))
  : [];
for (const file of fixtureFiles) {
  test(`fixture ${file} opens and every float tensor reads`, async (t) => {
    const r = await openSafetensors(join(fixtureRoot, file));
    try {
      t.true(r.tensors.length > 0);
      for (const x of r.tensors) {
        const numel = x.shape.reduce((a, b) => a * b, 1);
        if (['F32', 'F16', 'BF16', 'F64'].includes(x.dtype)) t.is((await r.readFloat32(x.name)).length, numel, x.name);
        else t.is((await r.readRaw(x.name)).length, x.end - x.begin, x.name);
      }
    } finally {
      await r.close();
    }
  });
}
for (const name of fixtures) {
  test(`fixture ${name}: tensors match parameterShapes(config) and read as finite floats`, async (t) => {
    const folder = join(fixtureRoot, name);
    const config = await readConfig(folder);
    const r = await openSafetensors(join(folder, 'model.safetensors'));
    try {
      const expected = parameterShapes(config);
      t.deepEqual(r.tensors.map((x) => x.name).sort(), expected.map((x) => x.name).sort());
      for (const p of expected) {
        t.deepEqual(r.get(p.name)?.shape, p.shape, p.name);
        const values = await r.readFloat32(p.name);
        t.true(values.every(Number.isFinite), `${p.name} has non-finite values`);
      }
    } finally {
      await r.close();
    }
  });
}
