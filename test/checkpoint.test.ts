// A checkpoint is one atomic unit: saves replace the whole folder, readers never
// mix two saves, concurrent and killed writers leave a loadable old-or-new
// checkpoint, and what dead writers left behind is removed by the next save.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Model, native, openSafetensors } from '../lib/index.js';
import { readManifest, recoverFolder } from '../lib/model/checkpoint.js';

const config = {
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  vocab_size: 40,
  max_position_embeddings: 16,
};
const EMBED = 'model.embed_tokens.weight';

function scratch(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'genrm-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A process id that runs nothing: a child that has exited.
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const first = (m: Model) => m.parameter(EMBED)[0]!;

test("a save replaces the whole checkpoint, keeps the folder's other files and drops an older save's optimizer", async (t) => {
  const dir = join(scratch(t), 'ckpt');
  const a = Model.create(config, { seed: 1 });
  const b = Model.create(config, { seed: 2 });
  await a.save(dir, { optimizer: true });
  writeFileSync(join(dir, 'NOTES.txt'), 'mine');
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'logs', 'run.log'), 'kept');
  await b.save(dir);
  t.false(
    existsSync(join(dir, 'optimizer.safetensors')),
    'an optimizer file of the older save must not sit beside the new weights',
  );
  t.is(readFileSync(join(dir, 'NOTES.txt'), 'utf8'), 'mine');
  t.is(readFileSync(join(dir, 'logs', 'run.log'), 'utf8'), 'kept');
  const manifest = await readManifest(dir);
  t.deepEqual(manifest!.files, ['config.json', 'model.safetensors']);
  const reader = await openSafetensors(join(dir, 'model.safetensors'));
  t.is(reader.metadata['genrm.checkpoint'], manifest!.id);
  await reader.close();
  const loaded = await Model.load(dir);
  t.is(first(loaded), first(b));
  t.deepEqual(readdirSync(join(dir, '..')).sort(), ['ckpt'], 'no staging folder, old version or lock is left');
  for (const m of [a, b, loaded]) m.dispose();
});

test('weights and optimizer state of different saves are refused by name', async (t) => {
  const root = scratch(t);
  const a = Model.create(config, { seed: 1 });
  const b = Model.create(config, { seed: 2 });
  await a.save(join(root, 'a'), { optimizer: true });
  await b.save(join(root, 'b'), { optimizer: true });
  cpSync(join(root, 'b', 'optimizer.safetensors'), join(root, 'a', 'optimizer.safetensors'));
  await t.throwsAsync(Model.load(join(root, 'a'), { optimizer: true }), {
    message: /a[/\\]optimizer\.safetensors: optimizer state of save [0-9a-f]+, but the weights are of save [0-9a-f]+/,
  });
  // The weights alone still load; a weights file of another save does not.
  (await Model.load(join(root, 'a'))).dispose();
  cpSync(join(root, 'b', 'model.safetensors'), join(root, 'a', 'model.safetensors'));
  await t.throwsAsync(Model.load(join(root, 'a')), {
    message:
      /model\.safetensors: written by save [0-9a-f]+, but .*checkpoint\.json names save [0-9a-f]+; the folder mixes two checkpoints/,
  });
  a.dispose();
  b.dispose();
});

test('the checkpoint id is a digest of the content: equal saves write equal files, any change makes another id', async (t) => {
  const root = scratch(t);
  const a = Model.create(config, { seed: 1 });
  await a.save(join(root, 'x'), { optimizer: true });
  await a.save(join(root, 'y'), { optimizer: true });
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'checkpoint.json'])
    t.deepEqual(readFileSync(join(root, 'x', f)), readFileSync(join(root, 'y', f)), f);
  const ids = new Set([(await readManifest(join(root, 'x')))!.id]);
  await a.save(join(root, 'z')); // without the optimizer
  ids.add((await readManifest(join(root, 'z')))!.id);
  await a.setParameter(
    EMBED,
    a.parameter(EMBED).map((v, i) => (i === 0 ? v + 1 : v)),
  );
  await a.save(join(root, 'z'));
  ids.add((await readManifest(join(root, 'z')))!.id);
  t.is(ids.size, 3);
  a.dispose();
});

test('a folder from before checkpoint ids (no checkpoint.json, no ids) still loads with its optimizer', async (t) => {
  const dir = join(scratch(t), 'old');
  const a = Model.create(config, { seed: 3 });
  await a.save(dir, { optimizer: true });
  // Rewrite both files without the id, as an older genrm wrote them.
  for (const file of ['model.safetensors', 'optimizer.safetensors']) {
    const { writeSafetensors } = await import('../lib/index.js');
    const r = await openSafetensors(join(dir, file));
    const tensors = [];
    for (const info of r.tensors)
      tensors.push({ name: info.name, dtype: 'F32' as const, shape: info.shape, data: await r.readFloat32(info.name) });
    const { ['genrm.checkpoint']: _id, ...rest } = r.metadata;
    await r.close();
    await writeSafetensors(join(dir, file), tensors, rest);
  }
  rmSync(join(dir, 'checkpoint.json'));
  const b = await Model.load(dir, { optimizer: true });
  t.is(first(b), first(a));
  a.dispose();
  b.dispose();
});

