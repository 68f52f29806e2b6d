import { BadRequestError } from '@aws-lambda-powertools/event-handler/http';
import { describe, expect, it } from 'vitest';
import { dayRangeOf, decodeCursor, encodeCursor } from '../../../functions/analytics-api/input.ts';

const now = new Date('2026-03-15T18:00:00Z');

describe('dayRangeOf', () => {
  it('defaults to the 30 days ending today', () => {
    expect(dayRangeOf({}, now)).toEqual({ from: '2026-02-14', to: '2026-03-15' });
  });

  it('reports 30 days from a lone from', () => {
    expect(dayRangeOf({ from: '2026-01-01' }, now)).toEqual({ from: '2026-01-01', to: '2026-01-30' });
  });

  it('reports 30 days up to a lone to', () => {
    expect(dayRangeOf({ to: '2026-01-30' }, now)).toEqual({ from: '2026-01-01', to: '2026-01-30' });
  });

  it('accepts a range of exactly 366 days', () => {
    expect(dayRangeOf({ from: '2024-01-01', to: '2024-12-31' }, now)).toEqual({
      from: '2024-01-01',
      to: '2024-12-31',
    });
  });

  it('rejects a range of 367 days', () => {
    expect(() => dayRangeOf({ from: '2024-01-01', to: '2025-01-01' }, now)).toThrow(BadRequestError);
  });

  it('rejects from after to', () => {
    expect(() => dayRangeOf({ from: '2026-03-02', to: '2026-03-01' }, now)).toThrow(BadRequestError);
  });
});

describe('cursors', () => {
  const key = { PK: 'USER#u-001', SK: 'EVENT#2026-03-01T10:00:00.000Z#abc' };

  it('round-trips a LastEvaluatedKey', () => {
    const cursor = encodeCursor(key) ?? '';

    expect(decodeCursor(cursor, () => true)).toEqual(key);
  });

  it('is null when there is no further page', () => {
    expect(encodeCursor(undefined)).toBeNull();
  });

  it('rejects a key with attributes a query key does not have', () => {
    const cursor = encodeCursor({ ...key, extra: 1 }) ?? '';

    expect(() => decodeCursor(cursor, () => true)).toThrow(BadRequestError);
  });

  it('rejects a key the query does not accept', () => {
    const cursor = encodeCursor(key) ?? '';

    expect(() => decodeCursor(cursor, () => false)).toThrow(BadRequestError);
  });
});
