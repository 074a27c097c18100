// The safetensors format: an 8-byte little-endian u64 header length N, N bytes of
// UTF-8 JSON mapping tensor names to {dtype, shape, data_offsets} (offsets relative
// to the first byte after the header) plus an optional "__metadata__" object of
// strings, then the tensor data, little-endian.
//
// The reader reads and validates only the header when it opens a file, so
// checkpoints larger than memory (or than Node's largest Buffer) can be inspected,
// and each tensor is read on demand by its byte range. Validation follows the
// reference implementation (huggingface/safetensors): the tensors must tile the
// data section exactly, with no overlap, no hole and nothing after the last one.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { AtomicWriteOptions } from '../util/atomic-write.js';

/** Bytes per element of every dtype the format defines. */
export const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
} as const;
export type SafetensorsDtype = keyof typeof DTYPE_SIZES;
const DTYPES = Object.keys(DTYPE_SIZES) as SafetensorsDtype[];

/** The dtypes readFloat32 converts; the others are read with readRaw. */
export const FLOAT32_READABLE: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F64'];

/** The reference implementation's limit on the header (100 MiB here). */
export const DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024;

const METADATA_KEY = '__metadata__';

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section (reader.dataOffset). */
  begin: number;
  end: number;
}

export interface SafetensorsOpenOptions {
  /** Largest header accepted, in bytes; default 100 MiB. Guards against allocating a bogus length. */
  maxHeaderBytes?: number;
}

export interface SafetensorsReader {
  /** The path (or name) errors mention. */
  readonly file: string;
  /** Total file size in bytes. */
  readonly size: number;
  /** Header length N from the prefix (padding included). */
  readonly headerBytes: number;
  /** Absolute offset of the data section: 8 + N. */
  readonly dataOffset: number;
  /** Every tensor, in data order (by begin; ties, i.e. empty tensors, in header order). */
  readonly tensors: readonly SafetensorsTensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  get(name: string): SafetensorsTensorInfo | undefined;
  /** The tensor's bytes as stored (little-endian). */
  readRaw(name: string): Promise<Uint8Array>;
  /** The tensor converted to float32 (F32, F16, BF16 and F64; F64 rounds to nearest). */
  readFloat32(name: string): Promise<Float32Array>;
  /** Closes the file; idempotent. Later reads throw. */
  close(): Promise<void>;
}

/** A file that is not valid safetensors, or a tensor that cannot be read as asked. */
export class SafetensorsError extends Error {
  readonly file: string;
  readonly tensor: string | undefined;
  readonly field: string | undefined;

  constructor(file: string, detail: string, where: { tensor?: string; field?: string } = {}) {
    const tensor = where.tensor !== undefined ? `tensor ${JSON.stringify(where.tensor)}: ` : '';
    const field = where.field !== undefined ? `${where.field}: ` : '';
    super(`${file}: ${tensor}${field}${detail}`);
    this.name = 'SafetensorsError';
    this.file = file;
    this.tensor = where.tensor;
    this.field = where.field;
  }
}

/** A short rendering of a JSON value for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

// ---------------------------------------------------------------------------
// Conversions. All operate on bit patterns held in Uint16Array/Uint32Array views,
// so NaN payloads and signed zeros survive (JS numbers would canonicalise NaN).

/** Rounds to the nearest bfloat16, ties to even; NaN stays NaN (quietened, sign kept). */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    // Truncating a NaN whose payload sits in the low 16 bits would yield infinity.
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x0040;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Exact: bfloat16 is the top half of a float32. */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

let f16Table: Uint32Array | undefined;

// Every half maps exactly to a float32, so a 65,536-entry table of float32 bit
// patterns is both exact and the fastest conversion.
function buildF16Table(): Uint32Array {
  const table = new Uint32Array(65536);
  const asFloat = new Float32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      // Infinity or NaN: widen the payload bit for bit.
      table[h] = (sign << 16) | 0x7f800000 | (mant << 13);
    } else {
      // Subnormals (exp 0) are mant * 2^-24; normals (1024 + mant) * 2^(exp - 25).
      const magnitude = exp === 0 ? mant * 2 ** -24 : (1024 + mant) * 2 ** (exp - 25);
      asFloat[h] = sign ? -magnitude : magnitude;
    }
  }
  return table;
}

