// The engine's model from TypeScript: create or load a Llama-style model, run
// forwards over packed batches, compute losses and gradients for the SFT, DPO and
// Bradley-Terry objectives, take AdamW steps, and save Hugging Face checkpoints.
// Every heavy call is one asynchronous native call; calls on one model queue.
import { join } from 'node:path';
import { ADAMW_DEFAULTS, DPO_DEFAULTS } from '../defaults.js';
import type { NativeBuffer, NativeModel, NativeObjective } from '../binding.js';
import { native, type Backend } from '../native.js';
import type { PackedBatch } from './batch.js';
import {
  CheckpointId,
  ID_METADATA,
  addFolderFiles,
  readCheckpointFolder,
  writeCheckpointFolder,
  type CheckpointManifest,
} from './checkpoint.js';
import {
  attentionBiases,
  hasMlpBias,
  hasQkNorm,
  parseLlamaConfig,
  readConfig,
  writeConfig,
  type LlamaConfig,
} from './config.js';
import { float32ToBf16, openSafetensors, writeSafetensors, type SafetensorsReader } from './safetensors.js';
import { openWeights, writeWeights } from './weights.js';

export type DpoLossType = 'sigmoid' | 'ipo' | 'hinge' | 'robust';

/** What a training call optimises. Metric names follow TRL. */
export type Objective =
  | { type: 'sft' }
  | {
      type: 'dpo';
      /** (chosen, rejected) sequence indices in the batch. */
      pairs: ReadonlyArray<readonly [number, number]>;
      /** Reference model's per-sequence log-prob sums (same batch layout). */
      refLogps: ArrayLike<number>;
      /** Default 1.0 (the paper's; DPO_DEFAULTS in defaults.ts). */
      beta?: number;
      /** Default 0 (TRL's). */
      labelSmoothing?: number;
      /** Default 'sigmoid' (TRL's). ipo normalises log-probs by target length. */
      lossType?: DpoLossType;
    }
  | {
      type: 'bt';
      pairs: ReadonlyArray<readonly [number, number]>;
      /** Per-pair margin subtracted from r_chosen - r_rejected; default none. */
      margins?: ArrayLike<number>;
      /** Adds coefficient * mean((r_c + r_r)^2); default 0. */
      centerRewardsCoefficient?: number;
    };

export interface ForwardResult {
  /** Per-sequence sum of target-token log-probs (when the batch has a lossMask). */
  seqLogps?: Float32Array;
  /** Per-sequence number of target tokens. */
  seqCounts?: Float32Array;
  /** Per-sequence Bradley-Terry reward, read at each sequence's last token (reward-head models). */
  rewards?: Float32Array;
  /** Full logits [rows, vocab] for the requested rows. */
  logits?: Float32Array;
}

/** Loss and TRL-named metrics (loss, rewards/chosen, ..., grad_norm, learning_rate). */
export type Metrics = Record<string, number>;

export interface LossResult {
  metrics: Metrics;
  forward: ForwardResult;
}

/** One AdamW step's settings; the defaults are ADAMW_DEFAULTS (defaults.ts), as the trainers'. */
export interface OptimizerOptions {
  /** Peak learning rate. Default 1e-6 (the paper's). */
  lr?: number;
  /** Default 0.9 (the paper's). */
  beta1?: number;
  /** Default 0.95 (the paper's). */
  beta2?: number;
  /** Default 1e-8 (HF's). */
  eps?: number;
  /** Decoupled weight decay on all weights except norms. Default 0.1 (the paper's). */
  weightDecay?: number;
  /** Global-norm gradient clipping; 0 = off. Default 1 (HF's). */
  maxGradNorm?: number;
  /** Linear warmup from 0 over this many steps. Default 0. */
  warmupSteps?: number;
  /** Cosine decay to minLrRatio * lr at this step; 0 = constant after warmup. Default 0. */
  totalSteps?: number;
  /** Default 0. */
  minLrRatio?: number;
}

export interface StepMetrics {
  grad_norm: number;
  learning_rate: number;
  /** Optimizer steps taken so far. */
  step: number;
}

