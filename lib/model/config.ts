// The model config: Hugging Face's field names and defaults for the Llama family
// as transformers publishes it (llama, mistral, qwen2, qwen3: one decoder with
// optional biases, q/k norms, head_dim, scaled RoPE and a window), so a checkpoint
// folder moves between genrm and transformers unchanged. Features genrm's engine
// does not implement are rejected here, by name, rather than silently computing a
// different model.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface LlamaConfig {
  /**
   * The family as config.json names it: "llama" (the default), or "mistral", Llama's architecture with an
   * optional sliding attention window. Written back with the family's architectures entry.
   */
  model_type?: ModelType;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** Grouped-query attention: key/value heads shared by num_attention_heads / num_key_value_heads query heads. */
  num_key_value_heads: number;
  vocab_size: number;
  rope_theta: number;
  rms_norm_eps: number;
  max_position_embeddings: number;
  /** lm_head shares model.embed_tokens.weight (no lm_head.weight tensor). */
  tie_word_embeddings: boolean;
  /**
   * Width of each attention head when the file gives one (Qwen3, Llama 3.x publish it); absent: hidden_size /
   * num_attention_heads. q_proj then maps hidden_size to num_attention_heads * head_dim.
   */
  head_dim?: number;
  /** RoPE's scaling as the file gives it (the keys it had, with rope_type always set); absent: plain RoPE. */
  rope_scaling?: RopeScaling;
  /**
   * Mistral's attention window; absent: none. genrm computes full attention, equal to the windowed one on
   * sequences of at most this many tokens, and refuses longer ones.
   */
  sliding_window?: number;
  /** genrm's own: a Bradley-Terry scalar head, score.weight [1, hidden_size]. */
  reward_head: boolean;
  /** Other config.json fields (bos_token_id, initializer_range, ...), kept so writing back preserves them. */
  extra?: Record<string, unknown>;
}

/**
 * The rope_scaling variants genrm computes exactly (transformers' modeling_rope_utils): "linear" divides every
 * frequency by factor; "llama3" (Llama 3.1-3.3) divides the low ones, keeps the high ones and blends between.
 */
export type RopeScaling =
  | { rope_type: 'linear'; factor: number; [key: string]: unknown }
  | {
      rope_type: 'llama3';
      factor: number;
      low_freq_factor: number;
      high_freq_factor: number;
      original_max_position_embeddings: number;
      [key: string]: unknown;
    };

/** config.json model_type values genrm implements. */
export const MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];
const ARCHITECTURES: Record<ModelType, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/**
 * Which attention projections have biases: q, k and v in Qwen2 (always); all four in Llama and Qwen3 with
 * attention_bias. Mistral has none (its attention takes no such setting).
 */
export function attentionBiases(config: LlamaConfig): { qkv: boolean; o: boolean } {
  const family = config.model_type ?? 'llama';
  if (family === 'qwen2') return { qkv: true, o: false };
  const both = (family === 'llama' || family === 'qwen3') && config.extra?.attention_bias === true;
  return { qkv: both, o: both };
}

/** Whether gate, up and down have biases: Llama's mlp_bias (Qwen2, Qwen3 and Mistral have none). */
export function hasMlpBias(config: LlamaConfig): boolean {
  return (config.model_type ?? 'llama') === 'llama' && config.extra?.mlp_bias === true;
}

/** Whether each head of q and k is RMS-normalised before RoPE (Qwen3's q_norm and k_norm). */
export function hasQkNorm(config: LlamaConfig): boolean {
  return config.model_type === 'qwen3';
}

/** rope_scaling.rope_type values genrm implements (and "default": plain RoPE). */
export const ROPE_TYPES = ['default', 'linear', 'llama3'] as const;

/** A config.json (or config object) genrm cannot use; names the source and the field. */
export class ConfigError extends Error {
  readonly source: string;
  readonly field: string | undefined;

  constructor(source: string, detail: string, field?: string) {
    super(`${source}: ${field !== undefined ? `${field}: ` : ''}${detail}`);
    this.name = 'ConfigError';
    this.source = source;
    this.field = field;
  }
}

const POSITIVE_INT = 'expected a positive integer';
const positiveInt = () =>
  z.number({ error: POSITIVE_INT }).int({ error: POSITIVE_INT }).positive({ error: POSITIVE_INT });
const positiveNumber = () =>
  z.number({ error: 'expected a positive number' }).positive({ error: 'expected a positive number' });
const bool = () => z.boolean({ error: 'expected true or false' });

