// The model config: HF LlamaConfig names and defaults, validation messages,
// unsupported features, config.json round trips and the parameter list.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attentionBiases,
  hasMlpBias,
  ConfigError,
  configToJson,
  hasQkNorm,
  headDim,
  parameterShapes,
  parseLlamaConfig,
  readConfig,
  writeConfig,
} from '../lib/model/config.js';
import type { LlamaConfig } from '../lib/model/config.js';
import { packageRoot } from '../lib/package-root.js';
import {
  LLAMA3_SCALING,
  LLAMA_31_8B,
  LLAMA_32_1B,
  MISTRAL_7B_V03,
  QWEN25_05B,
  QWEN3_06B,
} from './published-configs.js';

let dir = '';
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'genrm-config-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
async function folder(): Promise<string> {
  const d = join(dir, String(counter++));
  await mkdir(d);
  return d;
}

const base = { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 97 };

function fails(t: import('ava').ExecutionContext, json: unknown, message: RegExp, field?: string) {
  const e = t.throws(() => parseLlamaConfig(json, 'my/config.json'), { instanceOf: ConfigError, message });
  t.true(e?.message.startsWith('my/config.json: '), e?.message);
  t.is(e?.source, 'my/config.json');
  if (field !== undefined) t.is(e?.field, field);
}

test('the required fields alone get HF LlamaConfig defaults', (t) => {
  t.deepEqual(parseLlamaConfig(base), {
    ...base,
    num_key_value_heads: 4,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    max_position_embeddings: 2048,
    tie_word_embeddings: false,
    reward_head: false,
    extra: {},
  });
  t.is(parseLlamaConfig({ ...base, num_key_value_heads: null }).num_key_value_heads, 4);
  t.is(parseLlamaConfig({ ...base, num_key_value_heads: 1 }).num_key_value_heads, 1);
});

test('an HF config.json: supported features pass, other fields are kept in extra', (t) => {
  const c = parseLlamaConfig({
    ...base,
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    num_key_value_heads: 2,
    head_dim: 16,
    hidden_act: 'silu',
    rope_theta: 500000.0,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: [2, 3],
    torch_dtype: 'bfloat16',
    reward_head: true,
  });
  t.is(c.num_key_value_heads, 2);
  t.is(c.rope_theta, 500000);
  t.is(c.head_dim, 16);
  t.is(c.rope_scaling, undefined);
  t.true(c.tie_word_embeddings);
  t.true(c.reward_head);
  t.is(c.model_type, undefined); // "llama", the default
  t.deepEqual(c.extra, {
    architectures: ['LlamaForCausalLM'],
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: [2, 3],
    torch_dtype: 'bfloat16',
    rope_scaling: null, // published as null: written back as null
  });
  t.is(configToJson(c).rope_scaling, null);
});

test('parsing a parsed config gives it back unchanged (extra fields are not nested)', (t) => {
  const once = parseLlamaConfig({
    ...base,
    bos_token_id: 1,
    initializer_range: 0.02,
    hidden_act: 'silu',
    head_dim: 16,
  });
  const twice = parseLlamaConfig(once);
  t.deepEqual(twice, once);
  t.is(twice.extra?.initializer_range, 0.02);
  t.false('extra' in (twice.extra ?? {}));
  // The merged extra fields are still checked.
  fails(t, { ...once, extra: { ...once.extra, mlp_bias: 'yes' } }, /mlp_bias: expected true or false/, 'mlp_bias');
  // Typed fields win over stale copies in extra.
  t.is(parseLlamaConfig({ ...once, extra: { hidden_size: 5 } }).hidden_size, 64);
  t.deepEqual(parseLlamaConfig({ ...once, extra: { hidden_size: 5 } }).extra, {});
});