/** Exact, including subnormals, signed zeros, infinities and NaN payloads. */
export function f16ToFloat32(bits: Uint16Array): Float32Array {
  const table = (f16Table ??= buildF16Table());
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = table[bits[i]!]!;
  return out;
}

// The format is little-endian; genrm targets x64, but stay correct elsewhere.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

// ---------------------------------------------------------------------------
// Byte sources: a file handle, or (for tests and in-memory use) a Uint8Array.

interface ByteSource {
  readonly size: number;
  /** Fills `into` from `position`, or throws a SafetensorsError. */
  read(position: number, into: Uint8Array, what: string): Promise<void>;
  close(): Promise<void>;
}

// Linux reads at most 0x7ffff000 bytes per call.
const MAX_READ = 1 << 30;

class FileSource implements ByteSource {
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly file: string,
  ) {}

  async read(position: number, into: Uint8Array, what: string): Promise<void> {
    let done = 0;
    while (done < into.byteLength) {
      const length = Math.min(into.byteLength - done, MAX_READ);
      const { bytesRead } = await this.handle.read(into, done, length, position + done);
      if (bytesRead === 0) {
        throw new SafetensorsError(
          this.file,
          `file ended at byte ${position + done} while reading ${what} ` +
            `(expected ${into.byteLength} bytes from byte ${position}); was it truncated after it was opened?`,
        );
      }
      done += bytesRead;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

class MemorySource implements ByteSource {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {}

  get size(): number {
    return this.bytes.byteLength;
  }

  async read(position: number, into: Uint8Array, what: string): Promise<void> {
    if (position + into.byteLength > this.bytes.byteLength) {
      throw new SafetensorsError(
        this.file,
        `${what} runs past the end of the data (${position + into.byteLength} > ${this.bytes.byteLength})`,
      );
    }
    into.set(this.bytes.subarray(position, position + into.byteLength));
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------
// Header parsing.

/**
 * Lists the top-level keys of already-valid JSON text in order and rejects a key
 * that appears twice in any object: JSON.parse silently keeps the last one, which
 * would make the file mean different things to different readers.
 */
function scanKeys(text: string, file: string): string[] {
  const top: string[] = [];
  const stack: Array<{ keys: Set<string> | undefined; expectKey: boolean; owner: string | undefined }> = [];
  let lastTopKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Jump to the closing quote: the next one not escaped by an odd run of backslashes.
      let j = text.indexOf('"', i + 1);
      for (;;) {
        if (j < 0) return top; // unreachable for text JSON.parse accepted; never loop on it
        let slashes = 0;
        while (text.charCodeAt(j - 1 - slashes) === 0x5c /* \ */) slashes++;
        if (slashes % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      const frame = stack[stack.length - 1];
      if (frame?.keys && frame.expectKey) {
        const raw = text.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, j + 1)) as string) : raw;
        if (frame.keys.has(key)) {
          if (stack.length === 1)
            throw new SafetensorsError(file, 'appears more than once in the header', { tensor: key });
          throw new SafetensorsError(
            file,
            `duplicate key ${JSON.stringify(key)} in the header`,
            frame.owner !== undefined ? { tensor: frame.owner } : {},
          );
        }
        frame.keys.add(key);
        frame.expectKey = false;
        if (stack.length === 1) {
          top.push(key);
          lastTopKey = key;
        }
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({
        keys: new Set(),
        expectKey: true,
        owner: stack.length === 1 ? lastTopKey : stack[stack.length - 1]?.owner,
      });
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: undefined, expectKey: false, owner: stack[stack.length - 1]?.owner });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const frame = stack[stack.length - 1];
      if (frame?.keys) frame.expectKey = true;
    }
  }
  return top;
}

