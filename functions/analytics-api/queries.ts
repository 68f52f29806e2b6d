import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ddb } from '#shared/clients.ts';
import {
  dailySk,
  dayBucketsOf,
  EVENT_SK_PREFIX,
  FILE_METADATA_SK,
  filePk,
  SCORE_SK_PREFIX,
  TOTALS_SK,
  userPk,
} from '#shared/keys.ts';
import { EventItemSchema, FileMetadataSchema, ScoreItemSchema, TotalsItemSchema } from '#shared/model.ts';
import { type CursorKey, decodeCursor, encodeCursor } from './input.ts';

// Reads behind the API routes. Stored items are parsed into the response shapes, so what leaves the API
// is exactly what is declared here, never a raw item with internal attributes.

export interface ApiDeps {
  table: string;
}

/** Sorts after every character a key can hold, so `<prefix><x>\uffff` closes the range of x. */
const HIGH = '\uffff';

/** What /users/{id}/aggregates answers of the TOTALS item. */
const TotalsSchema = TotalsItemSchema.pick({
  event_count: true,
  total_value: true,
  last_updated: true,
}).strip();

const DailySchema = z.object({ date: z.string(), event_count: z.number(), total_value: z.number() });

/** What /users/{id}/events lists of each EVENT# item. */
const EventSchema = EventItemSchema.pick({
  eventId: true,
  eventType: true,
  value: true,
  timestamp: true,
  fileId: true,
  row: true,
});

/** What /users/{id}/scores lists of each SCORE# item. */
const ScoreSchema = ScoreItemSchema.omit({ userId: true, sourceKey: true });

/** What /files/{key+} answers of the FILE# item: its outcome, not its execution or object identity. */
const FileSchema = FileMetadataSchema.pick({
  key: true,
  fileId: true,
  status: true,
  rows: true,
  rejectsKey: true,
  rejectSample: true,
  reason: true,
  destinationKey: true,
  uploadedAt: true,
  completedAt: true,
});

export type UserAggregates = {
  userId: string;
  totals: (z.infer<typeof TotalsSchema> & { last_event_type: string | null }) | null;
  daily: z.infer<typeof DailySchema>[];
};
export type Page<T> = { items: T[]; nextCursor: string | null };
export type FileView = z.infer<typeof FileSchema>;