export interface Prompt {
  /** Prompt token ids (at least one). */
  ids: ArrayLike<number>;
  /** Samples to draw; they share one prefill of the prompt. Default 1. */
  n?: number;
  /** Sample j draws from a random stream seeded by (seed, j), whatever else is in the batch. Default 0. */
  seed?: number;
}

export interface GenerateOptions {
  /** Default 16. prompt + maxNewTokens must fit max_position_embeddings. */
  maxNewTokens?: number;
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off (default). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP; 1 = off (default). */
  topP?: number;
  /** A sample stops after emitting one of these (it is included in its tokens). */
  stopTokens?: ArrayLike<number>;
  /**
   * A sample stops as soon as its generated text (never the prompt) contains one
   * of these, even across tokens; the token that completes it is the last one kept.
   * Matched on bytes, so it needs tokenBytes and tokenOffsets (spread in
   * `tokenizer.byteTable(config.vocab_size)`). At most 256, each 1 to 1024 bytes of UTF-8.
   */
  stopStrings?: readonly string[];
  /** The bytes of every token id, flat; see Tokenizer.byteTable. Required with stopStrings. */
  tokenBytes?: Uint8Array;
  /** vocab_size + 1 offsets into tokenBytes: id t is tokenBytes[tokenOffsets[t] .. tokenOffsets[t + 1]). */
  tokenOffsets?: Int32Array;
  /** Also return every step's logits (for tests; memory grows with steps x vocab). */
  returnLogits?: boolean;
  /**
   * Samples decoding at once, which bounds the key/value cache; a finished
   * sample's slot goes to the next waiting one. Default 0: all samples at once.
   */
  maxBatch?: number;
  /** Called on the JS thread as tokens are produced (after each decode round), while generation runs. */
  onToken?: (event: { prompt: number; sample: number; token: number }) => void;
  /**
   * Stops generation after the current decode round: the call then resolves with
   * what was produced, unfinished samples ending with finishReason 'abort'. A
   * signal already aborted when the call would start rejects with an AbortError.
   */
  signal?: AbortSignal;
}

export interface Sample {
  tokens: Int32Array;
  /** Sum of the generated tokens' log-probs under the model (temperature 1, unfiltered). */
  logprob: number;
  finishReason: 'stop' | 'length' | 'abort';
  /**
   * When a stop string ended the sample: its index in stopStrings (the one ending
   * earliest; the longest of those ending at the same byte).
   */
  stopString?: number;
  /** With stopString: how many bytes of generated text precede the matched stop string. */
  stopOffset?: number;
  /** [steps, vocab] when returnLogits. */
  logits?: Float32Array;
}

export interface GenerateResult {
  /** results[i] holds prompt i's samples. */
  results: Sample[][];
  /** Bytes of the key/value cache this call used. */
  cacheBytes: number;
}

export interface ParameterInfo {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  decay: boolean;
}

/**
 * The matrix arithmetic of a model on the GPU: 'bf16' rounds the operands of every
 * matrix product and attention score to bf16 (tensor cores, fp32 accumulation);
 * 'fp32' multiplies in fp32 (slower; within float rounding of the CPU engine).
 * The CPU engine always computes in fp32.
 */
export type Precision = 'bf16' | 'fp32';
export const PRECISIONS: readonly Precision[] = ['bf16', 'fp32'];

/** A precision option, else GENRM_PRECISION, else 'bf16'; anything else is an error naming where it came from. */
export function resolvePrecision(value: string | undefined): Precision {
  const source = value !== undefined ? 'precision' : 'GENRM_PRECISION';
  const v = (value ?? process.env.GENRM_PRECISION ?? '').trim().toLowerCase();
  if (v === '') return 'bf16';
  if ((PRECISIONS as readonly string[]).includes(v)) return v as Precision;
  throw new Error(
    `${source}: expected one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(value ?? process.env.GENRM_PRECISION)}`,
  );
}