interface ParsedHeader {
  headerBytes: number;
  tensors: SafetensorsTensorInfo[];
  metadata: Record<string, string>;
}

async function parseHeader(source: ByteSource, file: string, maxHeaderBytes: number): Promise<ParsedHeader> {
  const size = source.size;
  if (size < 8) {
    throw new SafetensorsError(file, `file is ${size} bytes, shorter than the 8-byte header length prefix`);
  }
  const prefix = new Uint8Array(8);
  await source.read(0, prefix, 'the header length');
  const declared = new DataView(prefix.buffer).getBigUint64(0, true);
  if (declared === 0n) {
    throw new SafetensorsError(file, 'expected a positive header length, got 0', { field: 'header length' });
  }
  if (declared > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError(file, `expected at most ${maxHeaderBytes} bytes (maxHeaderBytes), got ${declared}`, {
      field: 'header length',
    });
  }
  const headerBytes = Number(declared);
  if (8 + headerBytes > size) {
    throw new SafetensorsError(file, `header of ${headerBytes} bytes runs past the end of the ${size}-byte file`, {
      field: 'header length',
    });
  }
  const raw = new Uint8Array(headerBytes);
  await source.read(8, raw, 'the header');

  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, where JSON.parse rejects it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw new SafetensorsError(file, 'expected UTF-8 text, found invalid UTF-8', { field: 'header' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(file, `expected JSON, got invalid JSON (${(e as Error).message})`, { field: 'header' });
  }
  if (!isObject(json)) {
    throw new SafetensorsError(file, `expected a JSON object, got ${describe(json)}`, { field: 'header' });
  }
  const order = scanKeys(text, file);

  const dataSize = size - 8 - headerBytes;
  let metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const name of order) {
    const entry = json[name];
    if (name === METADATA_KEY) {
      metadata = parseMetadata(entry, file);
      continue;
    }
    tensors.push(parseEntry(name, entry, dataSize, file));
  }

  // The tensors must tile the data section: sorted by offsets, each starts where
  // the previous ended, the first at 0, the last at the end of the file.
  const sorted = tensors
    .map((t, index) => ({ t, index }))
    .sort((a, b) => a.t.begin - b.t.begin || a.t.end - b.t.end || a.index - b.index)
    .map(({ t }) => t);
  let expected = 0;
  let previous: SafetensorsTensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < expected) {
      throw new SafetensorsError(
        file,
        `[${t.begin}, ${t.end}] overlaps tensor ${JSON.stringify(previous?.name)} ` +
          `at [${previous?.begin}, ${previous?.end}]; expected it to start at ${expected}`,
        { tensor: t.name, field: 'data_offsets' },
      );
    }
    if (t.begin > expected) {
      throw new SafetensorsError(
        file,
        `[${t.begin}, ${t.end}] leaves a hole: expected it to start at ${expected}` +
          (previous ? `, where tensor ${JSON.stringify(previous.name)} ends` : ', the start of the data section') +
          `, got ${t.begin}`,
        { tensor: t.name, field: 'data_offsets' },
      );
    }
    expected = t.end;
    previous = t;
  }
  if (expected !== dataSize) {
    throw new SafetensorsError(
      file,
      `expected the tensors to end at the end of the file (data section of ${dataSize} bytes), ` +
        `but they end at ${expected}: ${dataSize - expected} trailing bytes belong to no tensor`,
      previous ? { tensor: previous.name, field: 'data_offsets' } : { field: 'data_offsets' },
    );
  }
  return { headerBytes, tensors: sorted, metadata };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  // null is what the reference writer's Option<HashMap> serialises for "none".
  if (value === null) return {};
  if (!isObject(value)) {
    throw new SafetensorsError(file, `expected an object of strings, got ${describe(value)}`, { field: METADATA_KEY });
  }
  const entries: Array<[string, string]> = [];
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(file, `expected a string, got ${describe(v)}`, { field: `${METADATA_KEY}.${key}` });
    }
    entries.push([key, v]);
  }
  // fromEntries defines properties, so a key like "__proto__" stays a plain key.
  return Object.fromEntries(entries);
}

