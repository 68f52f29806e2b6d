import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TotalsConflictError } from '../../../functions/stream-aggregator/errors.ts';
import { padSequence } from '../../../functions/stream-aggregator/records.ts';
import { applyContribution, guardOf, totalsUpdateOf } from '../../../functions/stream-aggregator/totals.ts';
import { bucketsItem, conditionFailed, datesFrom, LANE_SEQ, totalsKeyOf, userOf } from './lanes.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
const deps = { table: 'test-table' };

// The lane's second page, so that a user can be at the lane's first one.
const SEQUENCE = padSequence(LANE_SEQ.lane0Page1);
const GUARD = guardOf(SEQUENCE, 0);
const APPLIED_AT = '2026-03-01T10:00:01.000Z';
const TOTALS = totalsKeyOf('u-001');
/** Matches the contribution's own updates of TOTALS, not the REMOVE that closes days. */
const TOTALS_ADD = { Key: TOTALS, ReturnValues: 'ALL_NEW' } as const;
const user = userOf('u-001');
const threeDays: [string, number, number][] = [
  ['2026-02-27', 4, 40],
  ['2026-02-28', 1, 5],
  ['2026-03-01', 2, 10],
];

const updates = () => ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
const totalsAdds = () => updates().filter((input) => input.ReturnValues === 'ALL_NEW');
const dailyUpdates = () => updates().filter((input) => String(input.Key?.SK).startsWith('DAILY#'));
const removes = () => updates().filter((input) => input.UpdateExpression?.startsWith('REMOVE '));
const apply = (contribution = user) => applyContribution(deps, contribution, SEQUENCE, APPLIED_AT);

