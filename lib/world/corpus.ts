// The base model's pretraining documents: worked solutions and "check this
// answer" exchanges over every family and level, plus a few sloppy judging
// texts whose checks are right but whose verdict follows them only sometimes.
// So a judge prompt finds checks to write and a verdict format, but no reliable
// habit of judging: the situation of an instruction-tuned model before GenRM.
import type { ChatMessage } from '../tokenizer/chat.js';
import { answerCheck, check, checkWork, makeQuestion, solve, wrongAnswer } from './families/index.js';
import { checkPrompt, formatRationale } from './judge.js';
import type { Position } from './judge.js';
import { Rng } from './rng.js';
import { decorate } from './text.js';
import { FAMILY_NAMES, LEVELS } from './types.js';
import type { FamilyName, Level, Question } from './types.js';

export interface CorpusOptions {
  /** Seed of the document stream. Default 1. */
  seed?: number;
  /** Share of "check this answer" documents. Default 0.3. */
  checkShare?: number;
  /**
   * Share of judging documents; the rest are worked solutions. Default 0.2: with
   * 0.05 a 0.8M-parameter base quotes the wrong answer's value in a third of its
   * judging checks (bench/NOTES.md, "world v3"); the verdicts stay sloppy either way.
   */
  judgeShare?: number;
  /** Probability that a judging document's verdict follows its checks. Default 0.6. */
  judgeFollow?: number;
  /** Probability that an answer in any document carries the surface feature (uncorrelated with quality). Default 0.5. */
  surfaceRate?: number;
  /** Question texts never to use, e.g. questionTexts(world), so evaluation questions stay unseen. */
  exclude?: ReadonlySet<string>;
  /** Stop after this many documents. Default: never. */
  documents?: number;
}

interface DocBase {
  family: FamilyName;
  level: Level;
}

/** A question and its worked solution, as a chat. */
export interface SolutionDocument extends DocBase {
  kind: 'solution';
  messages: ChatMessage[];
}
/** A checkPrompt (question and a proposed answer) and its check. */
export interface CheckDocument extends DocBase {
  kind: 'check';
  correct: boolean;
  messages: ChatMessage[];
}
/** A judging example, rendered into a judge prompt by lib/genrm. rationale ends with the verdict line. */
export interface JudgeDocument extends DocBase {
  kind: 'judge';
  question: string;
  answerA: string;
  answerB: string;
  rationale: string;
  verdict: Position;
  /** Whether the verdict follows the checks (the rationale is then faithful). */
  follows: boolean;
}
export type CorpusDocument = SolutionDocument | CheckDocument | JudgeDocument;

function fraction(name: string, value: number): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1))
    throw new RangeError(`CorpusOptions.${name}: expected a number in [0, 1], got ${JSON.stringify(value)}`);
  return value;
}

/** Endless (or `documents` long) deterministic stream of pretraining documents. */
export function* corpusDocuments(options: CorpusOptions = {}): Generator<CorpusDocument> {
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`CorpusOptions.seed: expected an integer >= 0, got ${JSON.stringify(seed)}`);
  const checkShare = fraction('checkShare', options.checkShare ?? 0.3);
  const judgeShare = fraction('judgeShare', options.judgeShare ?? 0.2);
  if (checkShare + judgeShare > 1)
    throw new RangeError(
      `CorpusOptions.judgeShare: checkShare + judgeShare must be at most 1, got ${checkShare + judgeShare}`,
    );
  const follow = fraction('judgeFollow', options.judgeFollow ?? 0.6);
  const surfaceRate = fraction('surfaceRate', options.surfaceRate ?? 0.5);
  const limit = options.documents ?? Infinity;
  if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0))
    throw new RangeError(`CorpusOptions.documents: expected an integer >= 0, got ${JSON.stringify(limit)}`);
  const exclude = options.exclude ?? new Set<string>();
  // Independent of the world's streams even under the same seed.
  const rng = Rng.stream(seed, 'corpus');
  const styled = (text: string) => (rng.chance(surfaceRate) ? decorate(text, rng) : text);
  const wrong = (q: Question) => wrongAnswer(q, rng, rng.chance(0.5) ? 'subtle' : 'blatant');

  for (let n = 0; n < limit; n++) {
    const family = rng.pick(FAMILY_NAMES);
    const level = rng.pick(LEVELS);
    let q = makeQuestion(family, rng, level);
    for (let tries = 1; exclude.has(q.text); tries++) {
      if (tries >= 1000)
        throw new RangeError(
          `CorpusOptions.exclude: holds every ${family} question at level ${level} drawn in 1000 tries`,
        );
      q = makeQuestion(family, rng, level);
    }
    const x = rng.float();
    if (x < judgeShare) {
      const goodAt: Position = rng.chance(0.5) ? 'A' : 'B';
      const good = styled(solve(q));
      const bad = styled(wrong(q));
      const [answerA, answerB] = goodAt === 'A' ? [good, bad] : [bad, good];
      const follows = rng.chance(follow);
      const verdict: Position = follows ? goodAt : goodAt === 'A' ? 'B' : 'A';
      const rationale = formatRationale(checkWork(q), answerCheck(q, answerA), answerCheck(q, answerB), verdict);
      yield { kind: 'judge', family, level, question: q.text, answerA, answerB, rationale, verdict, follows };
    } else if (x < judgeShare + checkShare) {
      const correct = rng.chance(0.5);
      const answer = styled(correct ? solve(q) : wrong(q));
      const messages: ChatMessage[] = [
        { role: 'user', content: checkPrompt(q.text, answer) },
        { role: 'assistant', content: check(q, answer) },
      ];
      yield { kind: 'check', family, level, correct, messages };
    } else {
      yield {
        kind: 'solution',
        family,
        level,
        messages: [
          { role: 'user', content: q.text },
          { role: 'assistant', content: styled(solve(q)) },
        ],
      };
    }
  }
}
