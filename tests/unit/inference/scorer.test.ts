import { describe, expect, it } from 'vitest';
import {
  MAX_ABS_Z,
  MIN_PRIOR_EVENTS,
  type ScoreInput,
  scoreOne,
  zScoreOf,
  zScoreScorer,
} from '../../../functions/inference/scorer.ts';

/** The user's totals just before the file: n events with the given mean and population variance. */
const history = (n: number, mean: number, variance: number) => ({
  eventCount: n,
  totalValue: n * mean,
  sumSquares: n * (variance + mean * mean),
});

const input = (eventCount: number, meanValue: number, base: ScoreInput['history']): ScoreInput => ({
  userId: 'u-001',
  eventCount,
  totalValue: eventCount * meanValue,
  history: base,
});

describe('zScoreOf', () => {
  it('measures the file mean in standard errors of the running distribution', () => {
    // σ = 2, k = 4 events: the standard error is 1, so a mean 2 above is z = 2.
    expect(zScoreOf(input(4, 12, history(100, 10, 4)))).toBeCloseTo(2, 10);
  });

  it('is negative for a file mean below the running mean', () => {
    expect(zScoreOf(input(4, 8, history(100, 10, 4)))).toBeCloseTo(-2, 10);
  });

  it('is 0 when the file mean equals the running mean', () => {
    expect(zScoreOf(input(5, 10, history(100, 10, 4)))).toBe(0);
  });

  it('is 0 for the same mean when the history has no variance', () => {
    expect(zScoreOf(input(5, 7.5, history(50, 7.5, 0)))).toBe(0);
  });

  it('is capped at MAX_ABS_Z for another mean when the history has no variance', () => {
    expect(zScoreOf(input(5, 8, history(50, 7.5, 0)))).toBe(MAX_ABS_Z);
  });

  it('takes mean and variance from the history alone, not counting the file’s own events', () => {
    // With the file's 100 events of mean 20 counted in, the mean would be 15 and z far smaller.
    expect(zScoreOf(input(100, 20, history(100, 10, 100)))).toBe(MAX_ABS_Z);
    expect(zScoreOf(input(1, 20, history(100, 10, 100)))).toBeCloseTo(1, 10);
  });

  it('is null for a user without any events before the file', () => {
    expect(zScoreOf(input(5, 8, history(0, 0, 0)))).toBeNull();
  });

  it('needs MIN_PRIOR_EVENTS (10) events before the file: null at 9', () => {
    expect(MIN_PRIOR_EVENTS).toBe(10);
    expect(zScoreOf(input(50, 12, history(9, 10, 4)))).toBeNull();
  });

  it('needs MIN_PRIOR_EVENTS (10) events before the file: a z at exactly 10, however large the file', () => {
    // σ = 2 and 4 events: a standard error of 1.
    expect(zScoreOf(input(4, 12, history(10, 10, 4)))).toBeCloseTo(2, 10);
    expect(zScoreOf(input(1_000, 10, history(10, 10, 4)))).toBe(0);
  });
});

describe('scoreOne', () => {
  it('labels |z| = 2 as unusual with a score of about 0.95', () => {
    const score = scoreOne(input(4, 12, history(100, 10, 4)));

    expect(score).toMatchObject({ zScore: 2, score: 0.9545, label: 'unusual', meanValue: 12 });
  });

  it('labels |z| = 3 as anomalous', () => {
    expect(scoreOne(input(4, 13, history(100, 10, 4))).label).toBe('anomalous');
  });

  it('labels a small deviation as normal', () => {
    expect(scoreOne(input(4, 10.5, history(100, 10, 4)))).toMatchObject({ zScore: 0.5, label: 'normal' });
  });

  it('scores a zero-variance deviation 1 and anomalous', () => {
    expect(scoreOne(input(5, 8, history(50, 7.5, 0)))).toMatchObject({ score: 1, label: 'anomalous' });
  });

  it('scores a file whose mean is the user’s mean 0 and normal', () => {
    expect(scoreOne(input(7, 10, history(100, 10, 4)))).toEqual({
      userId: 'u-001',
      score: 0,
      zScore: 0,
      label: 'normal',
      meanValue: 10,
    });
  });

  it('scores 0 for values identical to a history of no variance, whatever the float rounding of their sum', () => {
    // Ten events of 0.1 before; three more of 0.1 sum to 0.30000000000000004.
    const same = { userId: 'u-001', eventCount: 3, totalValue: 0.1 + 0.1 + 0.1 };

    expect(scoreOne({ ...same, history: { eventCount: 10, totalValue: 1, sumSquares: 0.1 } })).toMatchObject({
      score: 0,
      zScore: 0,
      label: 'normal',
    });
  });

  it('scores a large shift from the user’s mean 1 and anomalous', () => {
    expect(scoreOne(input(20, 25, history(500, 10, 9)))).toEqual({
      userId: 'u-001',
      score: 1,
      zScore: MAX_ABS_Z,
      label: 'anomalous',
      meanValue: 25,
    });
  });

  it('scores a user of too little history 0 with label insufficient_history', () => {
    expect(scoreOne(input(5, 8, history(9, 10, 4)))).toEqual({
      userId: 'u-001',
      score: 0,
      zScore: null,
      label: 'insufficient_history',
      meanValue: 8,
    });
  });
});

describe('zScoreScorer', () => {
  it('scores every input in order and names its model', async () => {
    const inputs = [input(4, 12, history(100, 10, 4)), { ...input(1, 3, history(0, 0, 0)), userId: 'u-002' }];

    const scores = await zScoreScorer.score(inputs);

    expect(zScoreScorer.model).toBe('zscore-v1');
    expect(scores.map((score) => [score.userId, score.label])).toEqual([
      ['u-001', 'unusual'],
      ['u-002', 'insufficient_history'],
    ]);
  });
});
