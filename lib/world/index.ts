// The built-in preference world: a seeded, checkable universe of questions,
// preference pairs in UltraFeedback / RewardBench form, and the base model's
// pretraining corpus. Pure data: no model calls.
export { Rng } from './rng.js';
export {
  FAMILY_NAMES,
  LEVELS,
  type AddQuestion,
  type ChainQuestion,
  type CompareQuestion,
  type CountQuestion,
  type ErrorKind,
  type Family,
  type FamilyName,
  type Level,
  type Question,
  type SafetyQuestion,
} from './types.js';
export {
  FAMILIES,
  answerCheck,
  check,
  checkWork,
  isCorrect,
  makeQuestion,
  parseQuestion,
  solve,
  truthOf,
  wrongAnswer,
} from './families/index.js';
export { TOWNS, along, population, type Direction } from './families/towns.js';
export { CLOSINGS, PREAMBLES, RIGHT, WRONG, decorate, finalAnswer, hasSurface } from './text.js';
export {
  DEFAULT_WORLD_OPTIONS,
  IN_DISTRIBUTION,
  SECTIONS,
  SUBSETS,
  resolveWorldOptions,
  type ResolvedWorldOptions,
  type Section,
  type SubsetSpec,
  type WorldOptions,
} from './options.js';
export {
  WORLD_FILES,
  WORLD_FORMAT,
  WORLD_VERSION,
  generateWorld,
  promptId,
  questionTexts,
  type Split,
  type World,
  type WorldInfo,
  type WorldPair,
} from './world.js';
export {
  checkPrompt,
  formatRationale,
  isFaithful,
  parseRationale,
  rationaleFor,
  type CheckResult,
  type ParsedRationale,
  type Position,
  type RationalePair,
} from './judge.js';
export {
  corpusDocuments,
  type CheckDocument,
  type CorpusDocument,
  type CorpusOptions,
  type JudgeDocument,
  type SolutionDocument,
} from './corpus.js';
export { WORLD_INFO_FILE, loadWorldInfo, writeWorld } from './write.js';