const readDaily = async (
  deps: ApiDeps,
  userId: string,
  range: { from: string; to: string },
): Promise<z.infer<typeof DailySchema>[]> => {
  // One DAILY# item per month of the range, each under 1 KB; a Query page stops at 1 MB: follow it anyway.
  const daily: z.infer<typeof DailySchema>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(
      new QueryCommand({
        TableName: deps.table,
        KeyConditionExpression: 'PK = :pk AND SK BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': userPk(userId),
          ':from': dailySk(range.from),
          ':to': dailySk(range.to),
        },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      for (const [date, { count, value }] of dayBucketsOf(item)) {
        if (date >= range.from && date <= range.to)
          daily.push({ date, event_count: count, total_value: value });
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return daily;
};

/**
 * A day is its bucket on its DAILY# month item plus, while the day is one of the user's recent ones, its bucket on the TOTALS
 * item (functions/stream-aggregator/totals.ts). Both are summed: a day moves from one to the other with
 * two writes, so a read between them can count that day twice for a moment.
 */
const withBuckets = (
  daily: z.infer<typeof DailySchema>[],
  totals: Record<string, unknown> | undefined,
  range: { from: string; to: string },
): z.infer<typeof DailySchema>[] => {
  const days = new Map(daily.map((day) => [day.date, { ...day }]));
  for (const [date, { count, value }] of dayBucketsOf(totals ?? {})) {
    if (date < range.from || date > range.to) continue;
    const day = days.get(date) ?? { date, event_count: 0, total_value: 0 };
    day.event_count += count;
    day.total_value += value;
    days.set(date, day);
  }
  return [...days.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
};

/**
 * The type of the user's latest event: their newest EVENT# item (the sort key starts with the event time).
 * Read here rather than kept on TOTALS, where keeping a maximum would cost a conditional write that every
 * file applied out of event-time order fails (functions/stream-aggregator/totals.ts).
 */
const readLatestEventType = async (deps: ApiDeps, userId: string): Promise<string | null> => {
  const { Items } = await ddb.send(
    new QueryCommand({
      TableName: deps.table,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': userPk(userId), ':prefix': EVENT_SK_PREFIX },
      ScanIndexForward: false,
      Limit: 1,
    }),
  );
  const latest = Items?.[0];
  return latest === undefined ? null : EventSchema.parse(latest).eventType;
};

export const getUserAggregates = async (
  deps: ApiDeps,
  userId: string,
  range: { from: string; to: string },
): Promise<UserAggregates> => {
  const [{ Item }, daily, latestType] = await Promise.all([
    ddb.send(new GetCommand({ TableName: deps.table, Key: { PK: userPk(userId), SK: TOTALS_SK } })),
    readDaily(deps, userId, range),
    readLatestEventType(deps, userId),
  ]);
  return {
    userId,
    totals: Item ? { ...TotalsSchema.parse(Item), last_event_type: latestType } : null,
    daily: withBuckets(daily, Item, range),
  };
};

/** Events in time order; `from`/`to` are normalised ISO instants, both inclusive. */
export const listUserEvents = async (
  deps: ApiDeps,
  userId: string,
  query: { from?: string | undefined; to?: string | undefined; limit: number; cursor?: string | undefined },
): Promise<Page<z.infer<typeof EventSchema>>> => {
  const pk = userPk(userId);
  const lower = `${EVENT_SK_PREFIX}${query.from ?? ''}`;
  const upper = `${EVENT_SK_PREFIX}${query.to ?? ''}${HIGH}`;
  const inRange = (key: CursorKey) => key.PK === pk && key.SK >= lower && key.SK <= upper;
  const page = await ddb.send(
    new QueryCommand({
      TableName: deps.table,
      KeyConditionExpression: 'PK = :pk AND SK BETWEEN :lower AND :upper',
      ExpressionAttributeValues: { ':pk': pk, ':lower': lower, ':upper': upper },
      Limit: query.limit,
      ExclusiveStartKey: query.cursor === undefined ? undefined : decodeCursor(query.cursor, inRange),
    }),
  );
  return {
    items: (page.Items ?? []).map((item) => EventSchema.parse(item)),
    nextCursor: encodeCursor(page.LastEvaluatedKey),
  };
};

/** A user's scores, one per scored file, in file-id order. */
export const listUserScores = async (
  deps: ApiDeps,
  userId: string,
  query: { limit: number; cursor?: string | undefined },
): Promise<Page<z.infer<typeof ScoreSchema>>> => {
  const pk = userPk(userId);
  const belongs = (key: CursorKey) => key.PK === pk && key.SK.startsWith(SCORE_SK_PREFIX);
  const page = await ddb.send(
    new QueryCommand({
      TableName: deps.table,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': SCORE_SK_PREFIX },
      Limit: query.limit,
      ExclusiveStartKey: query.cursor === undefined ? undefined : decodeCursor(query.cursor, belongs),
    }),
  );
  return {
    items: (page.Items ?? []).map((item) => ScoreSchema.parse(item)),
    nextCursor: encodeCursor(page.LastEvaluatedKey),
  };
};

/** The FILE# metadata of an upload key, or null when no outcome was recorded for it. */
export const getFileStatus = async (deps: ApiDeps, key: string): Promise<FileView | null> => {
  const { Item } = await ddb.send(
    new GetCommand({ TableName: deps.table, Key: { PK: filePk(key), SK: FILE_METADATA_SK } }),
  );
  return Item ? FileSchema.parse(Item) : null;
};
