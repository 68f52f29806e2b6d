import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import {
  appliedPageSk,
  bucketCountAttribute,
  bucketValueAttribute,
  filePk,
  laneOf,
  lanePageKeyOf,
} from '../../../functions/shared/keys.ts';
import type { LanePage, UserContribution } from '../../../functions/shared/model.ts';
import { loadEvent } from '../../helpers/events.ts';

// events/stream-aggregator.json: LANE#00 page 0, LANE#12 page 0, then LANE#00 page 1, all of one file.
export const FILE = {
  bucket: 'csv-analytics-dev-databucket-1a2b3c4d5e6f',
  key: 'uploads/2026/03/events.csv',
  fileId: '5f2c9a0d41e8b7c36a9d0e12',
};
/** The records' stream SequenceNumbers: only what a partial-batch response names a failed record by. */
export const SEQUENCE_NUMBER = {
  lane0Page0: '4421584500000000017450439091',
  lane12Page0: '4421584500000000017450439092',
  lane0Page1: '4421584500000000017450439093',
};
/** The records' lane_seq: each lane's own counter, which the users' guards are made of. */
export const LANE_SEQ = { lane0Page0: 1, lane12Page0: 1, lane0Page1: 2 };

export const laneEvent = (): DynamoDBStreamEvent => loadEvent<DynamoDBStreamEvent>('stream-aggregator.json');

export const laneRecord = (index: number): DynamoDBRecord => {
  const record = laneEvent().Records[index];
  if (record === undefined) throw new Error(`events/stream-aggregator.json has no record ${index}`);
  return record;
};

/** A user's part of the file: two events on one day unless told otherwise. */
export const userOf = (userId: string, overrides: Partial<UserContribution> = {}): UserContribution => ({
  userId,
  count: 2,
  total: 10,
  squares: 58,
  days: [['2026-03-01', 2, 10]],
  ...overrides,
});

/** A page as AggregateResults stages it; its users must belong to its lane, as laneOf assigns them. */
export const pageOf = (lane: number, page: number, users: UserContribution[]): LanePage => {
  for (const { userId } of users) {
    if (laneOf(userId) !== lane) throw new Error(`${userId} is in lane ${laneOf(userId)}, not ${lane}`);
  }
  return { fileId: FILE.fileId, lane, page, users };
};

export const pageKeyOf = (lane: number, page: number): string => lanePageKeyOf(FILE.fileId, lane, page);

export const markerKeyOf = (lane: number, page: number) => ({
  PK: filePk(FILE.key),
  SK: appliedPageSk(FILE.fileId, lane, page),
});

export const totalsKeyOf = (userId: string) => ({ PK: `USER#${userId}`, SK: 'TOTALS' });

/** The day buckets of a TOTALS item, as n<yyyymmdd>/v<yyyymmdd> attributes. */
export const bucketsItem = (days: readonly [string, number, number][]): Record<string, number> =>
  Object.fromEntries(
    days.flatMap(([date, count, value]) => [
      [bucketCountAttribute(date), count],
      [bucketValueAttribute(date), value],
    ]),
  );

/** `count` consecutive ISO dates from `from`. */
export const datesFrom = (from: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) =>
    new Date(Date.parse(`${from}T00:00:00.000Z`) + i * 86_400_000).toISOString().slice(0, 10),
  );

export const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
