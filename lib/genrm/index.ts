// Generative reward models: the judge prompt, verdicts and votes, direct and
// CoT judges, the pairwise baseline, verdict SFT, the STaR loop, and the jobs
// the CLI runs.
export {
  COMPACT_PAIRWISE,
  MT_BENCH_PAIRWISE,
  MT_BENCH_PAIRWISE_MULTI_TURN,
  TEMPLATES,
  judgeMessages,
  judgePromptIds,
  questionText,
  templateByName,
  twoTurns,
  type JudgeTemplate,
  type MultiTurnJudgeTemplate,
  type TwoTurns,
  type Verdict,
} from './prompt.js';
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
} from './protocol.js';
export {
  VERDICT_RULES,
  flip,
  majorityVote,
  parseVerdict,
  verdictScore,
  type VerdictRule,
  type Vote,
} from './verdict.js';
export {
  POSITION_MODES,
  parsePositionMode,
  positionsFor,
  show,
  shownPromptIds,
  unshowable,
  type JudgePrompts,
  type PositionMode,
  type Shown,
} from './pairs.js';
export {
  judgeDirect,
  verdictIds,
  verdictSequence,
  type DirectJudgement,
  type DirectOptions,
  type JudgeContext,
  type JudgeHooks,
  type JudgeProgress,
} from './judge.js';
export {
  judgeCot,
  sampleRationales,
  voteOn,
  type CotJudgement,
  type PairSamples,
  type RationaleSample,
  type SamplingOptions,
} from './rationales.js';
export { evaluatePairwise, trainPairwise } from './pairwise.js';
export { trainGenRM, verdictUnits } from './train-verdict.js';
export {
  STAR_MODES,
  runStar,
  selectRationales,
  starPart,
  type RationaleRecord,
  type StarIteration,
  type StarMode,
  type StarOptions,
  type StarPhase,
  type StarProgress,
  type StarResult,
  type StarSampling,
} from './star.js';
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
} from './jobs.js';
