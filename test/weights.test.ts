// Sharded checkpoints as transformers writes them (model.safetensors.index.json
// and model-0000i-of-0000n.safetensors): genrm writes them over a shard size and
// reads them back bit for bit; folders written by hand in the published layout
// load; an index that disagrees with its shards is a clear error naming both.
import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model, packSequences, writeConfig, writeSafetensors } from '../lib/index.js';
import { float32ToBf16 } from '../lib/model/safetensors.js';
import { WEIGHTS_INDEX_FILE } from '../lib/model/weights.js';

const config = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 50,
  max_position_embeddings: 64,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  reward_head: false,
};

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'genrm-shards-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const batch = packSequences([{ ids: [1, 4, 9, 16, 25] }, { ids: [2, 3] }]);

test('weights over maxShardBytes are written as shards with a sorted index, and load back bit for bit', async (t) => {
  const model = Model.create(config, { seed: 5 });
  const dir = join(root, 'sharded');
  await model.save(dir, { maxShardBytes: 20_000 });
  const files = (await readdir(dir)).sort();
  const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  t.true(shards.length >= 3, files.join(', '));
  t.true(shards.every((f) => f.endsWith(`-of-${String(shards.length).padStart(5, '0')}.safetensors`)));
  t.false(files.includes('model.safetensors'));
  const index = JSON.parse(await readFile(join(dir, WEIGHTS_INDEX_FILE), 'utf8'));
  const names = Object.keys(index.weight_map);
  t.deepEqual(names, [...names].sort());
  t.deepEqual(names, model.parameters.map((p) => p.name).sort());
  t.is(index.metadata.total_size, model.numParameters * 4);
  const back = await Model.load(dir);
  for (const p of model.parameters) t.deepEqual(back.parameter(p.name), model.parameter(p.name), p.name);
  const [a, b] = [
    await model.forward(batch, { logits: { row0: 0, rows: 7 } }),
    await back.forward(batch, { logits: { row0: 0, rows: 7 } }),
  ];
  t.deepEqual(a.logits, b.logits);
  // A save that fits one file replaces the shards: none is left behind.
  await back.save(dir);
  t.deepEqual((await readdir(dir)).filter((f) => f.startsWith('model')).sort(), ['model.safetensors']);
  model.dispose();
  back.dispose();
});

/** A folder in the published layout: config.json, bf16 shards written one by one, and the index. */
async function handWritten(name: string, edit: (shards: Map<string, string[]>) => void = () => {}) {
  const model = Model.create(config, { seed: 6 });
  const dir = join(root, name);
  await mkdir(dir);
  await writeConfig(dir, model.config);
  const plan = new Map<string, string[]>([
    ['model-00001-of-00002.safetensors', model.parameters.slice(0, 7).map((p) => p.name)],
    ['model-00002-of-00002.safetensors', model.parameters.slice(7).map((p) => p.name)],
  ]);
  const weightMap: Record<string, string> = {};
  for (const [shard, tensors] of plan) for (const tensor of tensors) weightMap[tensor] = shard;
  edit(plan);
  for (const [shard, tensors] of plan) {
    const list = tensors.map((n) => {
      const p = model.parameters.find((q) => q.name === n)!;
      return { name: n, dtype: 'BF16' as const, shape: p.shape, data: float32ToBf16(model.parameter(n)) };
    });
    await writeSafetensors(join(dir, shard), list, { format: 'pt' });
  }
  await writeFile(
    join(dir, WEIGHTS_INDEX_FILE),
    JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }),
  );
  return { model, dir };
}

test('a sharded bf16 folder in the published layout loads', async (t) => {
  const { model, dir } = await handWritten('published');
  const back = await Model.load(dir);
  const name = model.parameters[8]!.name;
  const want = model.parameter(name);
  const got = back.parameter(name);
  // bf16 storage: each value is the float32 one rounded to 8 bits of mantissa.
  for (let i = 0; i < want.length; i++) t.true(Math.abs(got[i]! - want[i]!) <= Math.abs(want[i]!) * 2 ** -8);
  model.dispose();
  back.dispose();
});

test('an index that disagrees with its shards is an error naming the index and the file', async (t) => {
  const load = (dir: string) => t.throwsAsync(Model.load(dir));
  {
    const { model, dir } = await handWritten('missing-shard');
    await unlink(join(dir, 'model-00002-of-00002.safetensors'));
    const e = await load(dir);
    t.regex(
      e!.message,
      /model\.safetensors\.index\.json: shard model-00002-of-00002\.safetensors \(\d+ tensors, .* first\) is missing from /,
    );
    model.dispose();
  }
  {
    const { model, dir } = await handWritten('twice', (plan) =>
      plan.get('model-00002-of-00002.safetensors')!.push(plan.get('model-00001-of-00002.safetensors')![0]!),
    );
    const e = await load(dir);
    t.regex(e!.message, /index\.json: .*model\.embed_tokens\.weight/);
    model.dispose();
  }
  {
    const { model, dir } = await handWritten('not-held', (plan) => plan.get('model-00001-of-00002.safetensors')!.pop());
    const e = await load(dir);
    t.regex(e!.message, /index\.json: lists tensor \S+ in model-00001-of-00002\.safetensors, which does not hold it/);
    model.dispose();
  }
  {
    const dir = join(root, 'escape');
    await mkdir(dir);
    const m = Model.create(config, { seed: 1 });
    await writeConfig(dir, m.config);
    m.dispose();
    await writeFile(
      join(dir, WEIGHTS_INDEX_FILE),
      JSON.stringify({ weight_map: { 'model.norm.weight': '../x.safetensors' } }),
    );
    const e = await load(dir);
    t.regex(e!.message, /weight_map\.model\.norm\.weight: expected a file name in .*, got "\.\.\/x\.safetensors"/);
    await writeFile(join(dir, WEIGHTS_INDEX_FILE), '{"weight_map": ');
    t.regex((await load(dir))!.message, /index\.json: cannot read the index: /);
    await writeFile(join(dir, WEIGHTS_INDEX_FILE), '{"metadata": {}}');
    t.regex(
      (await load(dir))!.message,
      /index\.json: weight_map: expected an object mapping tensor names to shard files/,
    );
    await unlink(join(dir, WEIGHTS_INDEX_FILE));
    t.regex(
      (await load(dir))!.message,
      /no weights: expected model\.safetensors, or model\.safetensors\.index\.json and the shards it names/,
    );
  }
});

test('shards of two different saves are refused', async (t) => {
  const a = Model.create(config, { seed: 7 });
  const b = Model.create(config, { seed: 8 });
  const [da, db] = [join(root, 'save-a'), join(root, 'save-b')];
  await a.save(da, { maxShardBytes: 20_000 });
  await b.save(db, { maxShardBytes: 20_000 });
  const shard = (await readdir(da)).find((f) => f.startsWith('model-00002'))!;
  await writeFile(join(da, shard), await readFile(join(db, shard)));
  await unlink(join(da, 'checkpoint.json'));
  const e = await t.throwsAsync(Model.load(da));
  t.regex(e!.message, /the shards come from two checkpoints/);
  a.dispose();
  b.dispose();
});
