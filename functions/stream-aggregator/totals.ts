import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { ddb } from '#shared/clients.ts';
import {
  bucketCountAttribute,
  bucketValueAttribute,
  DAILY_TYPE,
  dailySk,
  dayBucketsOf,
  TOTALS_SK,
  TOTALS_TYPE,
  userPk,
} from '#shared/keys.ts';
import { type TotalsItem, TotalsItemSchema, type UserContribution } from '#shared/model.ts';
import { TotalsConflictError } from './errors.ts';

/*
 * A file's contribution to one user, applied exactly once, in one write.
 *
 * Every user belongs to one lane, and a lane's pages arrive in the order they were written to the lane's
 * item (DynamoDB Streams orders the records of one item; see #shared/keys.ts). So each user has a single,
 * ordered writer, and the lane's counter `lane_seq` on each record is a guard that only grows: the TOTALS
 * item keeps `applied_seq`, and the update is conditional on it being lower than the record's. A
 * redelivered record, or a retry after some users of its page were applied, finds those users at its
 * number and skips them.
 *
 * The same write keeps the daily aggregate of the user's recent days: `n<yyyymmdd>` and `v<yyyymmdd>` on
 * the TOTALS item hold the count and value of that day, so a file costs one write per user, not one per
 * user-day plus one for the totals. Days older than the user's two newest are then closed: added, as the
 * same buckets, to the user's DAILY#<yyyy-mm> item of their month (one write per month, however many days),
 * guarded by the same number (so a retry adds nothing twice), and removed from TOTALS. A day is read as its
 * bucket on its month item plus its bucket on TOTALS while one exists.
 *
 * The user's latest event is not kept here: an update cannot take a maximum, so keeping it would need a
 * condition on the stored time, and every file applied out of event-time order (two files at once, a
 * backfill) would pay a failed conditional write, a read and a second write per user. The API reads the
 * newest EVENT# item instead (functions/analytics-api/queries.ts).
 */

/** Days kept as buckets on TOTALS: the newest and the one before (a file a day spills over midnight). */
export const KEEP_DAYS = 2;
/** Days one write adds, so an update expression stays far below DynamoDB's 4 KB; more take more writes. */
export const DAYS_PER_WRITE = 50;

/**
 * The guard of part `part` of a record's contribution: the record's padded lane_seq, then the part, so
 * that the parts of one record order between it and the next record (both numbers are fixed width).
 */
export const guardOf = (sequence: string, part: number): string =>
  `${sequence}#${String(part).padStart(4, '0')}`;

/** A user's contribution as writes: the first carries the sums, every one at most DAYS_PER_WRITE days. */
export const partsOf = (user: UserContribution): UserContribution[] => {
  const parts: UserContribution[] = [];
  for (let start = 0; start === 0 || start < user.days.length; start += DAYS_PER_WRITE) {
    const days = user.days.slice(start, start + DAYS_PER_WRITE);
    parts.push(start === 0 ? { ...user, days } : { ...user, count: 0, total: 0, squares: 0, days });
  }
  return parts;
};

export interface TotalsDeps {
  table: string;
}

export interface TotalsState {
  eventCount: number;
  alertedMultiple: number;
}

export interface ApplyResult extends TotalsState {
  applied: boolean;
  closedDays: number;
  /**
   * The user's totals just after this contribution (with it, the totals just before), while the user
   * is still at this record; undefined past it, where a later record's files are in the totals too.
   */
  after?: { eventCount: number; totalValue: number; sumSquares: number };
}

const stateOf = (item: TotalsItem): TotalsState => ({
  eventCount: item.event_count,
  alertedMultiple: item.alerted_multiple,
});

/** Buckets to close: all but the KEEP_DAYS newest dates (ISO dates sort as strings). */
export const daysToClose = (dates: Iterable<string>): string[] => {
  const sorted = [...dates].sort();
  return sorted.slice(0, Math.max(0, sorted.length - KEEP_DAYS));
};

/** The UpdateItem that applies one part of a user's contribution, unless the user is already at its guard. */
export const totalsUpdateOf = (
  table: string,
  user: UserContribution,
  guard: string,
  appliedAt: string,
): UpdateCommandInput => {
  const names: Record<string, string> = { '#type': 'type' };
  const values: Record<string, unknown> = {
    ':type': TOTALS_TYPE,
    ':userId': user.userId,
    ':seq': guard,
    ':appliedAt': appliedAt,
    ':count': user.count,
    ':total': user.total,
    ':squares': user.squares,
  };
  const sets = ['#type = :type', 'userId = :userId', 'applied_seq = :seq', 'last_updated = :appliedAt'];
  const adds = ['event_count :count', 'total_value :total', 'sum_squares :squares'];
  user.days.forEach(([date, count, value], i) => {
    names[`#n${i}`] = bucketCountAttribute(date);
    names[`#v${i}`] = bucketValueAttribute(date);
    values[`:n${i}`] = count;
    values[`:v${i}`] = value;
    adds.push(`#n${i} :n${i}`, `#v${i} :v${i}`);
  });
  return {
    TableName: table,
    Key: { PK: userPk(user.userId), SK: TOTALS_SK },
    UpdateExpression: `SET ${sets.join(', ')} ADD ${adds.join(', ')}`,
    ConditionExpression: 'attribute_not_exists(applied_seq) OR applied_seq < :seq',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
  };
};

