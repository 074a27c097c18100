// A checkpoint folder's weights: one model.safetensors, or shards named by
// model.safetensors.index.json, as Hugging Face stores every model over its shard
// size (all 7-8B models among them). Reading checks the index against the shards'
// own headers; writing splits the tensors into shards of at most maxShardBytes
// and writes the index after them.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import {
  DTYPE_SIZES,
  openSafetensors,
  writeSafetensors,
  type SafetensorsReader,
  type SafetensorsTensorInfo,
  type SafetensorsWriteTensor,
} from './safetensors.js';

export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
/** transformers' default max_shard_size ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

/** The tensors of a checkpoint, wherever they are stored. */
export interface WeightsSource {
  /** What errors name: the single file, or the index of the shards. */
  readonly file: string;
  /** Every tensor of every shard. */
  readonly tensors: readonly SafetensorsTensorInfo[];
  /** The metadata of the single file, or of the first shard. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The metadata of every file (one entry for a single file). */
  readonly fileMetadata: ReadonlyArray<{ file: string; metadata: Readonly<Record<string, string>> }>;
  get(name: string): SafetensorsTensorInfo | undefined;
  readFloat32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

const indexSchema = z.looseObject({
  metadata: z.looseObject({}).optional(),
  weight_map: z.record(z.string(), z.string({ error: 'expected a shard file name' }), {
    error: 'expected an object mapping tensor names to shard files',
  }),
});

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Opens the weights of checkpoint folder `dir`: model.safetensors when it is there,
 * else the shards model.safetensors.index.json names. Throws an Error naming the
 * index and the file when a shard is missing, a tensor is listed twice, or the
 * index and a shard's header disagree.
 */
export async function openWeights(dir: string): Promise<WeightsSource> {
  const single = join(dir, WEIGHTS_FILE);
  if (await exists(single)) {
    const reader = await openSafetensors(single);
    return {
      file: single,
      tensors: reader.tensors,
      metadata: reader.metadata,
      fileMetadata: [{ file: single, metadata: reader.metadata }],
      get: (name) => reader.get(name),
      readFloat32: (name) => reader.readFloat32(name),
      close: () => reader.close(),
    };
  }
  const index = join(dir, WEIGHTS_INDEX_FILE);
  if (!(await exists(index))) {
    throw new Error(`${dir}: no weights: expected ${WEIGHTS_FILE}, or ${WEIGHTS_INDEX_FILE} and the shards it names`);
  }
  return openShards(dir, index);
}

async function openShards(dir: string, index: string): Promise<WeightsSource> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(index, 'utf8'));
  } catch (e) {
    throw new Error(`${index}: cannot read the index: ${(e as Error).message}`);
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${index}: ${issue.path.map(String).join('.') || 'index'}: ${issue.message}`);
  }
  const weightMap = parsed.data.weight_map;
  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    // A shard is a file of this folder, never a path out of it.
    if (shard === '' || shard === '.' || shard === '..' || /[/\\]/.test(shard))
      throw new Error(`${index}: weight_map.${tensor}: expected a file name in ${dir}, got ${JSON.stringify(shard)}`);
    (byShard.get(shard) ?? byShard.set(shard, []).get(shard)!).push(tensor);
  }
  if (byShard.size === 0) throw new Error(`${index}: weight_map: lists no tensors`);

  const readers: SafetensorsReader[] = [];
  const owner = new Map<string, SafetensorsReader>();
  try {
    for (const [shard, listed] of [...byShard].sort(([a], [b]) => a.localeCompare(b))) {
      const path = join(dir, shard);
      if (!(await exists(path)))
        throw new Error(
          `${index}: shard ${shard} (${listed.length} tensors, ${listed[0]} first) is missing from ${dir}`,
        );
      const reader = await openSafetensors(path);
      readers.push(reader);
      for (const t of reader.tensors) {
        const other = owner.get(t.name);
        if (other) throw new Error(`${index}: tensor ${t.name} is stored twice, in ${other.file} and in ${path}`);
        if (weightMap[t.name] !== shard)
          throw new Error(
            weightMap[t.name] === undefined
              ? `${index}: ${path} holds tensor ${t.name}, which the index does not list`
              : `${index}: ${path} holds tensor ${t.name}, which the index places in ${weightMap[t.name]}`,
          );
        owner.set(t.name, reader);
      }
      for (const tensor of listed)
        if (!reader.get(tensor))
          throw new Error(`${index}: lists tensor ${tensor} in ${shard}, which does not hold it`);
    }
  } catch (e) {
    await Promise.all(readers.map((r) => r.close()));
    throw e;
  }
  const first = readers[0]!;
  return {
    file: index,
    tensors: readers.flatMap((r) => r.tensors),
    metadata: first.metadata,
    fileMetadata: readers.map((r) => ({ file: r.file, metadata: r.metadata })),
    get: (name) => owner.get(name)?.get(name),
    readFloat32: (name) => {
      const reader = owner.get(name);
      if (!reader) throw new Error(`${index}: no tensor ${name}`);
      return reader.readFloat32(name);
    },
    close: async () => {
      await Promise.all(readers.map((r) => r.close()));
    },
  };
}

function bytesOf(t: SafetensorsWriteTensor): number {
  return t.shape.reduce((n, d) => n * d, 1) * DTYPE_SIZES[t.dtype];
}

/**
 * Writes `tensors` into `folder`: model.safetensors when they fit in
 * maxShardBytes, else model-0000i-of-0000n.safetensors shards filled in order (a
 * tensor larger than the limit gets a shard of its own, as transformers does)
 * and then the index. Every file carries `metadata`. Returns the names written.
 */
export async function writeWeights(
  folder: string,
  tensors: readonly SafetensorsWriteTensor[],
  metadata: Readonly<Record<string, string>>,
  maxShardBytes = DEFAULT_MAX_SHARD_BYTES,
): Promise<string[]> {
  if (!(maxShardBytes > 0)) throw new Error(`maxShardBytes: expected a positive number, got ${maxShardBytes}`);
  const total = tensors.reduce((n, t) => n + bytesOf(t), 0);
  if (total <= maxShardBytes) {
    await writeSafetensors(join(folder, WEIGHTS_FILE), tensors, metadata);
    return [WEIGHTS_FILE];
  }
  const shards: SafetensorsWriteTensor[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = bytesOf(t);
    if (size > 0 && size + bytes > maxShardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += bytes;
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const names = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    await writeSafetensors(join(folder, names[i]!), shard, metadata);
    for (const t of shard) weightMap[t.name] = names[i]!;
  }
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const index = { metadata: { total_size: total }, weight_map: sorted };
  await writeFileAtomic(
    join(folder, WEIGHTS_INDEX_FILE),
    new TextEncoder().encode(`${JSON.stringify(index, null, 2)}\n`),
  );
  return [...names, WEIGHTS_INDEX_FILE];
}
