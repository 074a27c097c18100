// Named protocols: every setting that decides how a judge's number is made,
// under one name, so a score can be traced to how it was produced and compared
// only with scores made the same way.
// - 'rewardbench': allenai/reward-bench (checked at commit 05a9005).
//   scripts/run_generative.py: one order per example drawn at random, one
//   greedy sample (n=1, temperature 0, top_p 1) of up to 2,048 tokens, the
//   verdict read by rewardbench/generative.py process_judgement, an output
//   without a verdict scored 0.5; conversations of more than one user turn
//   judged with the multi-turn prompt (MTBENCH_MULTI_V2), those longer than
//   two turns dropped (max_turns=4). scripts/run_rm.py: a reward model is right
//   only when the chosen answer's score is strictly greater (PairRM: logits > 0).
// - 'paper': Mahan et al. 2024 (arXiv 2410.12832): vote over 32 samples at
//   temperature 1.0 and top-p 0.95, and the training hyper-parameters of
//   defaults.ts. What the paper does not state is listed in UNSTATED and filled
//   from RewardBench (its evaluation) or genrm, never silently.
// - 'genrm': this project's own choices: both orders for the direct judge,
//   the last verdict tag, a reward tie as half a point, conversations written
//   out as one question.
// Options given explicitly override a protocol's value; the run's record lists
// each such difference (see resolveProtocol).
import {
  ADAMW_DEFAULTS,
  DPO_DEFAULTS,
  RATIONALE_SAMPLING_DEFAULTS,
  RATIONALIZER_LR,
  STAR_ITERATIONS,
} from '../defaults.js';
import type { ProtocolRecord, SettingValue } from '../eval/provenance.js';
import { TIE_RULES, type TieRule } from '../train/bt.js';
import { POSITION_MODES, type PositionMode } from './pairs.js';
import { TEMPLATES } from './prompt.js';
import { VERDICT_RULES, type VerdictRule } from './verdict.js';

export type ProtocolName = 'rewardbench' | 'paper' | 'genrm';
export const PROTOCOL_NAMES: readonly ProtocolName[] = ['rewardbench', 'paper', 'genrm'];

/**
 * How conversations of several turns reach the judge: 'template' shows a
 * two-turn conversation with the multi-turn prompt and cannot show longer ones;
 * 'flatten' writes any conversation out as one question.
 */
export type MultiTurnRule = 'template' | 'flatten';
export const MULTI_TURN_RULES: readonly MultiTurnRule[] = ['template', 'flatten'];

export interface ProtocolSettings {
  /** Judge prompt, a TEMPLATES name. */
  template: string;
  multiTurn: MultiTurnRule;
  /** Answer order of the direct judge. */
  directPositions: PositionMode;
  /** Answer order of the CoT judge and of STaR's sampling. */
  cotPositions: PositionMode;
  verdictRule: VerdictRule;
  /** bt and pairwise judges: what an exact tie of rewards scores. */
  ties: TieRule;
  /** CoT judge: samples per pair and order shown; the majority decides. */
  k: number;
  temperature: number;
  topP: number;
  /** Longest rationale, shortened per pair to what the context leaves. */
  maxNewTokens: number;
  /** STaR: rationales sampled per pair and order shown. */
  starK: number;
  /** STaR-SFT and STaR-DPO learning rate. */
  lr: number;
  rationalizerLr: number;
  dpoBeta: number;
  iterations: number;
}

export type SettingName = keyof ProtocolSettings;

export interface Protocol {
  name: ProtocolName;
  summary: string;
  settings: Readonly<ProtocolSettings>;
  /** Where each setting comes from. */
  sources: Readonly<Record<SettingName, string>>;
  /** Settings the protocol's source leaves open, with why the value was chosen. */
  unstated: Readonly<Partial<Record<SettingName, string>>>;
  /** Whether it defines a STaR run (RewardBench defines evaluation only). */
  star: boolean;
}

const GENRM: ProtocolSettings = {
  template: 'mt-bench-pairwise',
  multiTurn: 'flatten',
  directPositions: 'both',
  cotPositions: 'random',
  verdictRule: 'last',
  ties: 'half',
  // Odd, so one order's votes cannot split evenly.
  k: 7,
  temperature: RATIONALE_SAMPLING_DEFAULTS.temperature,
  topP: RATIONALE_SAMPLING_DEFAULTS.topP,
  maxNewTokens: RATIONALE_SAMPLING_DEFAULTS.maxNewTokens,
  starK: RATIONALE_SAMPLING_DEFAULTS.k,
  lr: ADAMW_DEFAULTS.lr,
  rationalizerLr: RATIONALIZER_LR,
  dpoBeta: DPO_DEFAULTS.beta,
  iterations: STAR_ITERATIONS,
};

const RB = 'RewardBench';

