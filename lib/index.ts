// genrm's public API.
export { info, configure, type EngineInfo, type EngineSettings } from './info.js';
export * as kernels from './kernels.js';
export {
  loadEngine,
  native,
  parseDevice,
  DEVICES,
  type Backend,
  type CudaStatus,
  type DeviceRequest,
  type Engine,
  type Isa,
  type LoadAttempt,
} from './native.js';
export { packageRoot, packageVersion } from './package-root.js';
export {
  Model,
  PRECISIONS,
  resolvePrecision,
  type Precision,
  type CreateOptions,
  type DeviceOptions,
  type DpoLossType,
  type ForwardResult,
  type GenerateOptions,
  type GenerateResult,
  type LoadOptions,
  type LossResult,
  type Prompt,
  type Sample,
  type Metrics,
  type Objective,
  type OptimizerOptions,
  type ParameterInfo,
  type SaveOptions,
  type StepMetrics,
  type WeightsDtype,
} from './model/model.js';
export { packSequences, type PackedBatch, type SequenceInput } from './model/batch.js';
export {
  ConfigError,
  parseLlamaConfig,
  readConfig,
  writeConfig,
  parameterShapes,
  headDim,
  attentionBiases,
  hasMlpBias,
  hasQkNorm,
  MODEL_TYPES,
  ROPE_TYPES,
  type LlamaConfig,
  type RopeScaling,
} from './model/config.js';
export { openSafetensors, writeSafetensors, SafetensorsError, type SafetensorsReader } from './model/safetensors.js';
export * from './tokenizer/index.js';
export { loadLanguageModel, saveLanguageModel, stopTokensOf, type LanguageModel } from './model/language-model.js';
export * from './generate/index.js';
export * from './data/index.js';
export * from './eval/index.js';
export * from './report/index.js';
// GenRM: prompts, verdicts, judges, training and the STaR loop (helpers such as
// starPart or flip stay internal to lib/genrm).
export {
  COMPACT_PAIRWISE,
  MT_BENCH_PAIRWISE,
  MT_BENCH_PAIRWISE_MULTI_TURN,
  TEMPLATES,
  judgeMessages,
  judgePromptIds,
  templateByName,
  twoTurns,
  type JudgeTemplate,
  type MultiTurnJudgeTemplate,
  type TwoTurns,
  type Verdict,
} from './genrm/prompt.js';
export {
  MULTI_TURN_RULES,
  PROTOCOLS,
  PROTOCOL_NAMES,
  protocolByName,
  protocolRecord,
  resolveProtocol,
  type MultiTurnRule,
  type Protocol,
  type ProtocolName,
  type ProtocolSettings,
  type ResolvedProtocol,
  type SettingName,
} from './genrm/protocol.js';
export { VERDICT_RULES, majorityVote, parseVerdict, type VerdictRule, type Vote } from './genrm/verdict.js';
export { POSITION_MODES, type PositionMode } from './genrm/pairs.js';
export {
  judgeDirect,
  type DirectJudgement,
  type DirectOptions,
  type JudgeContext,
  type JudgeHooks,
  type JudgeProgress,
} from './genrm/judge.js';
export {
  judgeCot,
  sampleRationales,
  type CotJudgement,
  type PairSamples,
  type RationaleSample,
  type SamplingOptions,
} from './genrm/rationales.js';
export { evaluatePairwise, trainPairwise } from './genrm/pairwise.js';
export { trainGenRM } from './genrm/train-verdict.js';
export {
  STAR_MODES,
  runStar,
  type RationaleRecord,
  type StarIteration,
  type StarMode,
  type StarOptions,
  type StarPhase,
  type StarProgress,
  type StarResult,
  type StarSampling,
} from './genrm/star.js';
export {
  JUDGE_KINDS,
  TRAIN_KINDS,
  evaluateJudge,
  evaluationSettings,
  runTrainJob,
  type EvaluateOptions,
  type JudgeKind,
  type Judged,
  type TrainJob,
  type TrainJobResult,
  type TrainKind,
} from './genrm/jobs.js';
// Training: the shared loop and the Bradley-Terry baseline.
export {
  TRAIN_DEFAULTS,
  summarizeBatches,
  trainUnits,
  type BatchSummary,
  type StepBatch,
  type RunHooks,
  type TrainObjective,
  type TrainOutcome,
  type TrainProgress,
  type TrainSettings,
  type TrainUnit,
} from './train/trainer.js';
export { scoreSequences, type ForwardHooks, type ScoredSequences } from './train/forward.js';
export {
  TIE_RULES,
  evaluateBradleyTerry,
  rewardScore,
  trainBradleyTerry,
  type BtTrainResult,
  type PairLike,
  type RewardJudgement,
  type Skipped,
  type TieRule,
} from './train/bt.js';
export {
  ADAMW_DEFAULTS,
  DPO_DEFAULTS,
  RATIONALE_SAMPLING_DEFAULTS,
  RATIONALIZER_LR,
  SCHEDULE_DEFAULTS,
  STAR_ITERATIONS,
} from './defaults.js';
// The built-in preference world: generate it, write it in the datasets' layouts, read its info.
export * as world from './world/api.js';
