// Every training and sampling default of genrm, in one place, each with where
// it comes from. Trainers, STaR, the CLI and the Model's own training calls read
// these; the native layer has no defaults and takes every value explicitly.
//
// Sources: "paper" is Mahan et al. 2024, Generative Reward Models (arXiv
// 2410.12832), as summarised in the project's design notes; "TRL" is
// Hugging Face TRL's DPOConfig; "HF" is the Hugging Face Trainer; "genrm" is a
// choice of this project, with its reason.

/** AdamW and gradient clipping. */
export const ADAMW_DEFAULTS = {
  /** paper: 1e-6 for STaR-SFT, STaR-DPO, BT and GenRM. */
  lr: 1e-6,
  /** paper: betas (0.9, 0.95). */
  beta1: 0.9,
  beta2: 0.95,
  /** HF (adam_epsilon); the paper does not say. */
  eps: 1e-8,
  /** paper: 0.1, decoupled, on every weight but the norms (HF's no-decay group). */
  weightDecay: 0.1,
  /** HF (max_grad_norm). */
  maxGradNorm: 1,
} as const;

/** The learning-rate schedule and the data pass of a training run. */
export const SCHEDULE_DEFAULTS = {
  /** paper: cosine schedule with 10% warmup. */
  warmupRatio: 0.1,
  /** paper: cosine to zero. */
  minLrRatio: 0,
  /** genrm: one pass, as each STaR iteration trains once on its own part. */
  epochs: 1,
  /**
   * genrm: most tokens per optimizer step; fits the built-in world's models on
   * 2 cores. At a real model's judge-prompt lengths (1-2k tokens) a step then
   * holds one or two pairs; the trainers report the pairs or sequences of each step.
   */
  batchTokens: 4096,
  /**
   * genrm: most units (pairs for bt and dpo, sequences for sft) per optimizer
   * step, as the Hugging Face Trainer and TRL count a batch; 0 = no limit but
   * the tokens. The paper does not give its batch size.
   */
  batchSize: 0,
  /** genrm: seed of the data order. */
  seed: 0,
} as const;

/** paper: the STaR-Rationalizer's learning rate. */
export const RATIONALIZER_LR = 2e-5;

/** The DPO objective. */
export const DPO_DEFAULTS = {
  /** paper: beta 1.0 for STaR-DPO (TRL's own default is 0.1). */
  beta: 1.0,
  /** TRL: the sigmoid loss of the DPO paper. */
  lossType: 'sigmoid',
  /** TRL: no label smoothing. */
  labelSmoothing: 0,
} as const;

/** Sampling judge rationales (STaR and the chain-of-thought judge). */
export const RATIONALE_SAMPLING_DEFAULTS = {
  /** genrm: samples per pair and shown order; the paper votes over 32 at evaluation. */
  k: 4,
  /** paper: temperature 1.0. */
  temperature: 1,
  /** paper: top-p 0.95. */
  topP: 0.95,
  /** genrm: room for a rationale and its verdict; shortened to what the context leaves. */
  maxNewTokens: 512,
} as const;

/** paper: three STaR iterations, each on a fresh third of the pairs. */
export const STAR_ITERATIONS = 3;