// How RewardBench shows and scores a pair; the paper, silent on these, follows it.
const REWARDBENCH_SETTINGS: ProtocolSettings = {
  ...GENRM,
  template: 'mt-bench-pairwise',
  multiTurn: 'template',
  directPositions: 'random',
  cotPositions: 'random',
  verdictRule: 'rewardbench',
  ties: 'strict',
  maxNewTokens: 2048,
};
const RB_GEN = `${RB} scripts/run_generative.py`;
const PAPER_TRAIN = 'paper (STaR-SFT/DPO, BT and GenRM: 1e-6; rationalizer 2e-5; DPO beta 1.0; 3 iterations)';

export const PROTOCOLS: Readonly<Record<ProtocolName, Protocol>> = {
  rewardbench: {
    name: 'rewardbench',
    summary:
      "RewardBench's official harness: one random order per pair, one greedy sample of up to 2,048 tokens, the verdict [[A]] if it occurs anywhere, else [[B]], a reward tie scores 0",
    settings: { ...REWARDBENCH_SETTINGS, k: 1, temperature: 0, topP: 1 },
    sources: {
      template: `${RB} rewardbench/generative.py MTBENCH_V2 (prompt_v2)`,
      multiTurn: `${RB} rewardbench/generative.py MTBENCH_MULTI_V2; longer conversations dropped (max_turns=4)`,
      directPositions: `${RB_GEN}: one order per example, drawn at random (genrm draws it from seed and pair id)`,
      cotPositions: `${RB_GEN}: one order per example, drawn at random (genrm draws it from seed and pair id)`,
      verdictRule: `${RB} rewardbench/generative.py process_judgement`,
      ties: `${RB} scripts/run_rm.py: 1 if chosen > rejected else 0`,
      k: `${RB_GEN}: SamplingParams n=1`,
      temperature: `${RB_GEN}: temperature=0`,
      topP: `${RB_GEN}: top_p=1`,
      maxNewTokens: `${RB_GEN}: max_tokens=2048`,
      starK: 'not part of RewardBench',
      lr: 'not part of RewardBench',
      rationalizerLr: 'not part of RewardBench',
      dpoBeta: 'not part of RewardBench',
      iterations: 'not part of RewardBench',
    },
    unstated: {},
    star: false,
  },
  paper: {
    name: 'paper',
    summary:
      'The GenRM paper (Mahan et al. 2024): majority vote over 32 samples at temperature 1.0 and top-p 0.95, its training hyper-parameters; what it leaves open follows RewardBench',
    settings: { ...REWARDBENCH_SETTINGS, k: 32, temperature: 1, topP: 0.95 },
    sources: {
      template: "RewardBench's prompt_v2 (MT-Bench's pairwise prompt without the tie option)",
      multiTurn: "RewardBench's MTBENCH_MULTI_V2",
      directPositions: "RewardBench's one random order per pair",
      cotPositions: "RewardBench's one random order per pair",
      verdictRule: "RewardBench's process_judgement",
      ties: "RewardBench's run_rm.py",
      k: 'paper: majority vote over 32 samples',
      temperature: 'paper: temperature 1.0',
      topP: 'paper: top-p 0.95',
      maxNewTokens: "RewardBench's max_tokens=2048",
      starK: "genrm's default",
      lr: PAPER_TRAIN,
      rationalizerLr: PAPER_TRAIN,
      dpoBeta: PAPER_TRAIN,
      iterations: PAPER_TRAIN,
    },
    unstated: {
      template: "the paper's prompt wording is not given; RewardBench's is used",
      multiTurn: "the paper does not say how multi-turn prompts are shown; RewardBench's way is used",
      directPositions: "the paper does not say which answer order the judges saw; RewardBench's way is used",
      cotPositions: "the paper does not say which answer order the judges saw; RewardBench's way is used",
      verdictRule: "the paper does not say how a verdict is read; RewardBench's rule is used",
      ties: "the paper does not say how a reward tie scores; RewardBench's rule is used",
      maxNewTokens: "the paper does not give the rationale length; RewardBench's 2,048 is used",
      starK: 'the paper does not give the samples per pair during STaR; genrm samples 4',
    },
    star: true,
  },
  genrm: {
    name: 'genrm',
    summary:
      "genrm's own protocol: both orders for the direct judge (margins summed), the last verdict tag, an odd vote, a reward tie scores 0.5, conversations written out as one question",
    settings: GENRM,
    sources: {
      template: "RewardBench's prompt_v2 (MT-Bench's pairwise prompt without the tie option)",
      multiTurn: 'genrm: any conversation written out as one question ("User: ... Assistant: ...")',
      directPositions: 'genrm: both orders, log-prob margins summed, which cancels position bias',
      cotPositions: 'genrm: one order per pair drawn from seed and pair id',
      verdictRule: 'genrm: the last tag, the final word of a judge that revises itself',
      ties: 'genrm: a tie is no preference, half a point',
      k: 'genrm: odd, so one order cannot split its votes evenly',
      temperature: 'paper: temperature 1.0',
      topP: 'paper: top-p 0.95',
      maxNewTokens: 'genrm: 512 new tokens',
      starK: 'genrm: 4 samples per pair',
      lr: PAPER_TRAIN,
      rationalizerLr: PAPER_TRAIN,
      dpoBeta: PAPER_TRAIN,
      iterations: PAPER_TRAIN,
    },
    unstated: {},
    star: true,
  },
};