/** The fields genrm reads, with HF LlamaConfig's defaults where HF has one. */
export const llamaConfigSchema = z.looseObject({
  hidden_size: positiveInt(),
  intermediate_size: positiveInt(),
  num_hidden_layers: positiveInt(),
  num_attention_heads: positiveInt(),
  // HF: None means "same as num_attention_heads" (plain multi-head attention).
  num_key_value_heads: positiveInt().nullish(),
  vocab_size: positiveInt(),
  rope_theta: positiveNumber().default(10000),
  rms_norm_eps: positiveNumber().default(1e-6),
  max_position_embeddings: positiveInt().default(2048),
  tie_word_embeddings: bool().default(false),
  reward_head: bool().default(false),
});

const TYPED_FIELDS = [
  'model_type',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'vocab_size',
  'rope_theta',
  'rms_norm_eps',
  'max_position_embeddings',
  'tie_word_embeddings',
  'head_dim',
  'rope_scaling',
  'sliding_window',
  'reward_head',
] as const satisfies ReadonlyArray<keyof LlamaConfig>;

// sliding_window is Mistral's; other families' configs carry it unused (Qwen2 with use_sliding_window false),
// so there it stays an untouched extra field.
function isTypedField(key: string, family: unknown): boolean {
  if (key === 'sliding_window') return family === 'mistral';
  return (TYPED_FIELDS as readonly string[]).includes(key);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function unsupported(source: string, field: string, value: unknown, why: string): never {
  throw new ConfigError(source, `${describe(value)} is not supported: ${why}`, field);
}

/**
 * Validates a parsed config.json (or a LlamaConfig) and fills HF's defaults.
 * `source` (a file path, or 'config') prefixes every error message.
 */
export function parseLlamaConfig(json: unknown, source = 'config'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(source, `expected a JSON object, got ${describe(json)}`);
  }
  let raw = json as Record<string, unknown>;
  // A LlamaConfig (this function's output) is accepted too: its extra fields are
  // merged back, so parseLlamaConfig(parseLlamaConfig(x)) equals parseLlamaConfig(x)
  // instead of nesting them under "extra".
  const nested = raw.extra;
  if (typeof nested === 'object' && nested !== null && !Array.isArray(nested)) {
    const { extra: _, ...fields } = raw;
    raw = { ...(nested as Record<string, unknown>), ...fields };
  }

  // Features checked first: a config that uses one should say so, not fail on a
  // field that only matters once the feature is gone.
  const modelType = raw.model_type ?? 'llama';
  if (!(MODEL_TYPES as readonly unknown[]).includes(modelType)) {
    unsupported(
      source,
      'model_type',
      raw.model_type,
      `genrm implements ${MODEL_TYPES.slice(0, -1)
        .map((m) => `"${m}"`)
        .join(', ')} and "${MODEL_TYPES[MODEL_TYPES.length - 1]}" models`,
    );
  }
  let slidingWindow: number | undefined;
  if (modelType === 'mistral' && raw.sliding_window !== undefined && raw.sliding_window !== null) {
    const w = raw.sliding_window;
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 1)
      throw new ConfigError(source, `expected a positive integer or null, got ${describe(w)}`, 'sliding_window');
    slidingWindow = w;
  }
  let ropeScaling = parseRopeScaling(raw.rope_scaling, source, 'rope_scaling');
  for (const field of ['attention_bias', 'mlp_bias'] as const) {
    const v = raw[field];
    if (v !== undefined && v !== false && v !== true)
      throw new ConfigError(source, `expected true or false, got ${describe(v)}`, field);
  }
  if ((modelType === 'qwen2' || modelType === 'qwen3') && raw.use_sliding_window === true)
    unsupported(source, 'use_sliding_window', true, 'genrm computes full attention; use false');
  if (raw.hidden_act !== undefined && raw.hidden_act !== 'silu') {
    unsupported(source, 'hidden_act', raw.hidden_act, 'genrm\'s MLP is SwiGLU, which needs "silu"');
  }

  // Transformers v5 moved rope_theta and the scaling fields into rope_parameters
  // ({rope_type, rope_theta, factor, ...}).
  let input: Record<string, unknown> = raw;
  const rp = raw.rope_parameters;
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'object' || Array.isArray(rp))
      throw new ConfigError(source, `expected an object or null, got ${describe(rp)}`, 'rope_parameters');
    const params = rp as Record<string, unknown>;
    const fromParameters = parseRopeScaling(params, source, 'rope_parameters');
    if (fromParameters !== undefined) {
      if (ropeScaling !== undefined && JSON.stringify(ropeScaling) !== JSON.stringify(fromParameters))
        throw new ConfigError(
          source,
          `expected the same scaling as rope_parameters (${describe(params)}), got ${describe(raw.rope_scaling)}`,
          'rope_scaling',
        );
      ropeScaling = fromParameters;
    }
    if (params.rope_theta !== undefined) {
      if (raw.rope_theta !== undefined && raw.rope_theta !== params.rope_theta) {
        throw new ConfigError(
          source,
          `expected the same value as rope_parameters.rope_theta (${describe(params.rope_theta)}), got ${describe(raw.rope_theta)}`,
          'rope_theta',
        );
      }
      input = { ...raw, rope_theta: params.rope_theta };
    }
  }

  const result = llamaConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.map(String).join('.');
    throw new ConfigError(source, `${issue.message}, got ${describe(issue.input)}`, field || undefined);
  }
  const d = result.data;
  const kvHeads = d.num_key_value_heads ?? d.num_attention_heads;

  let explicitHeadDim: number | undefined;
  if (raw.head_dim !== undefined && raw.head_dim !== null) {
    const v = raw.head_dim;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new ConfigError(source, `${POSITIVE_INT}, got ${describe(v)}`, 'head_dim');
    explicitHeadDim = v;
  } else if (d.hidden_size % d.num_attention_heads !== 0) {
    throw new ConfigError(
      source,
      `expected a divisor of hidden_size (${d.hidden_size}) when head_dim is not given, got ${d.num_attention_heads}`,
      'num_attention_heads',
    );
  }
  if (d.num_attention_heads % kvHeads !== 0) {
    throw new ConfigError(
      source,
      `expected a divisor of num_attention_heads (${d.num_attention_heads}), got ${kvHeads}`,
      'num_key_value_heads',
    );
  }
  const headDim = explicitHeadDim ?? d.hidden_size / d.num_attention_heads;
  const headDimField = explicitHeadDim !== undefined ? 'head_dim' : 'hidden_size';
  const headDimText =
    explicitHeadDim !== undefined ? `${headDim}` : `${d.hidden_size} / ${d.num_attention_heads} = ${headDim}`;
  if (headDim % 2 !== 0) {
    throw new ConfigError(
      source,
      `expected an even head dimension (RoPE rotates pairs of dimensions), got ${headDimText}`,
      headDimField,
    );
  }
  if (headDim > MAX_HEAD_DIM) {
    unsupported(source, headDimField, headDim, `genrm's attention kernels take head dimensions up to ${MAX_HEAD_DIM}`);
  }

  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // A typed field published as null (Qwen3's "rope_scaling": null) is kept, to be written back as it was.
    if (!isTypedField(key, modelType) || value === null)
      Object.defineProperty(extra, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return {
    ...(modelType !== 'llama' ? { model_type: modelType as ModelType } : {}),
    hidden_size: d.hidden_size,
    intermediate_size: d.intermediate_size,
    num_hidden_layers: d.num_hidden_layers,
    num_attention_heads: d.num_attention_heads,
    num_key_value_heads: kvHeads,
    vocab_size: d.vocab_size,
    rope_theta: d.rope_theta,
    rms_norm_eps: d.rms_norm_eps,
    max_position_embeddings: d.max_position_embeddings,
    tie_word_embeddings: d.tie_word_embeddings,
    ...(explicitHeadDim !== undefined ? { head_dim: explicitHeadDim } : {}),
    ...(ropeScaling !== undefined ? { rope_scaling: ropeScaling } : {}),
    ...(slidingWindow !== undefined ? { sliding_window: slidingWindow } : {}),
    reward_head: d.reward_head,
    extra,
  };
}

