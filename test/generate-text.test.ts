// Text generation: stop strings are matched by the engine on the generated
// tokens' bytes (across tokens, never in the prompt, the earliest-ending one
// first), texts are cut before them, seeds reproduce texts whatever shares the
// batch, bad options are named, and over-long prompts are an error or keep
// their tail. The model is random but made to emit printable ASCII only, so a
// character is a byte and substrings of its text are valid stop strings.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateText,
  loadLanguageModel,
  Model,
  saveLanguageModel,
  stopTokensOf,
  trainTokenizerSync,
  type LanguageModel,
  type TextSample,
} from '../lib/index.js';

const tokenizer = trainTokenizerSync(
  ['the judge reads both answers', 'answer A is correct, answer B is not', 'check: 12 + 30 = 42'],
  { vocabSize: 300 },
);
const model = Model.create(
  {
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: tokenizer.vocabSize,
    max_position_embeddings: 64,
    initializer_range: 0.5,
  },
  { seed: 3 },
);
const lm: LanguageModel = { model, tokenizer };
const { tokenBytes, tokenOffsets } = tokenizer.byteTable();
const bytesOf = (id: number) => tokenBytes.subarray(tokenOffsets[id]!, tokenOffsets[id + 1]!);

test.before(async () => {
  // Tokens that are not all printable ASCII (and special tokens) get a zero
  // lm_head row, so their logit is 0 while the others' reach well above it.
  const head = model.parameter('lm_head.weight');
  const d = model.config.hidden_size;
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    const b = bytesOf(id);
    const printable = b.length > 0 && b.every((x) => x >= 0x20 && x < 0x7f);
    for (let j = 0; j < d; j++) head[id * d + j]! *= printable ? 4 : 0;
  }
  await model.setParameter('lm_head.weight', head);
});
test.after.always(() => model.dispose());

async function greedy(prompt: string, maxNewTokens = 14, stopStrings?: string[]): Promise<TextSample> {
  const { results } = await generateText(lm, [prompt], { maxNewTokens, temperature: 0, stopTokens: [], stopStrings });
  return results[0]![0]!;
}

/** Where each token's text ends, in characters (= bytes here). */
function ends(tokens: Int32Array): number[] {
  let at = 0;
  return Array.from(tokens, (t) => (at += bytesOf(t).length));
}

test('the test model writes printable ASCII, one character per byte', async (t) => {
  const s = await greedy('answer A');
  t.is(s.finishReason, 'length');
  t.regex(s.text, /^[\x20-\x7e]{14,}$/);
  t.is(s.text, tokenizer.decode(s.tokens));
});

test('a stop string spanning two tokens stops the sample; its text is cut before it', async (t) => {
  const full = await greedy('the judge');
  const e = ends(full.tokens);
  let tried = 0;
  for (let k = 1; k < full.tokens.length; k++) {
    const at = e[k - 1]! - 1;
    const stop = full.text.slice(at, at + 2); // the last character of token k-1 and the first of token k
    if (full.text.indexOf(stop) !== at) continue; // an earlier occurrence would stop first
    tried++;
    const s = await greedy('the judge', 14, [stop]);
    t.is(s.finishReason, 'stop');
    t.is(s.stopString, stop);
    t.deepEqual(
      Array.from(s.tokens),
      Array.from(full.tokens.subarray(0, k + 1)),
      `stop ${JSON.stringify(stop)} ends in token ${k}`,
    );
    t.is(s.text, full.text.slice(0, at));
  }
  t.true(
    tried >= 2,
    `only ${tried} token boundaries had a first-occurring stop string in ${JSON.stringify(full.text)}`,
  );
});

test('stop strings in the prompt, or across the prompt and the reply, do not stop the sample', async (t) => {
  const prompt = 'answer B is not';
  const full = await greedy(prompt);
  const inPrompt = 'B is';
  const across = prompt.slice(-2) + full.text.slice(0, 1);
  t.false(full.text.includes(inPrompt));
  t.false(full.text.includes(across), `${JSON.stringify(across)} also occurs in ${JSON.stringify(full.text)}`);
  const s = await greedy(prompt, 14, [inPrompt, across]);
  t.is(s.finishReason, 'length');
  t.is(s.stopString, undefined);
  t.is(s.text, full.text);
});