function parseEntry(name: string, entry: unknown, dataSize: number, file: string): SafetensorsTensorInfo {
  const where = (field?: string) => (field === undefined ? { tensor: name } : { tensor: name, field });
  if (!isObject(entry)) {
    throw new SafetensorsError(
      file,
      `expected an object with dtype, shape and data_offsets, got ${describe(entry)}`,
      where(),
    );
  }
  const dtype = entry.dtype;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) {
    throw new SafetensorsError(file, `expected one of ${DTYPES.join(', ')}, got ${describe(dtype)}`, where('dtype'));
  }
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) {
    throw new SafetensorsError(
      file,
      `expected an array of non-negative integers, got ${describe(shape)}`,
      where('shape'),
    );
  }
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
    throw new SafetensorsError(
      file,
      `expected [begin, end], two non-negative integers, got ${describe(offsets)}`,
      where('data_offsets'),
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw new SafetensorsError(file, `expected begin <= end, got [${begin}, ${end}]`, where('data_offsets'));
  }
  const elementSize = DTYPE_SIZES[dtype as SafetensorsDtype];
  // BigInt: a bogus shape's product can exceed 2^53 and alias a small value.
  const numel = (shape as number[]).reduce((n, d) => n * BigInt(d), 1n);
  const bytes = numel * BigInt(elementSize);
  if (bytes !== BigInt(end - begin)) {
    throw new SafetensorsError(
      file,
      `expected ${bytes} bytes (shape ${JSON.stringify(shape)}, ${numel} elements of ${elementSize} bytes for ${dtype}), ` +
        `got ${end - begin} ([${begin}, ${end}])`,
      where('data_offsets'),
    );
  }
  if (end > dataSize) {
    throw new SafetensorsError(
      file,
      `[${begin}, ${end}] runs past the end of the data section, which holds ${dataSize} bytes`,
      where('data_offsets'),
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], begin, end };
}

// ---------------------------------------------------------------------------
// The reader.

class Reader implements SafetensorsReader {
  private readonly byName = new Map<string, SafetensorsTensorInfo>();
  private closed = false;
  readonly dataOffset: number;

  constructor(
    private readonly source: ByteSource,
    readonly file: string,
    readonly headerBytes: number,
    readonly tensors: readonly SafetensorsTensorInfo[],
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.dataOffset = 8 + headerBytes;
    for (const t of tensors) this.byName.set(t.name, t);
  }

  get size(): number {
    return this.source.size;
  }

  get(name: string): SafetensorsTensorInfo | undefined {
    return this.byName.get(name);
  }

  private lookup(name: string): SafetensorsTensorInfo {
    if (this.closed) throw new SafetensorsError(this.file, 'the reader is closed', { tensor: name });
    const t = this.byName.get(name);
    if (!t)
      throw new SafetensorsError(this.file, `no such tensor (the file has ${this.tensors.length})`, { tensor: name });
    return t;
  }

  private checkAllocation(t: SafetensorsTensorInfo, bytes: number, what: string): void {
    if (bytes > bufferConstants.MAX_LENGTH) {
      throw new SafetensorsError(
        this.file,
        `${what} needs ${bytes} bytes, more than the ${bufferConstants.MAX_LENGTH} one array can hold`,
        { tensor: t.name },
      );
    }
  }

  private async fill(t: SafetensorsTensorInfo, into: Uint8Array): Promise<void> {
    if (into.byteLength > 0)
      await this.source.read(this.dataOffset + t.begin, into, `tensor ${JSON.stringify(t.name)}`);
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.lookup(name);
    this.checkAllocation(t, t.end - t.begin, 'reading it');
    const out = new Uint8Array(t.end - t.begin);
    await this.fill(t, out);
    return out;
  }