test('saves into one folder from one process queue: the result is one whole save', async (t) => {
  const dir = join(scratch(t), 'ckpt');
  const models = [1, 2, 3, 4].map((seed) => Model.create(config, { seed }));
  await Promise.all(models.map((m) => m.save(dir, { optimizer: true })));
  const loaded = await Model.load(dir, { optimizer: true });
  t.true(models.some((m) => first(m) === first(loaded)));
  t.is(first(loaded), first(models[3]!), 'the last save queued is the one left');
  for (const m of [...models, loaded]) m.dispose();
});

test("a live writer's lock refuses a save; a dead writer's lock and leftovers are removed by the next save", async (t) => {
  const root = scratch(t);
  const dir = join(root, 'ckpt');
  const m = Model.create(config, { seed: 1 });
  await m.save(dir);
  const { hostname } = await import('node:os');
  // The parent process of this test is alive.
  writeFileSync(join(root, '.ckpt.genrm-lock'), `${process.ppid} ${hostname()}\n`);
  await t.throwsAsync(m.save(dir), {
    message: new RegExp(`ckpt: process ${process.ppid} is saving a checkpoint into this folder`),
  });
  const dead = deadPid();
  writeFileSync(join(root, '.ckpt.genrm-lock'), `${dead} ${hostname()}\n`);
  mkdirSync(join(root, `.ckpt.genrm-save.${dead}.00aa11`));
  writeFileSync(join(root, `.ckpt.genrm-save.${dead}.00aa11`, 'model.safetensors'), 'partial');
  writeFileSync(join(dir, `.model.safetensors.${dead}.0badc0ffee00.tmp`), 'partial');
  writeFileSync(join(root, `.ckpt.genrm-lock.${dead}.0c0ffee0`), `${dead} ${hostname()}\n`); // a lock being taken when its writer died
  // A live writer's staging folder is not touched.
  const live = join(root, `.ckpt.genrm-save.${process.ppid}.00bb22`);
  mkdirSync(live);
  await m.save(dir);
  t.deepEqual(readdirSync(root).sort(), ['.ckpt.genrm-save.' + process.ppid + '.00bb22', 'ckpt']);
  t.false(readdirSync(dir).some((f) => f.endsWith('.tmp')));
  m.dispose();
});

test("a crash between the fallback commit's two renames leaves the old checkpoint, which load puts back", async (t) => {
  const root = scratch(t);
  const dir = join(root, 'ckpt');
  const m = Model.create(config, { seed: 5 });
  await m.save(dir);
  const dead = deadPid();
  // What the two-rename commit leaves when killed between them: no folder, the old one hidden, the new one staged.
  renameSync(dir, join(root, `.ckpt.genrm-old.${dead}.0011aa`));
  mkdirSync(join(root, `.ckpt.genrm-save.${dead}.0022bb`));
  const loaded = await Model.load(dir);
  t.is(first(loaded), first(m));
  await recoverFolder(dir);
  t.deepEqual(readdirSync(root), ['ckpt']);
  loaded.dispose();
  m.dispose();
});

test('files.exchange swaps two folders in one step, or says the file system cannot', (t) => {
  const root = scratch(t);
  mkdirSync(join(root, 'x'));
  mkdirSync(join(root, 'y'));
  writeFileSync(join(root, 'x', 'which'), 'x');
  writeFileSync(join(root, 'y', 'which'), 'y');
  const swapped = native().binding.files.exchange(join(root, 'x'), join(root, 'y'));
  if (!swapped) {
    t.pass('this file system has no RENAME_EXCHANGE: saves use two renames and recovery');
    return;
  }
  t.is(readFileSync(join(root, 'x', 'which'), 'utf8'), 'y');
  t.is(readFileSync(join(root, 'y', 'which'), 'utf8'), 'x');
  t.throws(() => native().binding.files.exchange(join(root, 'x'), join(root, 'missing')), {
    message: /exchanging .*x and .*missing: No such file or directory/,
  });
  t.throws(() => native().binding.files.exchange('', join(root, 'x')), { message: /a: expected a non-empty path/ });
});

