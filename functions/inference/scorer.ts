/*
 * Scoring sits behind `Scorer` so that a hosted model (a SageMaker or Bedrock endpoint) can replace the
 * built-in one without touching the handler: it takes every user of one page of a file at once (up to
 * 1,000), so a remote scorer makes one batched call per page, and it names its model, which is stored
 * with every score.
 */

/** A user's running totals (the TOTALS item) just before the file being scored was added. */
export interface History {
  eventCount: number;
  totalValue: number;
  sumSquares: number;
}

export interface ScoreInput {
  userId: string;
  /** The user's events and their summed value in the file being scored. */
  eventCount: number;
  totalValue: number;
  history: History;
}

export type ScoreLabel = 'normal' | 'unusual' | 'anomalous' | 'insufficient_history';

export interface Score {
  userId: string;
  /** Anomaly score in [0, 1]: 0 is exactly the user's usual mean, near 1 is far outside it. */
  score: number;
  /** Null when there is too little history to compare with. */
  zScore: number | null;
  label: ScoreLabel;
  meanValue: number;
}

export interface Scorer {
  readonly model: string;
  score(inputs: readonly ScoreInput[]): Promise<Score[]>;
}

/** Events the user must have had before this file for a comparison to mean anything. */
export const MIN_PRIOR_EVENTS = 10;
/** |z| is capped here, which also gives a finite z when the history has no variance at all. */
export const MAX_ABS_Z = 10;
/** Relative tolerance under which a variance or a difference of means is floating-point noise. */
const EPSILON = 1e-9;
export const UNUSUAL_SCORE = 0.95;
export const ANOMALOUS_SCORE = 0.99;

const round4 = (value: number): number => Math.round(value * 10_000) / 10_000;

/** Abramowitz & Stegun 7.1.26; absolute error below 1.5e-7, plenty for a score rounded to 4 places. */
const erf = (x: number): number => {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const polynomial =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.sign(x) * (1 - polynomial * Math.exp(-x * x));
};

/**
 * z of the file's mean value per event against the user's distribution of values before the file: the
 * mean μ = total_value / event_count and variance σ² = sum_squares / event_count − μ² come from the
 * user's totals just before the file was applied, and the mean of k events varies with σ/√k, so
 * z = (mean − μ) / (σ / √k). Few events in the file mean a wide σ/√k and a small z; a history with zero
 * variance gives z = 0 for the same mean and ±MAX_ABS_Z for any other.
 */
export const zScoreOf = (input: ScoreInput): number | null => {
  const { history } = input;
  if (input.eventCount < 1 || history.eventCount < MIN_PRIOR_EVENTS) return null;

  const mean = history.totalValue / history.eventCount;
  const variance = Math.max(0, history.sumSquares / history.eventCount - mean * mean);
  const difference = input.totalValue / input.eventCount - mean;
  const scale = Math.max(1, Math.abs(mean));
  if (Math.abs(difference) <= EPSILON * scale) return 0;

  const standardError = Math.sqrt(variance / input.eventCount);
  if (standardError <= EPSILON * scale) return Math.sign(difference) * MAX_ABS_Z;
  return Math.max(-MAX_ABS_Z, Math.min(MAX_ABS_Z, difference / standardError));
};

/** Two-sided: the probability that a normal deviate lies closer to the mean than z. */
export const anomalyScoreOf = (zScore: number): number =>
  zScore === 0 ? 0 : erf(Math.abs(zScore) / Math.SQRT2);

export const labelOf = (score: number): ScoreLabel =>
  score >= ANOMALOUS_SCORE ? 'anomalous' : score >= UNUSUAL_SCORE ? 'unusual' : 'normal';

export const scoreOne = (input: ScoreInput): Score => {
  const meanValue = input.eventCount > 0 ? input.totalValue / input.eventCount : 0;
  const zScore = zScoreOf(input);
  if (zScore === null) {
    return { userId: input.userId, score: 0, zScore: null, label: 'insufficient_history', meanValue };
  }
  const score = round4(anomalyScoreOf(zScore));
  return { userId: input.userId, score, zScore: round4(zScore), label: labelOf(score), meanValue };
};

/** The built-in model: deterministic, local, no endpoint. */
export const zScoreScorer: Scorer = {
  model: 'zscore-v1',
  score: async (inputs) => inputs.map(scoreOne),
};