describe('applyContribution', () => {
  beforeEach(() => {
    ddbMock.reset();
    ddbMock.on(UpdateCommand).resolves({});
  });

  describe('a user seen for the first time', () => {
    beforeEach(() => {
      ddbMock.on(UpdateCommand, TOTALS_ADD).resolves({
        Attributes: {
          ...TOTALS,
          event_count: 2,
          applied_seq: GUARD,
          ...bucketsItem([['2026-03-01', 2, 10]]),
        },
      });
    });

    it('is applied with one update of TOTALS and nothing else', async () => {
      await apply();

      expect(ddbMock.calls()).toHaveLength(1);
      expect(updates()).toEqual([totalsUpdateOf('test-table', user, GUARD, APPLIED_AT)]);
    });

    it('returns the count and alerted multiple after the update', async () => {
      expect(await apply()).toMatchObject({
        applied: true,
        eventCount: 2,
        alertedMultiple: 0,
        closedDays: 0,
      });
    });

    it('returns the totals after the update, absent sums read as 0', async () => {
      expect((await apply()).after).toEqual({ eventCount: 2, totalValue: 0, sumSquares: 0 });
    });
  });

  it('returns the totals after the update from the item the update returned (ALL_NEW)', async () => {
    ddbMock.on(UpdateCommand, TOTALS_ADD).resolves({
      Attributes: { ...TOTALS, event_count: 42, total_value: 410, sum_squares: 4_058, applied_seq: GUARD },
    });

    const result = await apply();

    expect(result.after).toEqual({ eventCount: 42, totalValue: 410, sumSquares: 4_058 });
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
  });

  describe('a user whose TOTALS then holds three bucket days', () => {
    beforeEach(() => {
      ddbMock.on(UpdateCommand, TOTALS_ADD).resolves({
        Attributes: { ...TOTALS, event_count: 7, applied_seq: GUARD, ...bucketsItem(threeDays) },
      });
    });

    it('adds the oldest day to its month’s DAILY# item as a bucket, guarded by the record', async () => {
      await apply();

      expect(dailyUpdates()).toEqual([
        {
          TableName: 'test-table',
          Key: { PK: 'USER#u-001', SK: 'DAILY#2026-02' },
          UpdateExpression: 'SET #type = :type, userId = :userId, applied_seq = :seq ADD #n0 :n0, #v0 :v0',
          ConditionExpression: 'attribute_not_exists(applied_seq) OR applied_seq < :seq',
          ExpressionAttributeNames: { '#type': 'type', '#n0': 'n20260227', '#v0': 'v20260227' },
          ExpressionAttributeValues: {
            ':type': 'DAILY',
            ':userId': 'u-001',
            ':seq': GUARD,
            ':n0': 4,
            ':v0': 40,
          },
        },
      ]);
    });

    it('closes many days of a month in one write, one write per month', async () => {
      const days: [string, number, number][] = [
        ['2026-01-30', 1, 1],
        ['2026-01-31', 2, 2],
        ['2026-02-01', 3, 3],
        ['2026-02-02', 4, 4],
        ['2026-02-03', 5, 5],
        ['2026-02-04', 6, 6],
      ];
      ddbMock.on(UpdateCommand, TOTALS_ADD).resolves({
        Attributes: { ...TOTALS, event_count: 21, applied_seq: GUARD, ...bucketsItem(days) },
      });

      const result = await apply();

      expect(dailyUpdates().map((input) => [input.Key?.SK, input.UpdateExpression])).toEqual([
        [
          'DAILY#2026-01',
          'SET #type = :type, userId = :userId, applied_seq = :seq ADD #n0 :n0, #v0 :v0, #n1 :n1, #v1 :v1',
        ],
        [
          'DAILY#2026-02',
          'SET #type = :type, userId = :userId, applied_seq = :seq ADD #n0 :n0, #v0 :v0, #n1 :n1, #v1 :v1',
        ],
      ]);
      expect(result.closedDays).toBe(4);
    });

    it('then removes that day’s bucket from TOTALS, conditioned on applied_seq still being the guard', async () => {
      const result = await apply();

      expect(
        updates().map((input) => (input.UpdateExpression?.startsWith('REMOVE') ? 'REMOVE' : input.Key?.SK)),
      ).toEqual(['TOTALS', 'DAILY#2026-02', 'REMOVE']);
      expect(removes()).toEqual([
        {
          TableName: 'test-table',
          Key: TOTALS,
          UpdateExpression: 'REMOVE #n0, #v0',
          ConditionExpression: 'applied_seq = :seq',
          ExpressionAttributeNames: { '#n0': 'n20260227', '#v0': 'v20260227' },
          ExpressionAttributeValues: { ':seq': GUARD },
        },
      ]);
      expect(result.closedDays).toBe(1);
    });

    it('fails with TotalsConflictError when applied_seq moved before the REMOVE', async () => {
      ddbMock.on(UpdateCommand, { UpdateExpression: 'REMOVE #n0, #v0' }).rejects(conditionFailed());

      await expect(apply()).rejects.toBeInstanceOf(TotalsConflictError);
    });
  });

  describe('a redelivered user (TOTALS already at the guard)', () => {
    beforeEach(() => {
      ddbMock.on(UpdateCommand, TOTALS_ADD).rejects(conditionFailed());
    });

    it('adds nothing again and returns the stored state, read consistently', async () => {
      ddbMock
        .on(GetCommand)
        .resolves({ Item: { ...TOTALS, event_count: 7, alerted_multiple: 1, applied_seq: GUARD } });

      const result = await apply();

      expect(totalsAdds()).toHaveLength(1);
      expect(ddbMock.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
        { TableName: 'test-table', Key: TOTALS, ConsistentRead: true },
      ]);
      expect(result).toEqual({
        applied: false,
        eventCount: 7,
        alertedMultiple: 1,
        closedDays: 0,
        after: { eventCount: 7, totalValue: 0, sumSquares: 0 },
      });
    });

    it('returns the totals after the contribution from the consistent read', async () => {
      ddbMock.on(GetCommand).resolves({
        Item: { ...TOTALS, event_count: 12, total_value: 130, sum_squares: 1_450, applied_seq: GUARD },
      });

      const result = await apply();

      expect(result.after).toEqual({ eventCount: 12, totalValue: 130, sumSquares: 1_450 });
    });

    it('completes an interrupted closing, taking a DAILY# update that fails its condition as done', async () => {
      ddbMock.on(GetCommand).resolves({ Item: { ...TOTALS, applied_seq: GUARD, ...bucketsItem(threeDays) } });
      ddbMock.on(UpdateCommand, { Key: { SK: 'DAILY#2026-02' } }).rejects(conditionFailed());

      const result = await apply();

      expect(dailyUpdates()).toHaveLength(1);
      expect(removes().map((input) => input.ExpressionAttributeNames)).toEqual([
        { '#n0': 'n20260227', '#v0': 'v20260227' },
      ]);
      expect(result.closedDays).toBe(1);
    });
  });

  describe('a file of events older than those already applied (a backfill, or files applied out of order)', () => {
    beforeEach(() => {
      ddbMock.on(GetCommand).resolves({
        Item: { ...TOTALS, applied_seq: guardOf(padSequence(LANE_SEQ.lane0Page0), 0) },
      });
    });

    it('is applied by its one update, with no read', async () => {
      ddbMock
        .on(UpdateCommand, TOTALS_ADD)
        .resolves({ Attributes: { ...TOTALS, event_count: 9, applied_seq: GUARD } });

      const result = await apply();

      expect(totalsAdds()).toEqual([totalsUpdateOf('test-table', user, GUARD, APPLIED_AT)]);
      expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
      expect(result).toMatchObject({ applied: true, eventCount: 9 });
    });

    it('fails with TotalsConflictError when the guard refuses it although the stored guard is lower', async () => {
      ddbMock.on(UpdateCommand, TOTALS_ADD).rejects(conditionFailed());

      await expect(apply()).rejects.toBeInstanceOf(TotalsConflictError);
    });
  });

  it('lets a DynamoDB error other than a failed condition through, without reading', async () => {
    const throttled = new Error('Rate of requests exceeds the allowed throughput');
    ddbMock.on(UpdateCommand, TOTALS_ADD).rejects(throttled);

    await expect(apply()).rejects.toBe(throttled);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
  });

  describe('a user of more than 50 days', () => {
    const days = datesFrom('2026-01-01', 52).map((date): [string, number, number] => [date, 1, 1]);
    const long = userOf('u-001', { count: 52, total: 52, squares: 52, days });
    const LAST = guardOf(SEQUENCE, 1);

    beforeEach(() => {
      ddbMock
        .on(UpdateCommand, TOTALS_ADD)
        .resolvesOnce({ Attributes: { ...TOTALS, applied_seq: GUARD, ...bucketsItem(days.slice(0, 50)) } })
        .resolves({ Attributes: { ...TOTALS, event_count: 52, applied_seq: LAST, ...bucketsItem(days) } });
    });

    it('is applied in parts guarded in part order', async () => {
      await apply(long);

      expect(totalsAdds().map((input) => input.ExpressionAttributeValues?.[':seq'])).toEqual([GUARD, LAST]);
    });

    it('has its days closed once, after the last part, under that part’s guard', async () => {
      const result = await apply(long);

      expect(updates().findIndex((input) => String(input.Key?.SK).startsWith('DAILY#'))).toBe(2);
      expect(
        new Set([...dailyUpdates(), ...removes()].map((input) => input.ExpressionAttributeValues?.[':seq'])),
      ).toEqual(new Set([LAST]));
      expect(result.closedDays).toBe(50);
    });
  });

  it('removes a long history’s closed buckets 50 days a REMOVE, each expression under 4 KB', async () => {
    const days = datesFrom('2025-01-01', 400).map((date): [string, number, number] => [date, 1, 1]);
    ddbMock.on(UpdateCommand, TOTALS_ADD).resolves({
      Attributes: { ...TOTALS, applied_seq: GUARD, ...bucketsItem(days) },
    });

    await apply(userOf('u-001', { days: days.slice(-1) }));

    const removed = removes().map((input) => Object.values(input.ExpressionAttributeNames ?? {}));
    expect(removed.map((names) => names.length / 2)).toEqual([50, 50, 50, 50, 50, 50, 50, 48]);
    expect(removed.flat()).toEqual(Object.keys(bucketsItem(days.slice(0, 398))));
    expect(removes().every((input) => (input.UpdateExpression ?? '').length < 4096)).toBe(true);
  });
});