test('transformers v5 rope_parameters: theta and the scaling are read from it, as from rope_scaling', (t) => {
  t.is(parseLlamaConfig({ ...base, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } }).rope_theta, 1e6);
  t.is(parseLlamaConfig({ ...base, rope_theta: 1e6, rope_parameters: { rope_theta: 1e6 } }).rope_theta, 1e6);
  const v5 = parseLlamaConfig({ ...base, rope_parameters: { ...LLAMA3_SCALING, rope_theta: 5e5 } });
  t.is(v5.rope_theta, 5e5);
  t.deepEqual(v5.rope_scaling, LLAMA3_SCALING);
  fails(
    t,
    { ...base, rope_parameters: { rope_type: 'llama3', rope_theta: 1e6 } },
    /rope_parameters.factor: expected a positive number, got nothing \(the field is missing\)/,
  );
  fails(
    t,
    { ...base, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_parameters: LLAMA3_SCALING },
    /rope_scaling: expected the same scaling as rope_parameters/,
  );
  fails(
    t,
    { ...base, rope_theta: 10, rope_parameters: { rope_theta: 1e6 } },
    /rope_theta: expected the same value as rope_parameters.rope_theta \(1000000\), got 10/,
  );
  fails(t, { ...base, rope_parameters: 'x' }, /rope_parameters: expected an object or null, got "x"/);
  fails(t, { ...base, rope_parameters: { rope_theta: -1 } }, /rope_theta: expected a positive number, got -1/);
});

test('integer fields must be positive integers; messages name the field and the value', (t) => {
  for (const field of [
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'num_attention_heads',
    'vocab_size',
    'max_position_embeddings',
    'num_key_value_heads',
  ]) {
    for (const bad of [0, -4, 2.5, '64', true, 2 ** 53]) {
      fails(
        t,
        { ...base, [field]: bad },
        new RegExp(
          `^my/config.json: ${field}: expected a positive integer, got ${JSON.stringify(bad).replace(/[.[\]]/g, '\\$&')}$`,
        ),
        field,
      );
    }
  }
  const { vocab_size: _, ...missing } = base;
  fails(t, missing, /vocab_size: expected a positive integer, got nothing \(the field is missing\)/, 'vocab_size');
});

test('rope_theta and rms_norm_eps must be positive numbers; booleans must be booleans', (t) => {
  for (const field of ['rope_theta', 'rms_norm_eps']) {
    for (const bad of [0, -1, '1e-5', null])
      fails(
        t,
        { ...base, [field]: bad },
        new RegExp(`${field}: expected a positive number, got ${JSON.stringify(bad)}`),
        field,
      );
  }
  t.is(parseLlamaConfig({ ...base, rms_norm_eps: 1e-5 }).rms_norm_eps, 1e-5);
  for (const field of ['tie_word_embeddings', 'reward_head']) {
    fails(t, { ...base, [field]: 'true' }, new RegExp(`${field}: expected true or false, got "true"`), field);
    fails(t, { ...base, [field]: 1 }, new RegExp(`${field}: expected true or false, got 1`), field);
  }
});

test('head and key/value head counts must divide evenly, and the head dimension must be even', (t) => {
  fails(
    t,
    { ...base, num_attention_heads: 5 },
    /num_attention_heads: expected a divisor of hidden_size \(64\) when head_dim is not given, got 5/,
    'num_attention_heads',
  );
  fails(
    t,
    { ...base, num_key_value_heads: 3 },
    /num_key_value_heads: expected a divisor of num_attention_heads \(4\), got 3/,
    'num_key_value_heads',
  );
  fails(
    t,
    { ...base, num_key_value_heads: 8 },
    /num_key_value_heads: expected a divisor of num_attention_heads \(4\), got 8/,
  );
  fails(
    t,
    { ...base, hidden_size: 60, num_attention_heads: 4 },
    /hidden_size: expected an even head dimension \(RoPE rotates pairs of dimensions\), got 60 \/ 4 = 15/,
    'hidden_size',
  );
  t.is(parseLlamaConfig({ ...base, hidden_size: 6, num_attention_heads: 3, num_key_value_heads: 1 }).hidden_size, 6);
});

