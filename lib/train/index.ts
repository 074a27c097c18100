// Training: token-budget batches, the shared loop (AdamW, warmup + cosine,
// progress, abort, resume), batched scoring, and the Bradley-Terry baseline.
export { packByBudget, planEpochs, planInOrder } from './batches.js';
export {
  TRAIN_DEFAULTS,
  resolveSettings,
  trainUnits,
  type RunHooks,
  type TrainObjective,
  type TrainOutcome,
  type TrainProgress,
  type TrainSettings,
  type TrainUnit,
} from './trainer.js';
export { scoreSequences, type ForwardHooks, type ScoredSequences } from './forward.js';
export {
  answerSequence,
  btUnits,
  evaluateBradleyTerry,
  trainBradleyTerry,
  type BtTrainResult,
  type PairLike,
  type RewardJudgement,
  type Skipped,
} from './bt.js';
