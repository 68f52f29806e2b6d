import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { mapWithConcurrency } from '#shared/concurrency.ts';
import { type BatchWriteOptions, batchPutAll } from '#shared/dynamo.ts';
import { UnprocessedItemsError } from '#shared/errors.ts';
import { scoreSk, TOTALS_SK, userPk } from '#shared/keys.ts';
import type { AggregatesFile, FileStoredEvent, Group } from '#shared/model.ts';
import { AggregatesMismatchError } from './errors.ts';
import type { History, Score, ScoreInput, Scorer } from './scorer.ts';

export interface InferenceDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  scorer: Scorer;
  readAggregates: (bucket: string, key: string) => Promise<AggregatesFile>;
  write: BatchWriteOptions;
  /** BatchGetItem attempts per 100 keys before giving up with UnprocessedItemsError. */
  readAttempts: number;
  now: () => Date;
}

const BATCH_GET_SIZE = 100; // BatchGetItem's limit
const READ_CONCURRENCY = 4;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const TotalsSchema = z.object({
  userId: z.string(),
  event_count: z.number(),
  total_value: z.number(),
  sum_squares: z.number().default(0),
});

/** A file's groups are per user and day; the score is per user and file. */
export const sumPerUser = (
  groups: readonly Group[],
): Map<string, { eventCount: number; totalValue: number }> => {
  const users = new Map<string, { eventCount: number; totalValue: number }>();
  for (const [userId, , count, total] of groups) {
    const sum = users.get(userId);
    if (sum) {
      sum.eventCount += count;
      sum.totalValue += total;
    } else {
      users.set(userId, { eventCount: count, totalValue: total });
    }
  }
  return users;
};

/** Reads the TOTALS items of many users, 100 keys a call, resubmitting UnprocessedKeys with backoff. */
export const readHistories = async (
  deps: Pick<InferenceDeps, 'ddb' | 'table' | 'readAttempts'>,
  userIds: readonly string[],
): Promise<Map<string, History>> => {
  const chunks: string[][] = [];
  for (let i = 0; i < userIds.length; i += BATCH_GET_SIZE) chunks.push(userIds.slice(i, i + BATCH_GET_SIZE));

  const histories = new Map<string, History>();
  await mapWithConcurrency(chunks, READ_CONCURRENCY, async (chunk) => {
    let keys: Record<string, unknown>[] = chunk.map((userId) => ({ PK: userPk(userId), SK: TOTALS_SK }));
    for (let attempt = 1; ; attempt += 1) {
      const response = await deps.ddb.send(
        new BatchGetCommand({
          RequestItems: {
            [deps.table]: {
              Keys: keys,
              ProjectionExpression: 'userId, event_count, total_value, sum_squares',
            },
          },
        }),
      );
      for (const item of response.Responses?.[deps.table] ?? []) {
        const totals = TotalsSchema.parse(item);
        histories.set(totals.userId, {
          eventCount: totals.event_count,
          totalValue: totals.total_value,
          sumSquares: totals.sum_squares,
        });
      }
      keys = response.UnprocessedKeys?.[deps.table]?.Keys ?? [];
      if (keys.length === 0) return;
      if (attempt >= deps.readAttempts) {
        throw new UnprocessedItemsError(
          `${keys.length} TOTALS key(s) still unprocessed after ${attempt} attempts`,
        );
      }
      await sleep(Math.random() * 50 * 2 ** (attempt - 1));
    }
  });
  return histories;
};

interface ScoreItemParts {
  score: Score;
  eventCount: number;
  event: FileStoredEvent;
  model: string;
  computedAt: string;
}

const scoreItemOf = ({ score, eventCount, event, model, computedAt }: ScoreItemParts) => ({
  PK: userPk(score.userId),
  SK: scoreSk(event.fileId),
  type: 'SCORE',
  userId: score.userId,
  fileId: event.fileId,
  sourceKey: event.key,
  score: score.score,
  zScore: score.zScore,
  label: score.label,
  model,
  eventCount,
  meanValue: score.meanValue,
  computedAt,
});

/**
 * Scores every user of one stored file and writes one SCORE#<fileId> item per user. The keys depend only on
 * user and file, so a redelivered message overwrites the same items.
 */
export const scoreFile = async (
  deps: InferenceDeps,
  event: FileStoredEvent,
): Promise<{ users: number; anomalous: number }> => {
  const aggregates = await deps.readAggregates(event.bucket, event.aggregatesKey);
  if (aggregates.fileId !== event.fileId) {
    throw new AggregatesMismatchError(
      `${event.aggregatesKey} holds file ${aggregates.fileId}, not ${event.fileId}`,
    );
  }
  const sums = sumPerUser(aggregates.groups);
  if (sums.size === 0) return { users: 0, anomalous: 0 };

  const histories = await readHistories(deps, [...sums.keys()]);
  const inputs: ScoreInput[] = [...sums].map(([userId, sum]) => ({
    userId,
    ...sum,
    history: histories.get(userId) ?? null,
  }));
  const scores = await deps.scorer.score(inputs);
  const computedAt = deps.now().toISOString();

  // Only users of this file: a remote scorer's answer is not trusted to add any.
  const items = scores.flatMap((score) => {
    const sum = sums.get(score.userId);
    return sum
      ? [scoreItemOf({ score, eventCount: sum.eventCount, event, model: deps.scorer.model, computedAt })]
      : [];
  });
  await batchPutAll(deps.table, items, deps.write);
  return { users: items.length, anomalous: scores.filter((score) => score.label === 'anomalous').length };
};