const MAX_HEAD_DIM = 256;

function scalingNumber(
  params: Record<string, unknown>,
  key: string,
  source: string,
  field: string,
  check: (v: number) => boolean,
  expected: string,
): number {
  const v = params[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v))
    throw new ConfigError(source, `expected ${expected}, got ${describe(v)}`, `${field}.${key}`);
  return v;
}

/**
 * rope_scaling (or v5's rope_parameters) as genrm computes it: undefined for plain RoPE, the normalised object for
 * "linear" and "llama3", and a ConfigError naming the field for anything else (dynamic, yarn, longrope... change
 * the model with the sequence length or the attention's scale, which genrm does not compute).
 */
function parseRopeScaling(value: unknown, source: string, field: string): RopeScaling | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(source, `expected an object or null, got ${describe(value)}`, field);
  const params = value as Record<string, unknown>;
  // Older configs name the variant "type"; transformers reads either.
  const kind = params.rope_type ?? params.type;
  const supported = `genrm computes ${ROPE_TYPES.map((t) => `"${t}"`).join(', ')} RoPE exactly`;
  if (kind === undefined && field === 'rope_parameters') return undefined;
  if (typeof kind !== 'string')
    throw new ConfigError(
      source,
      `expected one of ${ROPE_TYPES.join(', ')}, got ${describe(kind)}`,
      `${field}.rope_type`,
    );
  if (kind === 'default') return undefined;
  if (kind !== 'linear' && kind !== 'llama3') unsupported(source, `${field}.rope_type`, kind, supported);
  const positive = (v: number) => v > 0;
  const factor = scalingNumber(params, 'factor', source, field, positive, 'a positive number');
  if (kind === 'linear') return { ...stripV5(params), rope_type: 'linear', factor };
  const low = scalingNumber(params, 'low_freq_factor', source, field, positive, 'a positive number');
  const high = scalingNumber(
    params,
    'high_freq_factor',
    source,
    field,
    (v) => v > low,
    `a number above low_freq_factor (${low})`,
  );
  const original = scalingNumber(
    params,
    'original_max_position_embeddings',
    source,
    field,
    (v) => Number.isInteger(v) && v > 0,
    'a positive integer',
  );
  return {
    ...stripV5(params),
    rope_type: 'llama3',
    factor,
    low_freq_factor: low,
    high_freq_factor: high,
    original_max_position_embeddings: original,
  };
}

