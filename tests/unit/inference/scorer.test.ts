import { describe, expect, it } from 'vitest';
import {
  MAX_ABS_Z,
  type ScoreInput,
  scoreOne,
  zScoreOf,
  zScoreScorer,
} from '../../../functions/inference/scorer.ts';

/** A history of n events with the given mean and population variance. */
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

  it('is null without history', () => {
    expect(zScoreOf(input(5, 8, null))).toBeNull();
  });

  it('is null when the history holds fewer than 10 events besides the file’s own', () => {
    expect(zScoreOf(input(5, 8, history(14, 7.5, 1)))).toBeNull();
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

  it('scores missing history 0 with label insufficient_history', () => {
    expect(scoreOne(input(5, 8, null))).toEqual({
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
    const inputs = [input(4, 12, history(100, 10, 4)), { ...input(1, 3, null), userId: 'u-002' }];

    const scores = await zScoreScorer.score(inputs);

    expect(zScoreScorer.model).toBe('zscore-v1');
    expect(scores.map((score) => score.userId)).toEqual(['u-001', 'u-002']);
  });
});