test('features genrm does not implement are refused by name', (t) => {
  for (const kind of ['dynamic', 'yarn', 'longrope']) {
    fails(
      t,
      { ...base, rope_scaling: { rope_type: kind, factor: 2 } },
      new RegExp(
        `rope_scaling.rope_type: "${kind}" is not supported: genrm computes "default", "linear", "llama3" RoPE`,
      ),
      'rope_scaling.rope_type',
    );
  }
  fails(t, { ...base, rope_scaling: { factor: 2 } }, /rope_scaling.rope_type: expected one of default, linear, llama3/);
  fails(t, { ...base, mlp_bias: 'no' }, /mlp_bias: expected true or false, got "no"/, 'mlp_bias');
  fails(
    t,
    { ...base, hidden_act: 'gelu' },
    /hidden_act: "gelu" is not supported: genrm's MLP is SwiGLU, which needs "silu"/,
    'hidden_act',
  );
  fails(
    t,
    { ...base, head_dim: 512 },
    /head_dim: 512 is not supported: genrm's attention kernels take head dimensions up to 256/,
    'head_dim',
  );
  fails(
    t,
    { ...base, head_dim: 15 },
    /head_dim: expected an even head dimension \(RoPE rotates pairs of dimensions\), got 15/,
    'head_dim',
  );
  fails(
    t,
    { ...base, model_type: 'gemma' },
    /model_type: "gemma" is not supported: genrm implements "llama", "mistral", "qwen2" and "qwen3" models/,
    'model_type',
  );
  // A feature is named even when other fields are wrong too.
  fails(t, { model_type: 'gpt2' }, /model_type: "gpt2" is not supported/);
  t.is(parseLlamaConfig({ ...base, head_dim: 16, head_dim_note: 1 }).hidden_size, 64);
  t.is(parseLlamaConfig({ ...base, head_dim: null }).hidden_size, 64);
});

