// genrm's public API.
export { info, configure, type EngineInfo, type EngineSettings } from './info.js';
export * as kernels from './kernels.js';
export { loadEngine, native, parseDevice, DEVICES, type Backend, type CudaStatus, type DeviceRequest, type Engine, type Isa, type LoadAttempt } from './native.js';
export { packageRoot, packageVersion } from './package-root.js';
export { Model, PRECISIONS, resolvePrecision, type Precision, type CreateOptions, type DeviceOptions, type DpoLossType, type ForwardResult, type GenerateOptions, type GenerateResult, type LoadOptions, type LossResult, type Prompt, type Sample, type Metrics, type Objective, type OptimizerOptions, type ParameterInfo, type SaveOptions, type StepMetrics } from './model/model.js';
export { packSequences, type PackedBatch, type SequenceInput } from './model/batch.js';
export { ConfigError, parseLlamaConfig, readConfig, writeConfig, parameterShapes, type LlamaConfig } from './model/config.js';
export { openSafetensors, writeSafetensors, SafetensorsError, type SafetensorsReader } from './model/safetensors.js';
export * from './tokenizer/index.js';
export { loadLanguageModel, saveLanguageModel, type LanguageModel } from './model/language-model.js';
export * from './generate/index.js';
export * from './data/index.js';
export * from './eval/index.js';
export * from './report/index.js';
export * from './genrm/index.js';
export * from './train/index.js';
export { ADAMW_DEFAULTS, DPO_DEFAULTS, RATIONALE_SAMPLING_DEFAULTS, RATIONALIZER_LR, SCHEDULE_DEFAULTS, STAR_ITERATIONS } from './defaults.js';
export * as world from './world/index.js';
