import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { ddb, sns } from '#shared/clients.ts';
import { booleanEnv, positiveIntegerEnv, requireEnv } from '#shared/config.ts';
import { withPowertools } from '#shared/middleware.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { type AggregatorDeps, aggregateBatch } from './aggregate.ts';

const deps: AggregatorDeps = {
  ddb,
  sns,
  table: requireEnv('TABLE_NAME'),
  topicArn: requireEnv('ALERTS_TOPIC_ARN'),
  policy: {
    threshold: positiveIntegerEnv('ALERT_THRESHOLD', 1000),
    everyMultiple: booleanEnv('ALERT_EVERY_MULTIPLE', true),
  },
  maxAttempts: 4,
  userConcurrency: 16,
};

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * Totals need every record of a user at once, while the Powertools record handler sees one record at a
 * time. So the grouped, conditional writes run first, over the whole batch; the record handler then only
 * replays each record's outcome, and Powertools builds the partial-batch response from it (and throws
 * FullBatchFailureError when no record succeeded, so Lambda retries and bisects the batch).
 */
export const handler = withPowertools(async (event: DynamoDBStreamEvent, context: Context) => {
  const outcome = await aggregateBatch(event.Records, deps);

  for (const [record, error] of outcome.failures) {
    logger.error('Stream record failed', { sequenceNumber: record.dynamodb?.SequenceNumber, error });
  }
  metrics.addMetric('StreamEventsApplied', MetricUnit.Count, outcome.applied);
  metrics.addMetric('StreamEventsSkipped', MetricUnit.Count, outcome.skipped);
  metrics.addMetric('ThresholdAlerts', MetricUnit.Count, outcome.alerts);
  logger.info('Stream batch aggregated', {
    records: event.Records.length,
    users: outcome.users,
    applied: outcome.applied,
    skipped: outcome.skipped,
    alerts: outcome.alerts,
    failed: outcome.failures.size,
  });

  const replayOutcome = (record: DynamoDBRecord): void => {
    const failure = outcome.failures.get(record);
    if (failure !== undefined) throw failure;
  };
  return processPartialResponse(event, replayOutcome, processor, { context });
});