/** How a model computes on the GPU; both are ignored on the CPU. */
export interface DeviceOptions {
  /** GPU arithmetic (see `Precision`). Default GENRM_PRECISION, else 'bf16'. */
  precision?: Precision;
  /**
   * false lets the GPU's attention backward add the query gradient with atomics,
   * in one kernel instead of two (fewer tile products, yet 1.15-1.19x slower on
   * an H200); the last bits of a run's gradients then vary from run to run. Default true:
   * runs repeat bit for bit. The CPU is always deterministic.
   */
  deterministic?: boolean;
}

export interface CreateOptions extends DeviceOptions {
  /** Seed for the initial weights (normal, std initializer_range, norms at 1). Default 0. */
  seed?: number;
}

export interface LoadOptions extends DeviceOptions {
  /** Also read optimizer.safetensors, to resume training bitwise. Default false. */
  optimizer?: boolean;
  /** Load as a reward model; a language-model checkpoint gets a new score head. Default false. */
  rewardHead?: boolean;
  /** Seed of the new score head's initial weights. Default 0. */
  seed?: number;
}

interface DeviceSettings {
  precision: Precision;
  deterministic: boolean;
}

function deviceSettings(options: DeviceOptions): DeviceSettings {
  const d = options.deterministic;
  if (d !== undefined && typeof d !== 'boolean')
    throw new TypeError(`deterministic: expected a boolean, got ${JSON.stringify(d)}`);
  return { precision: resolvePrecision(options.precision), deterministic: d ?? true };
}

export interface SaveOptions {
  /** Also write optimizer.safetensors (AdamW moments, step, RNG state) to resume bitwise. Default false. */
  optimizer?: boolean;
  /**
   * Writes more files into the checkpoint before it is committed (a tokenizer,
   * a training history): `folder` is the new version's folder, and what is
   * written there becomes part of the same atomic checkpoint.
   */
  extraFiles?: (folder: string) => Promise<void>;
  /**
   * More file names this save owns besides the model's own: present afterwards only if extraFiles wrote them,
   * never carried over from the folder's previous version. saveLanguageModel names tokenizer_config.json and
   * generation_config.json, so an old model's chat template or stop tokens cannot outlive it.
   */
  owns?: readonly string[];
  /**
   * How the weights are stored: "F32", or "BF16" (each value rounded to nearest even). Default: the dtype the
   * model was loaded from when every weight had it (a bf16 checkpoint saves as bf16, as transformers saves a
   * bf16 model), else F32; a save with the optimizer keeps F32, the master weights it resumes from bitwise.
   */
  dtype?: WeightsDtype;
  /**
   * Largest weights file, in bytes: weights over it are written as shards
   * model-0000i-of-0000n.safetensors with model.safetensors.index.json, as
   * transformers writes them. Default 5e9 (transformers' "5GB").
   */
  maxShardBytes?: number;
}

/** The dtypes a checkpoint's weights are written in. */
export type WeightsDtype = 'F32' | 'BF16';
const TORCH_DTYPES: Record<WeightsDtype, string> = { F32: 'float32', BF16: 'bfloat16' };

// Files that belong to a model checkpoint even when a save does not write them:
// a save without the optimizer must not leave an older save's optimizer state
// beside its weights. Other files of the folder are carried over.
const CHECKPOINT_FILE =
  /^(config\.json|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json|optimizer\.safetensors|adapter_model\.safetensors|adapter_config\.json)$/;

function nativeConfig(c: LlamaConfig): Record<string, unknown> {
  const init = c.extra?.initializer_range;
  const bias = attentionBiases(c);
  return {
    ...c,
    extra: undefined,
    qkv_bias: bias.qkv,
    o_bias: bias.o,
    mlp_bias: hasMlpBias(c),
    qk_norm: hasQkNorm(c),
    ...(typeof init === 'number' ? { initializer_range: init } : {}),
  };
}

function optimizerSettings(options: OptimizerOptions): Required<OptimizerOptions> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...ADAMW_DEFAULTS, warmupSteps: 0, totalSteps: 0, minLrRatio: 0, ...given };
}