  async readFloat32(name: string): Promise<Float32Array> {
    const t = this.lookup(name);
    const numel = (t.end - t.begin) / DTYPE_SIZES[t.dtype];
    this.checkAllocation(t, numel * 4, 'converting it to float32');
    switch (t.dtype) {
      case 'F32': {
        const out = new Float32Array(numel);
        const bytes = new Uint8Array(out.buffer);
        await this.fill(t, bytes);
        if (!LITTLE_ENDIAN) swapBytes(bytes, 4);
        return out;
      }
      case 'F16':
      case 'BF16': {
        const bits = new Uint16Array(numel);
        const bytes = new Uint8Array(bits.buffer);
        await this.fill(t, bytes);
        if (!LITTLE_ENDIAN) swapBytes(bytes, 2);
        return t.dtype === 'F16' ? f16ToFloat32(bits) : bf16ToFloat32(bits);
      }
      case 'F64': {
        this.checkAllocation(t, numel * 8, 'reading it');
        const wide = new Float64Array(numel);
        const bytes = new Uint8Array(wide.buffer);
        await this.fill(t, bytes);
        if (!LITTLE_ENDIAN) swapBytes(bytes, 8);
        return new Float32Array(wide);
      }
      default:
        throw new SafetensorsError(
          this.file,
          `readFloat32 supports ${FLOAT32_READABLE.join(', ')}, got ${t.dtype}; use readRaw`,
          { tensor: t.name, field: 'dtype' },
        );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source.close();
  }
}

function maxHeaderOption(options: SafetensorsOpenOptions): number {
  const max = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new Error(`openSafetensors: maxHeaderBytes: expected a positive integer, got ${describe(max)}`);
  }
  return max;
}

async function openSource(
  source: ByteSource,
  file: string,
  options: SafetensorsOpenOptions,
): Promise<SafetensorsReader> {
  try {
    const header = await parseHeader(source, file, maxHeaderOption(options));
    return new Reader(source, file, header.headerBytes, header.tensors, header.metadata);
  } catch (e) {
    await source.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Opens a safetensors file and validates its header; tensors are read on demand.
 * Invalid files throw a SafetensorsError; I/O failures (a missing file) throw the
 * file system's error. Close the reader when done.
 */
export async function openSafetensors(path: string, options: SafetensorsOpenOptions = {}): Promise<SafetensorsReader> {
  const handle = await open(path, 'r');
  let size: number;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new SafetensorsError(path, 'expected a regular file');
    size = stat.size;
  } catch (e) {
    await handle.close().catch(() => undefined);
    throw e;
  }
  return openSource(new FileSource(handle, size, path), path, options);
}

/**
 * @internal Opens safetensors bytes already in memory, with openSafetensors's
 * validation; `name` stands for the file in error messages. For tests (the fuzz
 * test opens thousands of mutants without touching the disk).
 */
export async function openSafetensorsBytes(
  bytes: Uint8Array,
  name = '<memory>',
  options: SafetensorsOpenOptions = {},
): Promise<SafetensorsReader> {
  return openSource(new MemorySource(bytes, name), name, options);
}

// ---------------------------------------------------------------------------
// The writer.

export type SafetensorsWriteDtype = 'F32' | 'BF16' | 'F16';

export interface SafetensorsWriteTensor {
  name: string;
  dtype: SafetensorsWriteDtype;
  shape: readonly number[];
  /**
   * F32: a Float32Array; BF16 and F16: a Uint16Array of bit patterns (see
   * float32ToBf16); any dtype: a Uint8Array of its little-endian bytes.
   */
  data: Float32Array | Uint16Array | Uint8Array;
}

const WRITE_DTYPES: readonly string[] = ['F32', 'BF16', 'F16'];

function tensorBytes(t: SafetensorsWriteTensor, file: string): Uint8Array {
  const where = (field: string) => ({ tensor: t.name, field });
  if (!WRITE_DTYPES.includes(t.dtype)) {
    throw new SafetensorsError(
      file,
      `expected one of ${WRITE_DTYPES.join(', ')}, got ${describe(t.dtype)}`,
      where('dtype'),
    );
  }
  if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInt)) {
    throw new SafetensorsError(
      file,
      `expected an array of non-negative integers, got ${describe(t.shape)}`,
      where('shape'),
    );
  }
  const size = DTYPE_SIZES[t.dtype];
  const numel = t.shape.reduce((n, d) => n * BigInt(d), 1n);
  const data = t.data;
  const kind =
    data instanceof Float32Array
      ? 'Float32Array'
      : data instanceof Uint16Array
        ? 'Uint16Array'
        : data instanceof Uint8Array
          ? 'Uint8Array'
          : undefined;
  if (kind === undefined) {
    throw new SafetensorsError(
      file,
      `expected a Float32Array, Uint16Array or Uint8Array, got ${Object.prototype.toString.call(data)}`,
      where('data'),
    );
  }
  const expectedKind = t.dtype === 'F32' ? 'Float32Array' : 'Uint16Array';
  if (kind !== 'Uint8Array' && kind !== expectedKind) {
    throw new SafetensorsError(
      file,
      `expected a ${expectedKind} (or a Uint8Array of raw bytes) for ${t.dtype}, got a ${kind}` +
        (t.dtype === 'BF16' && kind === 'Float32Array' ? '; convert it with float32ToBf16' : ''),
      where('data'),
    );
  }
  const elements = kind === 'Uint8Array' ? numel * BigInt(size) : numel;
  if (BigInt(data.length) !== elements) {
    throw new SafetensorsError(
      file,
      `expected ${elements} ${kind === 'Uint8Array' ? 'bytes' : 'elements'} for shape ${JSON.stringify(t.shape)} ` +
        `of ${t.dtype}, got ${data.length}`,
      where('data'),
    );
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || kind === 'Uint8Array') return bytes;
  const swapped = bytes.slice();
  swapBytes(swapped, size);
  return swapped;
}