test('the config must be an object', (t) => {
  fails(t, [base], /^my\/config.json: expected a JSON object, got \[/);
  fails(t, null, /expected a JSON object, got null/);
  t.throws(() => parseLlamaConfig(3), { message: /^config: expected a JSON object, got 3/ });
});

test('readConfig names the file when it is missing, not JSON, or invalid', async (t) => {
  const d = await folder();
  const file = join(d, 'config.json');
  await t.throwsAsync(readConfig(d), { instanceOf: ConfigError, message: new RegExp(`^${file}: cannot read: ENOENT`) });
  await writeFile(file, '{"hidden_size": 64,');
  await t.throwsAsync(readConfig(d), { instanceOf: ConfigError, message: new RegExp(`^${file}: invalid JSON: `) });
  await writeFile(file, JSON.stringify({ ...base, hidden_size: 0 }));
  await t.throwsAsync(readConfig(d), {
    instanceOf: ConfigError,
    message: new RegExp(`^${file}: hidden_size: expected a positive integer, got 0$`),
  });
  await writeFile(file, JSON.stringify(base));
  t.is((await readConfig(d)).vocab_size, 97);
});

test('writeConfig writes HF identifying fields and float32, keeps extra fields, and reads back equal', async (t) => {
  const d = await folder();
  const config = parseLlamaConfig({
    ...base,
    num_key_value_heads: 2,
    reward_head: true,
    bos_token_id: 1,
    torch_dtype: 'bfloat16',
    architectures: ['Other'],
    custom: { a: [1] },
  });
  await writeConfig(d, config);
  const json = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'));
  t.deepEqual(Object.keys(json).slice(0, 2), ['architectures', 'model_type']);
  t.deepEqual(json.architectures, ['LlamaForCausalLM']);
  t.is(json.model_type, 'llama');
  t.is(json.torch_dtype, 'float32');
  t.is(json.bos_token_id, 1);
  t.deepEqual(json.custom, { a: [1] });
  t.is(json.rope_theta, 10000);
  t.is(json.reward_head, true);
  const back = await readConfig(d);
  const { extra, ...fields } = back;
  const { extra: _, ...original } = config;
  t.deepEqual(fields, original);
  t.deepEqual(extra, {
    architectures: ['LlamaForCausalLM'],
    bos_token_id: 1,
    custom: { a: [1] },
    torch_dtype: 'float32',
  });
  // Writing again is stable.
  await writeConfig(d, back);
  t.deepEqual(JSON.parse(await readFile(join(d, 'config.json'), 'utf8')), json);
  t.deepEqual(await readdir(d), ['config.json']);
});

test('writeConfig accepts a config built in code, and refuses one that would not load', async (t) => {
  const d = await folder();
  const config: LlamaConfig = {
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    vocab_size: 10,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    max_position_embeddings: 16,
    tie_word_embeddings: true,
    reward_head: false,
  };
  await writeConfig(d, config);
  t.deepEqual(await readConfig(d), {
    ...config,
    extra: { architectures: ['LlamaForCausalLM'], torch_dtype: 'float32' },
  });
  await t.throwsAsync(writeConfig(d, { ...config, num_key_value_heads: 3 }), {
    instanceOf: ConfigError,
    message: /config.json: num_key_value_heads: expected a divisor of num_attention_heads \(2\), got 3/,
  });
  await t.throwsAsync(writeConfig(d, { ...config, extra: { hidden_act: 'gelu' } }), {
    instanceOf: ConfigError,
    message: /hidden_act: "gelu" is not supported/,
  });
  // A stale head_dim in extra is not written: the model's own head dimension is the typed field's.
  t.false('head_dim' in configToJson({ ...config, extra: { head_dim: 8 } }));
  t.is((await readConfig(d)).num_key_value_heads, 1);
  t.deepEqual(configToJson(config).torch_dtype, 'float32');
});

test('parameterShapes lists every parameter by its HF name, in order', (t) => {
  const c = parseLlamaConfig({
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 5,
  });
  const layer = (i: number) => [
    [`model.layers.${i}.input_layernorm.weight`, [8]],
    [`model.layers.${i}.self_attn.q_proj.weight`, [8, 8]],
    [`model.layers.${i}.self_attn.k_proj.weight`, [4, 8]],
    [`model.layers.${i}.self_attn.v_proj.weight`, [4, 8]],
    [`model.layers.${i}.self_attn.o_proj.weight`, [8, 8]],
    [`model.layers.${i}.post_attention_layernorm.weight`, [8]],
    [`model.layers.${i}.mlp.gate_proj.weight`, [12, 8]],
    [`model.layers.${i}.mlp.up_proj.weight`, [12, 8]],
    [`model.layers.${i}.mlp.down_proj.weight`, [8, 12]],
  ];
  const expected = [
    ['model.embed_tokens.weight', [5, 8]],
    ...layer(0),
    ...layer(1),
    ['model.norm.weight', [8]],
    ['lm_head.weight', [5, 8]],
  ];
  t.deepEqual(
    parameterShapes(c).map((p) => [p.name, p.shape]),
    expected,
  );
  const tied = parameterShapes({ ...c, tie_word_embeddings: true, reward_head: true }).map((p) => [p.name, p.shape]);
  t.deepEqual(tied, [...expected.slice(0, -1), ['score.weight', [1, 8]]]);
  t.deepEqual(parameterShapes({ ...c, reward_head: true }).at(-1), { name: 'score.weight', shape: [1, 8] });
  // Parameter count of a Llama-2-7B shaped config, as a check on the arithmetic.
  const llama7b = parseLlamaConfig({
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    vocab_size: 32000,
  });
  t.is(
    parameterShapes(llama7b).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0),
    6738415616,
  );
});

const fixtureRoot = join(packageRoot(), 'test', 'fixtures');
const fixtureDirs = existsSync(fixtureRoot)
  ? readdirSync(fixtureRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(fixtureRoot, d.name, 'config.json')))
      .map((d) => d.name)
  : [];