// Indices are checked here, where they enter: an Int32Array would truncate 0.5 to 0.
function pairsArray(pairs: ReadonlyArray<readonly [number, number]>): Int32Array {
  if (!Array.isArray(pairs))
    throw new TypeError(`pairs: expected an array of [chosen, rejected] index pairs, got ${typeof pairs}`);
  const out = new Int32Array(pairs.length * 2);
  pairs.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new TypeError(`pairs[${i}]: expected [chosen, rejected], got ${JSON.stringify(pair)}`);
    pair.forEach((v, j) => {
      if (!Number.isSafeInteger(v) || v < 0 || v > 0x7fffffff) {
        throw new RangeError(
          `pairs[${i}].${j === 0 ? 'chosen' : 'rejected'}: expected a non-negative integer sequence index, got ${v}`,
        );
      }
      out[2 * i + j] = v;
    });
  });
  return out;
}

// Every field the native layer reads is given: it has no defaults of its own.
function nativeObjective(o: Objective | { type: 'none' }, lossScale = 1): NativeObjective {
  switch (o.type) {
    case 'none':
    case 'sft':
      return { type: o.type, lossScale };
    case 'dpo': {
      const {
        beta = DPO_DEFAULTS.beta,
        labelSmoothing = DPO_DEFAULTS.labelSmoothing,
        lossType = DPO_DEFAULTS.lossType,
      } = o;
      return {
        type: 'dpo',
        pairs: pairsArray(o.pairs),
        refLogps: Float32Array.from(o.refLogps),
        beta,
        labelSmoothing,
        lossType,
        lossScale,
      };
    }
    case 'bt':
      return {
        type: 'bt',
        pairs: pairsArray(o.pairs),
        margins: o.margins === undefined ? undefined : Float32Array.from(o.margins),
        centerRewardsCoefficient: o.centerRewardsCoefficient ?? 0,
        lossScale,
      };
  }
}

export class Model {
  readonly config: LlamaConfig;
  readonly parameters: readonly ParameterInfo[];
  /** Where the model's arithmetic runs: 'cuda' when the CUDA engine found a usable GPU. */
  readonly device: Backend;
  /** The matrix arithmetic in effect: always 'fp32' on the CPU. */
  readonly precision: Precision;
  /** Whether runs repeat bit for bit: always true on the CPU (see `DeviceOptions.deterministic`). */
  readonly deterministic: boolean;
  readonly #handle: NativeModel;
  readonly #byName: Map<string, ParameterInfo>;
  #queue: Promise<unknown> = Promise.resolve();
  // Gradients accumulated since the last optimizer step (a save with the optimizer refuses them).
  #pendingGradients = false;
  // The dtype every weight of the loaded checkpoint had (F32 for a created model or a mixed file).
  #storedDtype: WeightsDtype = 'F32';

  private constructor(config: LlamaConfig, handle: NativeModel, device: Backend, how: DeviceSettings) {
    this.config = config;
    this.device = device;
    this.precision = device === 'cuda' ? how.precision : 'fp32';
    this.deterministic = device === 'cuda' ? how.deterministic : true;
    this.#handle = handle;
    this.parameters = handle.layout();
    this.#byName = new Map(this.parameters.map((p) => [p.name, p]));
  }

  /** A new model with freshly initialised weights. */
  static create(config: LlamaConfig | Record<string, unknown>, options: CreateOptions = {}): Model {
    return Model.#make(config, options.seed ?? 0, true, deviceSettings(options));
  }