const readTotals = async (deps: TotalsDeps, userId: string): Promise<Record<string, unknown>> => {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: deps.table,
      Key: { PK: userPk(userId), SK: TOTALS_SK },
      ConsistentRead: true,
    }),
  );
  return Item ?? {};
};

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** Applies one part unless the user is already at (or past) its guard; returns the item after. */
const applyOnce = async (
  deps: TotalsDeps,
  part: UserContribution,
  guard: string,
  appliedAt: string,
): Promise<{ item: Record<string, unknown>; applied: boolean }> => {
  try {
    const { Attributes } = await ddb.send(
      new UpdateCommand(totalsUpdateOf(deps.table, part, guard, appliedAt)),
    );
    return { item: Attributes ?? {}, applied: true };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  // Only a redelivery meets the guard: the user was applied from this record (or a later one) before.
  const current = await readTotals(deps, part.userId);
  const { applied_seq: mark } = TotalsItemSchema.parse(current);
  if (mark !== undefined && mark >= guard) return { item: current, applied: false };
  throw new TotalsConflictError(`TOTALS of user ${part.userId} changed under its lane's single writer`);
};

/** Closing dates grouped by their DAILY# month item. */
const byMonth = (dates: readonly string[]): Map<string, string[]> => {
  const months = new Map<string, string[]>();
  for (const date of dates) {
    const sk = dailySk(date);
    months.set(sk, [...(months.get(sk) ?? []), date]);
  }
  return months;
};

/**
 * Moves closed days from TOTALS buckets to the user's DAILY# month items: one write per month (a month's
 * buckets stay far below DynamoDB's 4 KB expression and 1 KB-per-write-unit sizes), each at most once per
 * sequence.
 */
const closeDays = async (
  deps: TotalsDeps,
  userId: string,
  item: Record<string, unknown>,
  sequence: string,
): Promise<number> => {
  const buckets = dayBucketsOf(item);
  const closing = daysToClose(buckets.keys());
  if (closing.length === 0) return 0;
  for (const [sk, dates] of byMonth(closing)) {
    const names: Record<string, string> = { '#type': 'type' };
    const values: Record<string, unknown> = { ':type': DAILY_TYPE, ':userId': userId, ':seq': sequence };
    const adds = dates.map((date, i) => {
      const bucket = buckets.get(date) ?? { count: 0, value: 0 };
      names[`#n${i}`] = bucketCountAttribute(date);
      names[`#v${i}`] = bucketValueAttribute(date);
      values[`:n${i}`] = bucket.count;
      values[`:v${i}`] = bucket.value;
      return `#n${i} :n${i}, #v${i} :v${i}`;
    });
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: { PK: userPk(userId), SK: sk },
          UpdateExpression: `SET #type = :type, userId = :userId, applied_seq = :seq ADD ${adds.join(', ')}`,
          ConditionExpression: 'attribute_not_exists(applied_seq) OR applied_seq < :seq',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      // Closed under this sequence before a crash: the buckets are still there, the month already has them.
      if (!isConditionFailure(error)) throw error;
    }
  }
  // DAYS_PER_WRITE days a REMOVE, as for the ADDs: a file of a year of days must not outgrow the 4 KB
  // expression limit. Safe to stop between two: every removed day is in its DAILY# item already.
  for (let start = 0; start < closing.length; start += DAYS_PER_WRITE) {
    const names = Object.fromEntries(
      closing.slice(start, start + DAYS_PER_WRITE).flatMap((date, i) => [
        [`#n${i}`, bucketCountAttribute(date)],
        [`#v${i}`, bucketValueAttribute(date)],
      ]),
    );
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: { PK: userPk(userId), SK: TOTALS_SK },
          UpdateExpression: `REMOVE ${Object.keys(names).join(', ')}`,
          ConditionExpression: 'applied_seq = :seq',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':seq': sequence },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new TotalsConflictError(`TOTALS of user ${userId} moved past ${sequence} while closing days`);
    }
  }
  return closing.length;
};

/** Applies one user's contribution from the lane record `sequence`, then closes old days. */
export const applyContribution = async (
  deps: TotalsDeps,
  user: UserContribution,
  sequence: string,
  appliedAt: string,
): Promise<ApplyResult> => {
  const parts = partsOf(user);
  let item: Record<string, unknown> = {};
  let applied = false;
  for (const [index, part] of parts.entries()) {
    const result = await applyOnce(deps, part, guardOf(sequence, index), appliedAt);
    item = result.item;
    applied ||= result.applied;
  }
  const parsed = TotalsItemSchema.parse(item);
  const last = guardOf(sequence, parts.length - 1);
  // Only while the user is at this record: past it, a later record of the lane has taken over.
  const closedDays = parsed.applied_seq === last ? await closeDays(deps, user.userId, item, last) : 0;
  const current = parsed.applied_seq === last;
  return {
    ...stateOf(parsed),
    applied,
    closedDays,
    ...(current
      ? {
          after: {
            eventCount: parsed.event_count,
            totalValue: parsed.total_value,
            sumSquares: parsed.sum_squares,
          },
        }
      : {}),
  };
};
