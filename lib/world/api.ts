// What the package exports of the built-in world (as `world`): generating it,
// writing it in UltraFeedback / RewardBench layouts, and its shape. The
// families, text and corpus internals stay in this folder.
export { FAMILY_NAMES, LEVELS, type Family, type FamilyName, type Level, type Question } from './types.js';
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
  type Split,
  type World,
  type WorldInfo,
  type WorldPair,
} from './world.js';
export { WORLD_INFO_FILE, loadWorldInfo, writeWorld } from './write.js';