/** rope_parameters' rope_theta belongs to the config, not to the scaling. */
function stripV5(params: Record<string, unknown>): Record<string, unknown> {
  const { rope_theta: _, ...rest } = params;
  return rest;
}

/** head_dim when the config gives one, else hidden_size / num_attention_heads. */
export function headDim(config: LlamaConfig): number {
  return config.head_dim ?? config.hidden_size / config.num_attention_heads;
}

/** Reads and validates `<dir>/config.json`. */
export async function readConfig(dir: string): Promise<LlamaConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `invalid JSON: ${(e as Error).message}`);
  }
  return parseLlamaConfig(json, file);
}

/**
 * The JSON object writeConfig writes: HF's identifying fields, the config, then extra fields; torch_dtype names
 * the dtype the weights are stored in.
 */
export function configToJson(config: LlamaConfig, torchDtype = 'float32'): Record<string, unknown> {
  const family = config.model_type ?? 'llama';
  const out: Record<string, unknown> = { architectures: [ARCHITECTURES[family]], model_type: family };
  for (const key of TYPED_FIELDS) if (config[key] !== undefined) out[key] = config[key];
  // Mistral's configs always carry the key; null is "no window".
  if (family === 'mistral') out.sliding_window = config.sliding_window ?? null;
  for (const [key, value] of Object.entries(config.extra ?? {})) {
    // A stale copy of a typed field in extra never overrides (or resurrects) the typed value; a null one
    // stands for a field published as null and unset here.
    if (key in out || key === 'torch_dtype' || (isTypedField(key, family) && value !== null)) continue;
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  out.torch_dtype = torchDtype;
  return out;
}

/**
 * Writes `<dir>/config.json` atomically. The result is validated first, so a
 * config built by hand that genrm (or transformers) could not load is never written.
 */
export async function writeConfig(dir: string, config: LlamaConfig, torchDtype = 'float32'): Promise<void> {
  const file = join(dir, 'config.json');
  const json = configToJson(config, torchDtype);
  parseLlamaConfig(json, file);
  await writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
}

export interface ParameterShape {
  name: string;
  shape: number[];
}

/** Every parameter, by its HF name, in the order genrm stores them. */
export function parameterShapes(config: LlamaConfig): ParameterShape[] {
  const d = config.hidden_size;
  const f = config.intermediate_size;
  const v = config.vocab_size;
  const hd = headDim(config);
  const q = config.num_attention_heads * hd;
  const kv = config.num_key_value_heads * hd;
  const bias = attentionBiases(config);
  const mlpBias = hasMlpBias(config);
  const out: ParameterShape[] = [{ name: 'model.embed_tokens.weight', shape: [v, d] }];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const linear = (name: string, shape: number[], biased: boolean): ParameterShape[] => [
      { name: `${name}.weight`, shape },
      ...(biased ? [{ name: `${name}.bias`, shape: [shape[0]!] }] : []),
    ];
    const projection = (name: string, shape: number[], biased: boolean) =>
      linear(`${p}.self_attn.${name}`, shape, biased);
    const mlp = (name: string, shape: number[]) => linear(`${p}.mlp.${name}`, shape, mlpBias);
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [d] },
      ...projection('q_proj', [q, d], bias.qkv),
      ...projection('k_proj', [kv, d], bias.qkv),
      ...projection('v_proj', [kv, d], bias.qkv),
      ...projection('o_proj', [d, q], bias.o),
      ...(hasQkNorm(config)
        ? [
            { name: `${p}.self_attn.q_norm.weight`, shape: [hd] },
            { name: `${p}.self_attn.k_norm.weight`, shape: [hd] },
          ]
        : []),
      { name: `${p}.post_attention_layernorm.weight`, shape: [d] },
      ...mlp('gate_proj', [f, d]),
      ...mlp('up_proj', [f, d]),
      ...mlp('down_proj', [d, f]),
    );
  }
  out.push({ name: 'model.norm.weight', shape: [d] });
  if (!config.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [v, d] });
  if (config.reward_head) out.push({ name: 'score.weight', shape: [1, d] });
  return out;
}