test('of several stop strings the one that ends first wins, whatever their order', async (t) => {
  const full = await greedy('check: 12');
  let i = 1;
  // A: two characters at i; B: four characters from i - 1, so it starts earlier but ends later.
  while (
    i + 3 <= full.text.length &&
    (full.text.indexOf(full.text.slice(i, i + 2)) !== i || full.text.indexOf(full.text.slice(i - 1, i + 3)) !== i - 1)
  )
    i++;
  t.true(i + 3 <= full.text.length, `no candidates in ${JSON.stringify(full.text)}`);
  const a = full.text.slice(i, i + 2),
    b = full.text.slice(i - 1, i + 3);
  for (const stops of [
    [b, a],
    [a, b],
  ]) {
    const s = await greedy('check: 12', 14, stops);
    t.is(s.finishReason, 'stop');
    t.is(s.stopString, a);
    t.is(s.text, full.text.slice(0, i));
  }
});

test('a seed gives the same text alone and in a crowded, bounded batch with stop strings', async (t) => {
  const prompt = { prompt: 'the judge reads', n: 4, seed: 11 };
  const probe = await generateText(lm, [prompt], { maxNewTokens: 16 });
  const texts = probe.results[0]!.map((s) => s.text);
  // Stop strings from late in two samples (the samples share their first characters), so some stop there.
  const stopStrings = [texts[0]!.slice(11, 13), texts[2]!.slice(12, 15), 'zz~'];
  const options = { maxNewTokens: 16, stopStrings };
  const alone = await generateText(lm, [prompt], options);
  const crowd = await generateText(
    lm,
    [
      { prompt: 'answer A is', n: 5, seed: 2 },
      prompt,
      { prompt: [{ role: 'user', content: 'which answer is correct?' }], seed: 5 },
      'check: 12 + 30',
    ],
    { ...options, maxBatch: 3 },
  );
  const view = (r: TextSample[]) =>
    r.map((s) => ({
      text: s.text,
      tokens: Array.from(s.tokens),
      finish: s.finishReason,
      stop: s.stopString,
      logprob: s.logprob,
    }));
  t.deepEqual(view(crowd.results[1]!), view(alone.results[0]!));
  const reasons = alone.results[0]!.map((s) => s.stopString ?? s.finishReason);
  t.true(
    reasons.includes(stopStrings[0]!) && reasons.includes(stopStrings[1]!),
    JSON.stringify(view(alone.results[0]!)),
  );
  for (const s of crowd.results.flat()) {
    t.true(
      stopStrings.every((x) => !s.text.includes(x)),
      `${JSON.stringify(s.text)} holds a stop string`,
    );
    if (s.stopString !== undefined) t.is(s.finishReason, 'stop');
  }
});

test('chat prompts are rendered with the chat template and an assistant header', async (t) => {
  const messages = [{ role: 'user' as const, content: 'is answer A correct?' }];
  const { promptIds, results } = await generateText(lm, [{ prompt: messages, n: 2 }], { maxNewTokens: 3 });
  t.deepEqual(promptIds[0], tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }).ids);
  t.is(results[0]!.length, 2);
});

test('bad stop strings and token tables are errors naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [['ok', ''], /stopStrings\[1\]: expected a non-empty string, got ""/],
    [[7], /stopStrings\[0\]: expected a string, got a number/],
    ['stop', /stopStrings: expected an array of strings, got a string/],
    [['x'.repeat(1025)], /stopStrings\[0\]: expected at most 1024 bytes of UTF-8, got 1025 bytes/],
    [['✓'.repeat(342)], /stopStrings\[0\]: expected at most 1024 bytes of UTF-8, got 1026 bytes/],
    [new Array(257).fill('x'), /stopStrings\.length: expected at most 256, got 257/],
  ];
  for (const [stopStrings, message] of cases)
    await t.throwsAsync(
      () => generateText(lm, ['answer'], { stopStrings: stopStrings as string[] }),
      { message },
      String(message),
    );
  const ids = [{ ids: tokenizer.encode('answer') }];
  await t.throwsAsync(() => model.generate(ids, { stopStrings: ['x'] }), {
    message: /tokenBytes, tokenOffsets: expected the bytes of every token id/,
  });
  const short = tokenizer.byteTable();
  await t.throwsAsync(
    () =>
      model.generate(ids, {
        stopStrings: ['x'],
        tokenBytes: short.tokenBytes,
        tokenOffsets: short.tokenOffsets.subarray(1),
      }),
    {
      message: new RegExp(
        `tokenOffsets\\.length: expected vocab_size \\+ 1 = ${tokenizer.vocabSize + 1} .*, got ${tokenizer.vocabSize}`,
      ),
    },
  );
  const bent = short.tokenOffsets.slice();
  bent[5] = bent[4]! - 1;
  await t.throwsAsync(
    () => model.generate(ids, { stopStrings: ['x'], tokenBytes: short.tokenBytes, tokenOffsets: bent }),
    { message: /tokenOffsets\[5\]: expected an offset in \[tokenOffsets\[4\] = / },
  );
  await t.throwsAsync(
    () =>
      model.generate(ids, {
        stopStrings: ['x'],
        tokenBytes: short.tokenBytes,
        tokenOffsets: short.tokenOffsets.slice().fill(0, 1),
      }),
    { message: /tokenOffsets\[\d+\]: expected tokenBytes\.length = / },
  );
  // The model still works, and a table larger than the tokenizer's pads with empty ids.
  const ok = await model.generate(ids, { maxNewTokens: 2, stopStrings: ['x'], ...tokenizer.byteTable() });
  t.is(ok.results[0]![0]!.tokens.length <= 2, true);
  const wide = tokenizer.byteTable(tokenizer.vocabSize + 3);
  t.is(wide.tokenOffsets.length, tokenizer.vocabSize + 4);
  t.is(wide.tokenOffsets[tokenizer.vocabSize + 3], wide.tokenBytes.length);
  t.is(tokenizer.byteTable(), tokenizer.byteTable());
});