for (const name of fixtureDirs) {
  test(`fixture ${name}/config.json parses`, async (t) => {
    const c = await readConfig(join(fixtureRoot, name));
    t.true(parameterShapes(c).length >= 3 + 9 * c.num_hidden_layers);
  });
}

test('Llama 3.1 and 3.2 configs as published load with their llama3 RoPE scaling and write back the same', (t) => {
  for (const json of [LLAMA_31_8B, LLAMA_32_1B]) {
    const c = parseLlamaConfig(json);
    t.deepEqual(c.rope_scaling, json.rope_scaling);
    t.is(headDim(c), (json as { head_dim?: number }).head_dim ?? 128);
    // Every field of the file comes back (torch_dtype is the stored dtype's, float32 here).
    const back = configToJson(c);
    for (const [key, value] of Object.entries(json)) if (key !== 'torch_dtype') t.deepEqual(back[key], value, key);
    t.deepEqual(parseLlamaConfig(back), { ...c, extra: { ...c.extra, torch_dtype: 'float32' } });
  }
  // The legacy key "type" is read as transformers reads it.
  const legacy = parseLlamaConfig({ ...base, rope_scaling: { type: 'linear', factor: 4 } });
  t.deepEqual(legacy.rope_scaling, { type: 'linear', rope_type: 'linear', factor: 4 });
  fails(
    t,
    { ...base, rope_scaling: { ...LLAMA3_SCALING, high_freq_factor: 0.5 } },
    /rope_scaling.high_freq_factor: expected a number above low_freq_factor \(1\), got 0.5/,
    'rope_scaling.high_freq_factor',
  );
  fails(
    t,
    { ...base, rope_scaling: { ...LLAMA3_SCALING, original_max_position_embeddings: 81.5 } },
    /rope_scaling.original_max_position_embeddings: expected a positive integer, got 81.5/,
  );
});

test('an explicit head_dim sets the attention width apart from hidden_size', (t) => {
  const c = parseLlamaConfig({ ...base, head_dim: 32 });
  t.is(headDim(c), 32);
  const shapes = new Map(parameterShapes(c).map((p) => [p.name, p.shape]));
  t.deepEqual(shapes.get('model.layers.0.self_attn.q_proj.weight'), [4 * 32, 64]);
  t.deepEqual(shapes.get('model.layers.0.self_attn.k_proj.weight'), [4 * 32, 64]);
  t.deepEqual(shapes.get('model.layers.0.self_attn.o_proj.weight'), [64, 4 * 32]);
  // hidden_size need not divide by the heads when head_dim is given (Qwen3-style shapes).
  t.is(headDim(parseLlamaConfig({ ...base, hidden_size: 60, head_dim: 16 })), 16);
});

test('Mistral configs load as Llama with a window, and write back as Mistral', (t) => {
  const c = parseLlamaConfig(MISTRAL_7B_V03);
  t.is(c.model_type, 'mistral');
  t.is(c.sliding_window, undefined);
  const back = configToJson(c);
  for (const [key, value] of Object.entries(MISTRAL_7B_V03))
    if (key !== 'torch_dtype') t.deepEqual(back[key], value, key);
  const v01 = parseLlamaConfig({ ...MISTRAL_7B_V03, sliding_window: 4096, rope_theta: 10000.0, vocab_size: 32000 });
  t.is(v01.sliding_window, 4096);
  t.is(configToJson(v01).sliding_window, 4096);
  fails(
    t,
    { ...MISTRAL_7B_V03, sliding_window: 0 },
    /sliding_window: expected a positive integer or null, got 0/,
    'sliding_window',
  );
  fails(
    t,
    { ...base, model_type: 'gemma' },
    /model_type: "gemma" is not supported: genrm implements "llama", "mistral", "qwen2" and "qwen3" models/,
    'model_type',
  );
});