// kill -9 at random moments of a child that saves over a checkpoint again and
// again (each save a model of another seed): every kill leaves a folder that
// loads, whole, as one of the saves, and the next save cleans up after it.
test('SIGKILL at any moment of a save leaves a checkpoint that loads as the old or the new save', async (t) => {
  const root = scratch(t);
  const dir = join(root, 'ckpt');
  const writer = join(root, 'writer.mts');
  const lib = fileURLToPath(new URL('../lib/index.js', import.meta.url));
  writeFileSync(
    writer,
    `
    import { Model } from ${JSON.stringify(lib)};
    const config = ${JSON.stringify({ ...config, hidden_size: 64, intermediate_size: 128, vocab_size: 4000 })};
    for (let seed = Number(process.argv[2]); ; seed++) {
      const m = Model.create(config, { seed });
      await m.save(${JSON.stringify(dir)}, { optimizer: true });
      m.dispose();
      process.stdout.write('saved ' + seed + '\\n');
    }
  `,
  );
  const seeds = new Map<number, number>(); // first embedding value -> seed
  const big = { ...config, hidden_size: 64, intermediate_size: 128, vocab_size: 4000 };
  const expect = (seed: number) => {
    const m = Model.create(big, { seed });
    seeds.set(m.parameter(EMBED)[0]!, seed);
    m.dispose();
  };
  let seed = 1;
  const kills = 8;
  for (let k = 0; k < kills; k++) {
    for (let s = seed; s < seed + 40; s++) expect(s);
    const child = spawn(process.execPath, ['--import', 'tsx', writer, String(seed)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const closed = new Promise((resolve) => child.once('close', resolve));
    let saved = 0;
    child.stdout.on('data', (d: Buffer) => {
      saved += String(d)
        .split('\n')
        .filter((l) => l.startsWith('saved')).length;
    });
    // Wait for at least one complete save, then kill at a random moment of the next ones.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (saved >= 1 || child.exitCode !== null) {
          clearInterval(poll);
          setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, Math.random() * 150);
        }
      }, 5);
    });
    await closed;
    const m = await Model.load(dir, { optimizer: true });
    const got = seeds.get(first(m));
    t.true(got !== undefined && got >= seed, `kill ${k}: the folder loads as save ${got}`);
    m.dispose();
    seed += 40;
  }
  // The next save removes what the killed writers left.
  const last = Model.create(big, { seed: 0 });
  await last.save(dir);
  last.dispose();
  t.deepEqual(readdirSync(root).sort(), ['ckpt', 'writer.mts']);
});

test('a save with the optimizer refuses gradients accumulated since the last step; after a step or zeroGrad it saves', async (t) => {
  const dir = join(scratch(t), 'ckpt');
  const m = Model.create(config, { seed: 1 });
  const { packSequences } = await import('../lib/index.js');
  const batch = packSequences([{ ids: [1, 2, 3, 4], promptLength: 1 }]);
  await m.computeGradients({ type: 'sft' }, batch);
  await t.throwsAsync(m.save(dir, { optimizer: true }), {
    message: /ckpt: not saved: this model holds gradients accumulated since its last optimizer step/,
  });
  t.false(existsSync(dir));
  await m.save(dir); // the weights alone resume nothing: allowed
  await m.optimizerStep({ lr: 1e-3 });
  await m.save(dir, { optimizer: true });
  await m.computeGradients({ type: 'sft' }, batch);
  await m.zeroGrad();
  await m.save(dir, { optimizer: true });
  t.true((await readManifest(dir))!.files.includes('optimizer.safetensors'));
  m.dispose();
});

test('pair indices must be integers and a DPO pair needs target tokens in both sequences', async (t) => {
  const m = Model.create(config, { seed: 1 });
  const { packSequences } = await import('../lib/index.js');
  const batch = packSequences([
    { ids: [1, 2, 3], promptLength: 1 },
    { ids: [4, 5, 6], promptLength: 1 },
  ]);
  await t.throwsAsync(m.computeGradients({ type: 'dpo', pairs: [[0.5, 1]], refLogps: [0, 0] }, batch), {
    message: /pairs\[0\]\.chosen: expected a non-negative integer sequence index, got 0\.5/,
  });
  await t.throwsAsync(m.computeGradients({ type: 'dpo', pairs: [[0, 1.9]], refLogps: [0, 0] }, batch), {
    message: /pairs\[0\]\.rejected: expected a non-negative integer sequence index, got 1\.9/,
  });
  const noTargets = packSequences([
    { ids: [1, 2, 3], promptLength: 1 },
    { ids: [4, 5, 6], promptLength: 3 },
  ]);
  await t.throwsAsync(m.computeGradients({ type: 'dpo', pairs: [[0, 1]], refLogps: [0, 0] }, noTargets), {
    message:
      /pairs\[0\]\.rejected: expected a sequence with at least one target token \(lossMask\), got sequence 1 with none/,
  });
  t.is(m.step, 0);
  m.dispose();
});