test('a prompt too long for maxNewTokens is an error naming it, or keeps BOS and its last tokens with truncate: left', async (t) => {
  const long = 'answer A is correct, answer B is not. '.repeat(6);
  const raw = tokenizer.encode(long, { addSpecialTokens: true });
  t.true(raw.length > 54, `${raw.length} tokens`);
  await t.throwsAsync(() => generateText(lm, ['answer', long], { maxNewTokens: 10 }), {
    instanceOf: RangeError,
    message: `generateText: prompts[1]: ${raw.length} prompt tokens + maxNewTokens 10 exceed max_position_embeddings (64); shorten it, lower maxNewTokens, or pass truncate: 'left'`,
  });
  const { promptIds, results } = await generateText(lm, ['answer', { prompt: long, seed: 4 }], {
    maxNewTokens: 10,
    truncate: 'left',
    temperature: 0,
    stopTokens: [],
  });
  t.deepEqual(promptIds[0], tokenizer.encode('answer', { addSpecialTokens: true }));
  t.deepEqual(Array.from(promptIds[1]!), [tokenizer.bos, ...raw.subarray(raw.length - 53)]);
  t.is(results[1]![0]!.tokens.length, 10);
  // The same as generating from the kept ids directly.
  const direct = await model.generate([{ ids: promptIds[1]! }], { maxNewTokens: 10, temperature: 0 });
  t.deepEqual(results[1]![0]!.tokens, direct.results[0]![0]!.tokens);
  await t.throwsAsync(() => generateText(lm, ['answer'], { maxNewTokens: 64, truncate: 'left' }), {
    message: /maxNewTokens: expected at most 63 .*, got 64/,
  });
  await t.throwsAsync(() => generateText(lm, ['answer'], { truncate: 'right' as 'left' }), {
    message: /truncate: expected 'error' or 'left', got "right"/,
  });
  await t.throwsAsync(() => generateText(lm, [42 as unknown as string]), {
    message: /generateText: prompts\[0\]: expected a string or \{ prompt/,
  });
});

test("the model's eos_token_id (generation_config.json, else config.json) is the default stop", async (t) => {
  const free = await greedy('answer A', 10);
  const stopAt = free.tokens[3]!; // a token greedy decoding reaches on its fourth step
  const dir = await mkdtemp(join(tmpdir(), 'genrm-genconfig-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await saveLanguageModel(dir, lm);
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [stopAt], temperature: 0.6 }));
  const loaded = await loadLanguageModel(dir);
  t.teardown(() => loaded.model.dispose());
  t.deepEqual(stopTokensOf(loaded), [stopAt]);
  const { results } = await generateText(loaded, ['answer A'], { maxNewTokens: 10, temperature: 0 });
  const s = results[0]![0]!;
  t.is(s.finishReason, 'stop');
  t.deepEqual(Array.from(s.tokens), Array.from(free.tokens.subarray(0, 4)));
  // Saved again, the file comes along as it was.
  const again = join(dir, 'again');
  await saveLanguageModel(again, loaded);
  t.deepEqual(JSON.parse(await readFile(join(again, 'generation_config.json'), 'utf8')), {
    eos_token_id: [stopAt],
    temperature: 0.6,
  });
  // A language model without one, saved over that folder, leaves none behind.
  await saveLanguageModel(again, lm);
  t.false(existsSync(join(again, 'generation_config.json')));
  // Without generation_config.json, config.json's eos_token_id; without either, genrm's own.
  t.deepEqual(stopTokensOf({ ...lm, model: { config: { ...model.config, extra: { eos_token_id: 7 } } } }), [7]);
  t.deepEqual(stopTokensOf(lm), [tokenizer.eot, tokenizer.eos]);
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 'none' }));
  await t.throwsAsync(loadLanguageModel(dir), {
    message: /generation_config\.json: eos_token_id: expected a token id or a list of them, got "none"/,
  });
});
