import { describe, expect, it } from 'vitest';
import { pendingMultiples } from '../../../functions/stream-aggregator/alerts.ts';

const everyMultiple = { threshold: 1000, everyMultiple: true };
const firstOnly = { threshold: 1000, everyMultiple: false };

describe('pendingMultiples', () => {
  it('is empty below the threshold', () => {
    expect(pendingMultiples({ eventCount: 999, alertedMultiple: 0 }, everyMultiple)).toEqual([]);
  });

  it('holds the first multiple once the count reaches the threshold exactly', () => {
    expect(pendingMultiples({ eventCount: 1000, alertedMultiple: 0 }, everyMultiple)).toEqual([1]);
  });

  it('holds every multiple crossed since the last alert', () => {
    expect(pendingMultiples({ eventCount: 4100, alertedMultiple: 1 }, everyMultiple)).toEqual([2, 3, 4]);
  });

  it('is empty once the reached multiple was alerted', () => {
    expect(pendingMultiples({ eventCount: 2500, alertedMultiple: 2 }, everyMultiple)).toEqual([]);
  });

  it('holds only the first crossing when every-multiple is off', () => {
    expect(pendingMultiples({ eventCount: 5000, alertedMultiple: 0 }, firstOnly)).toEqual([1]);
  });

  it('never alerts again after the first crossing when every-multiple is off', () => {
    expect(pendingMultiples({ eventCount: 5000, alertedMultiple: 1 }, firstOnly)).toEqual([]);
  });
});