test('a kernel output too large to allocate is a named error, not an abort', async (t) => {
  const { kernels } = await import('../lib/index.js');
  t.throws(
    () => kernels.embeddingBackward({ ids: Int32Array.of(0), dout: new Float32Array(64), vocab: 2 ** 31 - 1, dim: 64 }),
    { message: /vocab \* dim \(the table's gradient\): expected at most 2\^30 elements/ },
  );
});

test('a model too large for host memory names its size', (t) => {
  // Only where the kernel refuses such an allocation up front (heuristic or strict overcommit).
  const mode = readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim();
  if (mode === '1') return t.pass('overcommit_memory = 1: the allocation would succeed and fault later; not tried');
  t.throws(
    () =>
      Model.create({
        hidden_size: 65536,
        intermediate_size: 65536,
        num_hidden_layers: 64,
        num_attention_heads: 512,
        vocab_size: 1 << 24,
        max_position_embeddings: 16,
      }),
    { message: /creating the model: out of host memory for its parameters \(\d+ fp32 values, [\d.]+ GiB/ },
  );
});

test('a batch whose activations do not fit in host memory names the run', async (t) => {
  const mode = readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim();
  if (mode === '1') return t.pass('overcommit_memory = 1: the allocation would succeed and fault later; not tried');
  // One layer with the widest MLP a config allows: a 2^17-token batch needs 2^35 floats for one activation.
  const m = Model.create(
    {
      hidden_size: 64,
      intermediate_size: 1 << 18,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      vocab_size: 32,
      max_position_embeddings: 1 << 17,
    },
    { seed: 1 },
  );
  const { packSequences } = await import('../lib/index.js');
  const batch = packSequences([{ ids: new Int32Array(1 << 17) }]);
  await t.throwsAsync(m.forward(batch), {
    message: /run over a batch of 131072 tokens in 1 sequences: out of host memory/,
  });
  m.dispose();
});

// A tiny file system that fills up: a tmpfs of 2 MiB, where this process may
// mount one (tried once here, then mounted by the case itself, so a run that
// leaves the case out leaves no mount behind).
function mountTiny(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const at = mkdtempSync(join(tmpdir(), 'genrm-tinyfs-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', at]).status === 0) return at;
  rmSync(at, { recursive: true, force: true });
  return undefined;
}
function unmountTiny(at: string): void {
  spawnSync('umount', [at]);
  rmSync(at, { recursive: true, force: true });
}
const canMount = (() => {
  const at = mountTiny();
  if (at) unmountTiny(at);
  return at !== undefined;
})();
const tinyTest = canMount ? test : test.skip;

tinyTest('a full disk fails the save with the path named and leaves the previous checkpoint loadable', async (t) => {
  const tiny = mountTiny();
  if (!tiny) return t.fail('the file system could be mounted a moment ago');
  t.teardown(() => unmountTiny(tiny));
  const dir = join(tiny, 'ckpt');
  const small = Model.create(config, { seed: 1 });
  await small.save(dir);
  const big = Model.create({ ...config, vocab_size: 8000, hidden_size: 64, intermediate_size: 128 }, { seed: 2 }); // 2 MiB of embeddings alone
  const err = await t.throwsAsync(big.save(dir));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  t.regex(err!.message, /genrm-tinyfs-[^/]+\/\.ckpt\.genrm-save\.\d+\.[0-9a-f]+\/model\.safetensors: ENOSPC/);
  const back = await Model.load(dir);
  t.is(first(back), first(small));
  t.deepEqual(readdirSync(tiny), ['ckpt'], 'the failed save left nothing behind');
  for (const m of [small, big, back]) m.dispose();
});

test("an atomic file write removes the temp files a dead writer of the same file left, not a live one's", async (t) => {
  const dir = scratch(t);
  const { writeFileAtomic } = await import('../lib/util/atomic-write.js');
  const dead = deadPid();
  writeFileSync(join(dir, `.reference.json.${dead}.0a1b2c.tmp`), 'partial');
  writeFileSync(join(dir, `.reference.json.${process.ppid}.0a1b2d.tmp`), 'being written');
  writeFileSync(join(dir, `.other.json.${dead}.0a1b2e.tmp`), "not this file's");
  await writeFileAtomic(join(dir, 'reference.json'), new TextEncoder().encode('{}\n'));
  t.deepEqual(readdirSync(dir).sort(), [
    `.other.json.${dead}.0a1b2e.tmp`,
    `.reference.json.${process.ppid}.0a1b2d.tmp`,
    'reference.json',
  ]);
});