  static #make(
    config: LlamaConfig | Record<string, unknown>,
    seed: number,
    initialize: boolean,
    how: DeviceSettings,
  ): Model {
    const c = parseLlamaConfig(config, 'config');
    const engine = native();
    const Ctor = engine.binding.Model;
    // The loaded engine decides: the CUDA binary on a usable GPU keeps the model on the device.
    return new Model(
      c,
      new Ctor(nativeConfig(c), seed, { initialize, device: engine.backend, ...how }),
      engine.backend,
      how,
    );
  }

  /**
   * Loads `<dir>/config.json` and the weights (F32, BF16 or F16): `model.safetensors`, or the shards
   * `model.safetensors.index.json` names, as transformers saves large models; and
   * optimizer.safetensors when asked. `rewardHead: true` turns a language model
   * into a reward model: the checkpoint's weights plus a new `score.weight`,
   * initialised from `seed` (a reward model's own checkpoint loads as it is).
   */
  static async load(dir: string, options: LoadOptions = {}): Promise<Model> {
    // Read again when a save replaced the folder while it was read.
    return readCheckpointFolder(
      dir,
      (manifest) => Model.#loadOnce(dir, options, manifest),
      (m) => m.dispose(),
    );
  }

  static async #loadOnce(dir: string, options: LoadOptions, manifest: CheckpointManifest | undefined): Promise<Model> {
    const config = await readConfig(dir);
    const addHead = options.rewardHead === true && !config.reward_head;
    // Every parameter is read from the file (a missing one is an error), so skip
    // the random init unless a new head needs it.
    const how = deviceSettings(options);
    const model = addHead
      ? Model.#make({ ...config, reward_head: true }, options.seed ?? 0, true, how)
      : Model.#make(config, 0, false, how);
    try {
      if (addHead && options.optimizer)
        throw new Error(
          `${dir}: rewardHead adds a new head, so there is no optimizer state to resume; load without optimizer`,
        );
      const reader = await openWeights(dir);
      let id: string | undefined;
      try {
        id = reader.metadata[ID_METADATA];
        for (const { file, metadata } of reader.fileMetadata) {
          if (manifest && metadata[ID_METADATA] !== manifest.id) {
            throw new Error(
              `${file}: written by save ${metadata[ID_METADATA] ?? '(none recorded)'}, but ${join(dir, 'checkpoint.json')} names save ${manifest.id}; the folder mixes two checkpoints (delete checkpoint.json to load the files as they are)`,
            );
          }
          if (metadata[ID_METADATA] !== id)
            throw new Error(
              `${file}: written by save ${metadata[ID_METADATA] ?? '(none recorded)'}, but ${reader.fileMetadata[0]!.file} by save ${id ?? '(none recorded)'}; the shards come from two checkpoints`,
            );
        }
        await model.#loadTensors(reader, reader.file, '', 'params', addHead ? new Set(['score.weight']) : undefined);
        const names = new Set(model.parameters.map((p) => p.name));
        const stored = reader.tensors.filter((t) => names.has(t.name));
        if (!addHead && stored.length > 0 && stored.every((t) => t.dtype === 'BF16')) model.#storedDtype = 'BF16';
      } finally {
        await reader.close();
      }
      if (options.optimizer) await model.#loadOptimizer(join(dir, 'optimizer.safetensors'), id);
      return model;
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  async #loadTensors(
    reader: TensorSource,
    file: string,
    prefix: string,
    buffer: NativeBuffer,
    keepInitialised?: ReadonlySet<string>,
  ): Promise<void> {
    const expected = new Set(this.parameters.map((p) => prefix + p.name));
    for (const t of reader.tensors) {
      if (expected.has(t.name)) continue;
      // Tolerated extras: old HF checkpoints store RoPE's inv_freq; tied models may also store lm_head.
      if (
        /\.rotary_emb\.inv_freq$/.test(t.name) ||
        (this.config.tie_word_embeddings && t.name === prefix + 'lm_head.weight')
      )
        continue;
      throw new Error(`${file}: unexpected tensor ${t.name} (not a parameter of this model's config)`);
    }
    for (const p of this.parameters) {
      if (keepInitialised?.has(p.name)) continue;
      const info = reader.get(prefix + p.name);
      if (!info) throw new Error(`${file}: missing tensor ${prefix + p.name} (shape [${p.shape.join(', ')}])`);
      if (info.shape.length !== p.shape.length || info.shape.some((s, i) => s !== p.shape[i]))
        throw new Error(
          `${file}: tensor ${prefix + p.name}: expected shape [${p.shape.join(', ')}] from the config, got [${info.shape.join(', ')}]`,
        );
      const data = await reader.readFloat32(prefix + p.name);
      const bad = data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0)
        throw new Error(`${file}: tensor ${prefix + p.name}: element ${bad} is ${data[bad]}, expected a finite number`);
      this.#handle.write({ buffer, offset: p.offset, data });
    }
  }

  async #loadOptimizer(file: string, weightsId: string | undefined): Promise<void> {
    const reader = await openSafetensors(file);
    try {
      const id = reader.metadata[ID_METADATA];
      if (id !== weightsId) {
        throw new Error(
          `${file}: optimizer state of save ${id ?? '(none recorded)'}, but the weights are of save ${weightsId ?? '(none recorded)'}; resuming from them would continue from the wrong moments and step`,
        );
      }
      await this.#loadTensors(new FilteredReader(reader, 'exp_avg.'), file, 'exp_avg.', 'adam_m');
      await this.#loadTensors(new FilteredReader(reader, 'exp_avg_sq.'), file, 'exp_avg_sq.', 'adam_v');
      const step = Number(reader.metadata.step);
      if (!Number.isInteger(step) || step < 0)
        throw new Error(
          `${file}: metadata step: expected a non-negative integer, got ${JSON.stringify(reader.metadata.step)}`,
        );
      let rng: bigint;
      try {
        rng = BigInt(reader.metadata.rng_state ?? '');
      } catch {
        throw new Error(
          `${file}: metadata rng_state: expected an unsigned 64-bit integer, got ${JSON.stringify(reader.metadata.rng_state)}`,
        );
      }
      this.#handle.setState({ step, rngState: rng });
    } finally {
      await reader.close();
    }
  }

  /**
   * Saves the checkpoint folder `dir`: config.json, model.safetensors (F32, HF
   * names; shards and their index over maxShardBytes), optionally
   * optimizer.safetensors, and checkpoint.json naming the
   * save. The folder is replaced as one unit (checkpoint.ts): a reader, a kill
   * or a full disk finds the whole old checkpoint or the whole new one. Other
   * files in the folder are kept.
   */
  save(dir: string, options: SaveOptions = {}): Promise<void> {
    return this.#enqueue(async () => {
      if (options.optimizer && this.#pendingGradients) {
        throw new Error(
          `${dir}: not saved: this model holds gradients accumulated since its last optimizer step (computeGradients without optimizerStep), which a checkpoint does not store, so a run resumed from it would lose them; save after optimizerStep, or drop them with zeroGrad() first`,
        );
      }
      const dtype = options.dtype ?? (options.optimizer ? 'F32' : this.#storedDtype);
      if (dtype !== 'F32' && dtype !== 'BF16')
        throw new Error(`${dir}: not saved: dtype: expected "F32" or "BF16", got ${JSON.stringify(options.dtype)}`);
      if (options.optimizer && dtype !== 'F32')
        throw new Error(
          `${dir}: not saved: a save with the optimizer resumes from its weights bitwise, so it stores them as F32, not ${dtype}`,
        );
      await writeCheckpointFolder(
        dir,
        async (folder) => {
          // The other files first: the id covers them, and the tensor files carry the id.
          await options.extraFiles?.(folder);
          const digest = new CheckpointId();
          await addFolderFiles(digest, folder);
          digest.add('config', JSON.stringify(this.config));
          const read = (buffer: 'params' | 'adam_m' | 'adam_v', prefix: string) =>
            this.parameters.map((p) => {
              const data = this.#handle.read({ buffer, offset: p.offset, size: p.size });
              digest.add(`${prefix}${p.name} [${p.shape.join(', ')}]`, data);
              return { name: prefix + p.name, dtype: 'F32' as const, shape: p.shape, data };
            });
          const weights = read('params', '').map((t) =>
            dtype === 'BF16' ? { ...t, dtype: 'BF16' as const, data: float32ToBf16(t.data) } : t,
          );
          digest.add('dtype', dtype);
          let optimizer: { tensors: typeof weights; metadata: Record<string, string> } | undefined;
          if (options.optimizer) {
            const state = this.#handle.state();
            const metadata = { format: 'genrm-adamw', step: String(state.step), rng_state: state.rngState.toString() };
            optimizer = { tensors: [...read('adam_m', 'exp_avg.'), ...read('adam_v', 'exp_avg_sq.')], metadata };
            digest.add('optimizer metadata', JSON.stringify(metadata));
          }
          const id = digest.digest();
          await writeConfig(folder, this.config, TORCH_DTYPES[dtype]);
          await writeWeights(folder, weights, { format: 'pt', [ID_METADATA]: id }, options.maxShardBytes);
          if (optimizer)
            await writeSafetensors(join(folder, 'optimizer.safetensors'), optimizer.tensors, {
              ...optimizer.metadata,
              [ID_METADATA]: id,
            });
          return id;
        },
        { owns: (name) => CHECKPOINT_FILE.test(name) || (options.owns?.includes(name) ?? false) },
      );
    });
  }

  get numParameters(): number {
    return this.#handle.state().numParams;
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.#handle.state().step;
  }

  #info(name: string): ParameterInfo {
    const p = this.#byName.get(name);
    if (!p)
      throw new Error(
        `unknown parameter ${JSON.stringify(name)}; this model has ${this.parameters
          .map((x) => x.name)
          .slice(0, 3)
          .join(', ')}, ...`,
      );
    return p;
  }

  /** A copy of one parameter's values, by HF name. */
  parameter(name: string): Float32Array {
    const p = this.#info(name);
    return this.#handle.read({ buffer: 'params', offset: p.offset, size: p.size });
  }

  /** A copy of one parameter's accumulated gradient, by HF name. */
  gradient(name: string): Float32Array {
    const p = this.#info(name);
    return this.#handle.read({ buffer: 'grads', offset: p.offset, size: p.size });
  }

  /** Overwrites one parameter (finite values, exact length). Queued behind running calls. */
  setParameter(name: string, data: Float32Array): Promise<void> {
    const p = this.#info(name);
    if (data.length !== p.size)
      throw new Error(`${name}: expected ${p.size} values (shape [${p.shape.join(', ')}]), got ${data.length}`);
    return this.#enqueue(async () => this.#handle.write({ buffer: 'params', offset: p.offset, data }));
  }

  /** Per-sequence log-probs (batch with lossMask), rewards (reward head), and optionally full logits for rows [row0, row0+rows). */
  forward(batch: PackedBatch, options: { logits?: { row0?: number; rows?: number } } = {}): Promise<ForwardResult> {
    const opts = options.logits ? { logitsRow0: options.logits.row0 ?? 0, logitsRows: options.logits.rows } : {};
    return this.#enqueue(async () => {
      const { metrics: _metrics, ...rest } = await this.#handle.run(batch, nativeObjective({ type: 'none' }), opts);
      return rest;
    });
  }

  /** Loss and metrics without touching gradients. */
  async evaluate(objective: Objective, batch: PackedBatch): Promise<LossResult> {
    return this.#enqueue(async () => {
      const { metrics, ...forward } = await this.#handle.run(batch, nativeObjective(objective), {});
      return { metrics, forward };
    });
  }

  /**
   * Adds the objective's gradient (times lossScale, e.g. 1/accumulation steps) to
   * the accumulated gradients; returns the loss and metrics. A NaN or infinite
   * loss rejects and leaves the gradients as they were.
   */
  computeGradients(
    objective: Objective,
    batch: PackedBatch,
    options: { lossScale?: number } = {},
  ): Promise<LossResult> {
    return this.#enqueue(async () => {
      const { metrics, ...forward } = await this.#handle.run(batch, nativeObjective(objective, options.lossScale), {
        backward: true,
      });
      this.#pendingGradients = true;
      return { metrics, forward };
    });
  }

  /** Clip, AdamW, zero the gradients. */
  optimizerStep(options: OptimizerOptions = {}): Promise<StepMetrics> {
    const o = optimizerSettings(options);
    return this.#enqueue(() => this.#step(o));
  }

  // A step zeroes the gradients whether it is taken or refused (a non-finite norm).
  async #step(o: Required<OptimizerOptions>): Promise<StepMetrics> {
    try {
      return await this.#handle.step(o);
    } finally {
      this.#pendingGradients = false;
    }
  }

  /** One training step: gradients of the objective on the batch, then an optimizer step. */
  trainStep(objective: Objective, batch: PackedBatch, options: OptimizerOptions = {}): Promise<Metrics> {
    const o = optimizerSettings(options);
    // One queue entry, so overlapping trainSteps never interleave gradients and steps.
    return this.#enqueue(async () => {
      const { metrics } = await this.#handle.run(batch, nativeObjective(objective), { backward: true });
      const step = await this.#step(o);
      return { ...metrics, ...step };
    });
  }

  /**
   * Samples continuations with a key/value cache: each prompt is prefilled once
   * and its n samples branch from it; all samples decode together, each stopping
   * on its own. One native call off the event loop.
   */
  generate(prompts: readonly Prompt[], options: GenerateOptions = {}): Promise<GenerateResult> {
    const requests = prompts.map((p) => ({ prompt: Int32Array.from(p.ids), n: p.n, seed: p.seed }));
    const { onToken, signal, ...rest } = options;
    // Global sample index -> (prompt, sample within the prompt), for onToken.
    const owner: Array<[number, number]> = [];
    prompts.forEach((p, i) => {
      for (let j = 0; j < (p.n ?? 1); j++) owner.push([i, j]);
    });
    const opts = {
      ...rest,
      stopTokens: rest.stopTokens === undefined ? undefined : Int32Array.from(rest.stopTokens),
      onToken:
        onToken === undefined
          ? undefined
          : (samples: Int32Array, tokens: Int32Array) => {
              for (let k = 0; k < samples.length; k++) {
                const [prompt, sample] = owner[samples[k]!]!;
                onToken({ prompt, sample, token: tokens[k]! });
              }
            },
    };
    return this.#enqueue(async () => {
      if (signal?.aborted)
        throw Object.assign(new Error('generate: aborted before it started'), { name: 'AbortError' });
      const abort = () => this.#handle.cancel();
      signal?.addEventListener('abort', abort, { once: true });
      let out: { samples: Sample[]; cacheBytes: number };
      try {
        out = await this.#handle.generate(requests, opts);
      } finally {
        signal?.removeEventListener('abort', abort);
      }
      const { samples, cacheBytes } = out;
      const results: Sample[][] = [];
      let at = 0;
      for (const p of prompts) {
        const n = p.n ?? 1;
        results.push(samples.slice(at, at + n));
        at += n;
      }
      return { results, cacheBytes };
    });
  }

  /** Forgets the optimizer state (AdamW moments, step count): the next step starts a new schedule. Gradients are zeroed too. */
  resetOptimizer(): Promise<void> {
    return this.#enqueue(async () => {
      const zeros = new Float32Array(this.numParameters);
      this.#handle.write({ buffer: 'adam_m', offset: 0, data: zeros });
      this.#handle.write({ buffer: 'adam_v', offset: 0, data: zeros });
      this.#handle.zeroGrad();
      this.#pendingGradients = false;
      this.#handle.setState({ step: 0 });
    });
  }

  zeroGrad(): Promise<void> {
    return this.#enqueue(async () => {
      this.#handle.zeroGrad();
      this.#pendingGradients = false;
    });
  }

  /** Frees the native memory now. Idempotent. (A model that is never disposed is freed when the garbage collector takes its handle.) */
  dispose(): void {
    if (!this.#handle.disposed) this.#handle.dispose();
  }

  get disposed(): boolean {
    return this.#handle.disposed;
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

type TensorSource = Pick<SafetensorsReader, 'tensors' | 'get' | 'readFloat32'>;

// Presents the prefixed tensors of an optimizer file as a plain reader.
class FilteredReader implements TensorSource {
  constructor(
    private readonly inner: SafetensorsReader,
    private readonly prefix: string,
  ) {}
  get tensors() {
    return this.inner.tensors.filter((t) => t.name.startsWith(this.prefix));
  }
  get(name: string) {
    return this.inner.get(name);
  }
  readFloat32(name: string) {
    return this.inner.readFloat32(name);
  }
}