/**
 * Writes tensors, contiguous in the given order, with the header padded with
 * spaces so the data starts 8-byte aligned (as the reference writer does). The
 * tensors' memory is written in place, never concatenated, and the file replaces
 * `path` atomically.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsWriteTensor[],
  metadata?: Readonly<Record<string, string>>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const names = new Set<string>();
  const entries: string[] = [];
  const chunks: Uint8Array[] = [];
  if (metadata !== undefined) {
    if (!isObject(metadata)) {
      throw new SafetensorsError(path, `expected an object of strings, got ${describe(metadata)}`, {
        field: METADATA_KEY,
      });
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new SafetensorsError(path, `expected a string, got ${describe(value)}`, {
          field: `${METADATA_KEY}.${key}`,
        });
      }
    }
    entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '' || t.name === METADATA_KEY) {
      throw new SafetensorsError(
        path,
        `expected a non-empty string other than ${JSON.stringify(METADATA_KEY)}, got ${describe(t.name)}`,
        { field: 'name' },
      );
    }
    if (names.has(t.name))
      throw new SafetensorsError(path, 'appears more than once; tensor names must be unique', { tensor: t.name });
    names.add(t.name);
    const bytes = tensorBytes(t, path);
    // Built by hand, not from an object: JSON.stringify would move integer-like names first.
    entries.push(
      `${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] })}`,
    );
    offset += bytes.byteLength;
    chunks.push(bytes);
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padded = json.byteLength + ((8 - ((8 + json.byteLength) % 8)) % 8);
  if (padded > DEFAULT_MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      path,
      `header of ${padded} bytes exceeds the ${DEFAULT_MAX_HEADER_BYTES}-byte limit readers apply`,
      { field: 'header' },
    );
  }
  const head = new Uint8Array(8 + padded).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  await writeFileAtomic(path, [head, ...chunks], options);
}
