import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { ddb } from '#shared/clients.ts';
import { mapWithConcurrency } from '#shared/concurrency.ts';
import { appliedPageSk, filePk, laneOf, scoringPageKeyOf } from '#shared/keys.ts';
import type { LanePage, ScoringPage, UsersAggregatedEvent } from '#shared/model.ts';
import { type AlertDeps, publishPendingAlerts } from './alerts.ts';
import { LaneBlockedError, LaneMismatchError } from './errors.ts';
import { type LaneRecord, parseLaneRecord } from './records.ts';
import { applyContribution, type TotalsDeps } from './totals.ts';

export interface AggregatorDeps extends TotalsDeps, AlertDeps {
  /** Reads a page object from staging/. */
  readPage: (bucket: string, key: string) => Promise<LanePage>;
  /** Writes the page's scoring input to staging/ for inference. */
  writeScoring: (bucket: string, key: string, page: ScoringPage) => Promise<void>;
  /** Tells inference (through the pipeline-events topic) that a page's users are aggregated. */
  publishAggregated: (event: UsersAggregatedEvent) => Promise<void>;
  /** Users applied at once within a page. */
  userConcurrency: number;
}

export interface BatchOutcome {
  /** Why each failed record failed; every other record of the batch succeeded. */
  failures: Map<DynamoDBRecord, Error>;
  pages: number;
  skippedPages: number;
  users: number;
  closedDays: number;
  alerts: number;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

const markerKey = ({ page }: LaneRecord) => ({
  PK: filePk(page.key),
  SK: appliedPageSk(page.fileId, page.lane, page.page),
});

/** Applies one page: every user once (guarded by the record's sequence), their alerts, then its marker. */
const applyPage = async (
  deps: AggregatorDeps,
  record: LaneRecord,
): Promise<Omit<BatchOutcome, 'failures' | 'pages'>> => {
  const nothing = { skippedPages: 0, users: 0, closedDays: 0, alerts: 0 };
  // A page handed to its lane twice (a retried StoreResults) was applied the first time.
  const { Item: marker } = await ddb.send(
    new GetCommand({ TableName: deps.table, Key: markerKey(record), ConsistentRead: true }),
  );
  if (marker !== undefined) return { ...nothing, skippedPages: 1 };

  const page = await deps.readPage(record.page.bucket, record.page.pageKey);
  // A user applied from the wrong lane would have two writers whose guards mean nothing to each other.
  const named = record.page;
  const stranger = page.users.find((user) => laneOf(user.userId) !== named.lane);
  if (page.fileId !== named.fileId || page.lane !== named.lane || page.page !== named.page || stranger) {
    throw new LaneMismatchError(
      `${named.pageKey} is not page ${named.page} of lane ${named.lane} of file ${named.fileId}` +
        (stranger ? ` (user ${stranger.userId} belongs to lane ${laneOf(stranger.userId)})` : ''),
    );
  }
  // Every user settles before the page fails: a rejection must not return the invocation while siblings
  // are still writing (and publishing) from an environment that is about to be frozen.
  const settled = await mapWithConcurrency(page.users, deps.userConcurrency, async (user) => {
    try {
      const totals = await applyContribution(deps, user, record.sequence, record.insertedAt);
      const alerts = await publishPendingAlerts(deps, user.userId, totals);
      // The totals just before this file: the state it was applied onto, the same on every retry. A user
      // already past this record (lane order makes it impossible) is left unscored rather than misscored.
      const { after } = totals;
      const scoring =
        after === undefined
          ? undefined
          : {
              userId: user.userId,
              eventCount: user.count,
              totalValue: user.total,
              history: {
                eventCount: after.eventCount - user.count,
                totalValue: after.totalValue - user.total,
                sumSquares: after.sumSquares - user.squares,
              },
            };
      return { closedDays: totals.closedDays, alerts, scoring };
    } catch (error) {
      return asError(error);
    }
  });
  const results: Exclude<(typeof settled)[number], Error>[] = [];
  for (const result of settled) {
    if (result instanceof Error) throw result;
    results.push(result);
  }
  // Inference scores the page from what it was applied onto; written and announced before the marker,
  // so a crash in between repeats both (same object, a duplicate message inference takes twice alike).
  const scoringKey = scoringPageKeyOf(named.fileId, named.lane, named.page);
  await deps.writeScoring(named.bucket, scoringKey, {
    fileId: named.fileId,
    key: named.key,
    lane: named.lane,
    page: named.page,
    users: results.flatMap((result) => (result.scoring === undefined ? [] : [result.scoring])),
  });
  await deps.publishAggregated({
    type: 'UsersAggregated',
    fileId: named.fileId,
    bucket: named.bucket,
    key: named.key,
    lane: named.lane,
    page: named.page,
    scoringKey,
    users: results.length,
  });
  try {
    await ddb.send(
      new PutCommand({
        TableName: deps.table,
        Item: {
          ...markerKey(record),
          type: 'APPLIED',
          fileId: record.page.fileId,
          lane: record.page.lane,
          page: record.page.page,
          users: page.users.length,
          sequence: record.sequence,
          appliedAt: record.insertedAt,
        },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
  return {
    ...nothing,
    users: page.users.length,
    closedDays: results.reduce((sum, r) => sum + r.closedDays, 0),
    alerts: results.reduce((sum, r) => sum + r.alerts, 0),
  };
};

/**
 * Applies one stream batch of lane records. Lanes are independent and run side by side; within a lane,
 * pages are applied strictly in stream order, and the first page that fails stops its lane: it and every
 * later record of that lane fail, so the stream redelivers them in order (a later page must never be
 * applied before an earlier one, or the earlier one's guard would skip users it never reached).
 */
export const aggregateBatch = async (
  records: readonly DynamoDBRecord[],
  deps: AggregatorDeps,
): Promise<BatchOutcome> => {
  const failures = new Map<DynamoDBRecord, Error>();
  const lanes = new Map<string, { record: DynamoDBRecord; lane: LaneRecord | Error }[]>();
  for (const record of records) {
    const laneId = record.dynamodb?.Keys?.PK?.S ?? '';
    let lane: LaneRecord | Error;
    try {
      lane = parseLaneRecord(record);
    } catch (error) {
      lane = asError(error);
    }
    const list = lanes.get(laneId) ?? [];
    list.push({ record, lane });
    lanes.set(laneId, list);
  }

  const outcome: BatchOutcome = { failures, pages: 0, skippedPages: 0, users: 0, closedDays: 0, alerts: 0 };
  await Promise.all(
    [...lanes.values()].map(async (entries) => {
      let blocked: Error | undefined;
      for (const { record, lane } of entries) {
        if (blocked !== undefined) {
          failures.set(
            record,
            new LaneBlockedError('an earlier page of this lane failed', { cause: blocked }),
          );
          continue;
        }
        try {
          if (lane instanceof Error) throw lane;
          const result = await applyPage(deps, lane);
          outcome.pages += 1;
          outcome.skippedPages += result.skippedPages;
          outcome.users += result.users;
          outcome.closedDays += result.closedDays;
          outcome.alerts += result.alerts;
        } catch (error) {
          blocked = asError(error);
          failures.set(record, blocked);
        }
      }
    }),
  );
  return outcome;
};
