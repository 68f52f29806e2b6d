import { describe, expect, it } from 'vitest';
import { dayBucketsOf } from '../../../functions/shared/keys.ts';
import { padSequence } from '../../../functions/stream-aggregator/records.ts';
import {
  daysToClose,
  guardOf,
  partsOf,
  totalsUpdateOf,
} from '../../../functions/stream-aggregator/totals.ts';
import { datesFrom, LANE_SEQ, userOf } from './lanes.ts';

const GUARD = guardOf(padSequence(LANE_SEQ.lane0Page0), 0);
const APPLIED_AT = '2026-03-01T10:00:01.000Z';
const twoDays = userOf('u-001', {
  count: 3,
  total: 12,
  squares: 50,
  days: [
    ['2026-02-28', 1, 5],
    ['2026-03-01', 2, 7],
  ],
});

describe('totalsUpdateOf', () => {
  it('adds the sums and one count and value per day in one UpdateItem returning the item', () => {
    const update = totalsUpdateOf('test-table', twoDays, GUARD, APPLIED_AT);

    expect(update).toMatchObject({
      TableName: 'test-table',
      Key: { PK: 'USER#u-001', SK: 'TOTALS' },
      ReturnValues: 'ALL_NEW',
      ExpressionAttributeNames: {
        '#n0': 'n20260228',
        '#v0': 'v20260228',
        '#n1': 'n20260301',
        '#v1': 'v20260301',
      },
      ExpressionAttributeValues: {
        ':count': 3,
        ':total': 12,
        ':squares': 50,
        ':n0': 1,
        ':v0': 5,
        ':n1': 2,
        ':v1': 7,
      },
    });
    expect(update.UpdateExpression).toMatch(
      / ADD event_count :count, total_value :total, sum_squares :squares, #n0 :n0, #v0 :v0, #n1 :n1, #v1 :v1$/,
    );
  });

  it('sets applied_seq to the guard, conditioned on the stored one being lower', () => {
    const update = totalsUpdateOf('test-table', twoDays, GUARD, APPLIED_AT);

    expect(update.UpdateExpression).toContain('applied_seq = :seq');
    expect(update.ExpressionAttributeValues?.[':seq']).toBe(GUARD);
    expect(update.ConditionExpression).toBe('attribute_not_exists(applied_seq) OR applied_seq < :seq');
  });

  it('keeps no latest event, so nothing but the guard can refuse it (files out of event-time order cost no extra write)', () => {
    const update = totalsUpdateOf('test-table', twoDays, GUARD, APPLIED_AT);

    expect(update.UpdateExpression).not.toContain('last_event');
    expect(update.ConditionExpression).not.toContain('last_event');
  });
});

describe('partsOf', () => {
  it('keeps a user of up to 50 days as one part', () => {
    const user = userOf('u-001', { days: datesFrom('2026-01-01', 50).map((date) => [date, 1, 1]) });

    expect(partsOf(user)).toEqual([user]);
  });

  it('splits more days into parts of at most 50, with the sums in the first part only', () => {
    const user = userOf('u-001', { days: datesFrom('2026-01-01', 120).map((date) => [date, 1, 1]) });

    const parts = partsOf(user);

    expect(parts.map((part) => part.days.length)).toEqual([50, 50, 20]);
    expect(parts.map(({ count, total, squares }) => [count, total, squares])).toEqual([
      [user.count, user.total, user.squares],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(parts.flatMap((part) => part.days)).toEqual(user.days);
  });
});

describe('guardOf', () => {
  it('orders every part of a record after the lane’s record before it and before the next one', () => {
    const previous = padSequence(1);
    const current = padSequence(2);
    const next = padSequence(3);

    expect(guardOf(previous, 9999) < guardOf(current, 0)).toBe(true);
    expect(guardOf(current, 0) < guardOf(current, 1)).toBe(true);
    expect(guardOf(current, 9999) < guardOf(next, 0)).toBe(true);
  });

  it('orders records by lane_seq whatever its number of digits', () => {
    expect(guardOf(padSequence(999), 12) < guardOf(padSequence(1000), 0)).toBe(true);
  });
});

describe('daysToClose', () => {
  it('closes nothing while a user has at most two days', () => {
    expect(daysToClose(['2026-03-01', '2026-02-28'])).toEqual([]);
  });

  it('closes all but the two newest dates, whatever the order given', () => {
    expect(daysToClose(['2026-03-01', '2026-02-26', '2026-02-28', '2026-02-27'])).toEqual([
      '2026-02-26',
      '2026-02-27',
    ]);
  });
});

describe('dayBucketsOf', () => {
  it('reads each n<yyyymmdd> count with its v<yyyymmdd> value', () => {
    const buckets = dayBucketsOf({ n20260228: 1, v20260228: 5, n20260301: 2, v20260301: 7 });

    expect(Object.fromEntries(buckets)).toEqual({
      '2026-02-28': { count: 1, value: 5 },
      '2026-03-01': { count: 2, value: 7 },
    });
  });

  it('ignores the attributes that are not buckets', () => {
    const item = { event_count: 9, applied_seq: GUARD, n2026030: 1, name: 'x', n20260301: 'two' };

    expect(dayBucketsOf(item).size).toBe(0);
  });

  it('reads a bucket without a value as a value of 0', () => {
    expect(dayBucketsOf({ n20260301: 2 }).get('2026-03-01')).toEqual({ count: 2, value: 0 });
  });
});