/** The settings each kind of run depends on, in the order reports list them. */
export const RELEVANT: Readonly<Record<'direct' | 'cot' | 'bt' | 'pairwise' | 'star', readonly SettingName[]>> = {
  direct: ['template', 'multiTurn', 'directPositions'],
  cot: ['template', 'multiTurn', 'cotPositions', 'verdictRule', 'k', 'temperature', 'topP', 'maxNewTokens'],
  bt: ['ties'],
  pairwise: ['template', 'multiTurn', 'ties'],
  star: [
    'template',
    'multiTurn',
    'cotPositions',
    'verdictRule',
    'starK',
    'temperature',
    'topP',
    'maxNewTokens',
    'lr',
    'rationalizerLr',
    'dpoBeta',
    'iterations',
  ],
};

export function protocolByName(name: string): Protocol {
  const p = (PROTOCOLS as Record<string, Protocol>)[name];
  if (!p) throw new RangeError(`protocol: expected one of ${PROTOCOL_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  return p;
}

function checkSetting(name: SettingName, value: unknown): void {
  const fail = (want: string) => {
    throw new RangeError(`${name}: expected ${want}, got ${JSON.stringify(value)}`);
  };
  const oneOf = (list: readonly string[]) => {
    if (!list.includes(value as string)) fail(`one of ${list.join(', ')}`);
  };
  switch (name) {
    case 'template':
      // A library caller may bring its own template; the CLI offers TEMPLATES' names.
      if (typeof value !== 'string' || value === '')
        fail(`a template name such as ${Object.keys(TEMPLATES).join(', ')}`);
      return;
    case 'multiTurn':
      return oneOf(MULTI_TURN_RULES);
    case 'directPositions':
    case 'cotPositions':
      return oneOf(POSITION_MODES);
    case 'verdictRule':
      return oneOf(VERDICT_RULES);
    case 'ties':
      return oneOf(TIE_RULES);
    case 'k':
    case 'starK':
    case 'maxNewTokens':
    case 'iterations':
      if (!Number.isInteger(value) || (value as number) < 1) fail('an integer >= 1');
      return;
    case 'temperature':
    case 'dpoBeta':
      if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) fail('a finite number >= 0');
      return;
    case 'topP':
      if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail('a number in (0, 1]');
      return;
    case 'lr':
    case 'rationalizerLr':
      if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) fail('a positive number');
      return;
    default:
      throw new RangeError(`protocol setting: unknown setting ${JSON.stringify(name)}`);
  }
}

export interface ResolvedProtocol {
  protocol: Protocol;
  /** The protocol's settings with the explicit options applied. */
  settings: ProtocolSettings;
  /** Settings given explicitly with a value other than the protocol's. */
  overridden: SettingName[];
}

/** A protocol's settings with `overrides` (undefined entries ignored) applied and checked. */
export function resolveProtocol(
  name: ProtocolName | string,
  overrides: Partial<ProtocolSettings> = {},
): ResolvedProtocol {
  const protocol = protocolByName(name);
  const settings: ProtocolSettings = { ...protocol.settings };
  const overridden: SettingName[] = [];
  for (const [key, value] of Object.entries(overrides) as Array<[SettingName, SettingValue | undefined]>) {
    if (value === undefined) continue;
    if (!(key in settings)) throw new RangeError(`protocol setting: unknown setting ${JSON.stringify(key)}`);
    checkSetting(key, value);
    if (value !== protocol.settings[key]) overridden.push(key);
    (settings as unknown as Record<string, SettingValue>)[key] = value;
  }
  return { protocol, settings, overridden };
}

/**
 * What a report says about how its numbers were made: the protocol, the
 * settings this kind of run depends on, those that differ from the protocol's,
 * and those the protocol's source leaves open.
 */
export function protocolRecord(
  resolved: ResolvedProtocol,
  kind: keyof typeof RELEVANT,
  chosenBy: string,
  notes: readonly string[] = [],
): ProtocolRecord {
  const { protocol, settings } = resolved;
  const keys = RELEVANT[kind];
  return {
    name: protocol.name,
    summary: protocol.summary,
    chosenBy,
    settings: Object.fromEntries(keys.map((k) => [k, settings[k]])),
    differences: keys
      .filter((k) => settings[k] !== protocol.settings[k])
      .map((k) => ({ setting: k, protocol: protocol.settings[k], used: settings[k] })),
    unstated: keys
      .filter((k) => protocol.unstated[k] !== undefined && settings[k] === protocol.settings[k])
      .map((k) => ({ setting: k, used: settings[k], note: protocol.unstated[k]! })),
    sources: Object.fromEntries(keys.map((k) => [k, protocol.sources[k]])),
    notes: [...notes],
  };
}