test('Qwen2 configs load with q/k/v biases; Llama attention_bias adds o, mlp_bias gate/up/down', (t) => {
  const q = parseLlamaConfig(QWEN25_05B);
  t.is(q.model_type, 'qwen2');
  t.deepEqual(attentionBiases(q), { qkv: true, o: false });
  const names = parameterShapes(q).map((p) => p.name);
  t.deepEqual(names.slice(2, 9), [
    'model.layers.0.self_attn.q_proj.weight',
    'model.layers.0.self_attn.q_proj.bias',
    'model.layers.0.self_attn.k_proj.weight',
    'model.layers.0.self_attn.k_proj.bias',
    'model.layers.0.self_attn.v_proj.weight',
    'model.layers.0.self_attn.v_proj.bias',
    'model.layers.0.self_attn.o_proj.weight',
  ]);
  const back = configToJson(q);
  for (const [key, value] of Object.entries(QWEN25_05B)) if (key !== 'torch_dtype') t.deepEqual(back[key], value, key);
  fails(
    t,
    { ...QWEN25_05B, use_sliding_window: true },
    /use_sliding_window: true is not supported: genrm computes full attention; use false/,
    'use_sliding_window',
  );
  t.deepEqual(attentionBiases(parseLlamaConfig({ ...base, attention_bias: true })), { qkv: true, o: true });
  t.deepEqual(attentionBiases(parseLlamaConfig({ ...base, model_type: 'mistral', attention_bias: true })), {
    qkv: false,
    o: false,
  });
  t.true(
    parameterShapes(parseLlamaConfig({ ...base, attention_bias: true })).some((p) => p.name.endsWith('o_proj.bias')),
  );
  const mlp = parseLlamaConfig({ ...base, mlp_bias: true });
  t.true(hasMlpBias(mlp));
  const shapes = parameterShapes(mlp).filter((p) => p.name.startsWith('model.layers.0.mlp.'));
  t.deepEqual(
    shapes.map((p) => `${p.name} ${p.shape.join('x')}`),
    [
      `model.layers.0.mlp.gate_proj.weight ${base.intermediate_size}x${base.hidden_size}`,
      `model.layers.0.mlp.gate_proj.bias ${base.intermediate_size}`,
      `model.layers.0.mlp.up_proj.weight ${base.intermediate_size}x${base.hidden_size}`,
      `model.layers.0.mlp.up_proj.bias ${base.intermediate_size}`,
      `model.layers.0.mlp.down_proj.weight ${base.hidden_size}x${base.intermediate_size}`,
      `model.layers.0.mlp.down_proj.bias ${base.hidden_size}`,
    ],
  );
  t.is(configToJson(mlp).mlp_bias, true);
  // Qwen's and Mistral's MLPs take no bias, whatever the field says (as transformers builds them).
  t.false(hasMlpBias(parseLlamaConfig({ ...QWEN25_05B, mlp_bias: true })));
});

test('Qwen3 configs load with per-head q/k norms and a head_dim apart from hidden / heads', (t) => {
  const c = parseLlamaConfig(QWEN3_06B);
  t.is(c.model_type, 'qwen3');
  t.true(hasQkNorm(c));
  t.is(headDim(c), 128);
  t.deepEqual(attentionBiases(c), { qkv: false, o: false });
  const shapes = new Map(parameterShapes(c).map((p) => [p.name, p.shape]));
  t.deepEqual(shapes.get('model.layers.0.self_attn.q_proj.weight'), [16 * 128, 1024]);
  t.deepEqual(shapes.get('model.layers.0.self_attn.q_norm.weight'), [128]);
  t.deepEqual(shapes.get('model.layers.0.self_attn.k_norm.weight'), [128]);
  // Written back field for field (rope_scaling null and absent mean the same to transformers).
  const back = configToJson(c);
  for (const [key, value] of Object.entries(QWEN3_06B))
    if (key !== 'torch_dtype' && key !== 'rope_scaling') t.deepEqual(back[key], value, key);
  t.false(hasQkNorm(parseLlamaConfig({ ...QWEN3_06B, model_type: 'qwen2' })));
});
