import type { DynamoDBRecord } from 'aws-lambda';
import { mapWithConcurrency } from '#shared/concurrency.ts';
import { type AlertDeps, publishPendingAlerts } from './alerts.ts';
import { groupByUser, parseStreamRecord, type StreamEvent } from './records.ts';
import { applyToTotals, type TotalsDeps } from './totals.ts';

export interface AggregatorDeps extends TotalsDeps, AlertDeps {
  /** Users updated at once. */
  userConcurrency: number;
}

export interface BatchOutcome {
  /** Why each failed record failed; every other record of the batch succeeded. */
  failures: Map<DynamoDBRecord, Error>;
  users: number;
  applied: number;
  skipped: number;
  alerts: number;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * Applies one stream batch: records are parsed one by one (a poison record fails alone), grouped by user,
 * and each user gets one conditional update and its pending alerts. When a user's update or alert fails,
 * all of that user's records fail, so the stream redelivers them; the other users are unaffected.
 */
export const aggregateBatch = async (
  records: readonly DynamoDBRecord[],
  deps: AggregatorDeps,
): Promise<BatchOutcome> => {
  const failures = new Map<DynamoDBRecord, Error>();
  const parsed: { record: DynamoDBRecord; event: StreamEvent }[] = [];
  for (const record of records) {
    try {
      parsed.push({ record, event: parseStreamRecord(record) });
    } catch (error) {
      failures.set(record, asError(error));
    }
  }

  const users = [...groupByUser(parsed)];
  const results = await mapWithConcurrency(users, deps.userConcurrency, async ([userId, entries]) => {
    try {
      const totals = await applyToTotals(
        deps,
        userId,
        entries.map((entry) => entry.event),
      );
      const alerts = await publishPendingAlerts(deps, userId, totals);
      return { applied: totals.applied, skipped: totals.skipped, alerts };
    } catch (error) {
      for (const { record } of entries) failures.set(record, asError(error));
      return { applied: 0, skipped: 0, alerts: 0 };
    }
  });

  return {
    failures,
    users: users.length,
    applied: results.reduce((sum, result) => sum + result.applied, 0),
    skipped: results.reduce((sum, result) => sum + result.skipped, 0),
    alerts: results.reduce((sum, result) => sum + result.alerts, 0),
  };
};
