import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PublishCommand } from '@aws-sdk/client-sns';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { sns } from '#shared/clients.ts';
import { booleanEnv, positiveIntegerEnv, requireEnv } from '#shared/config.ts';
import { ChunkNotFoundError } from '#shared/errors.ts';
import { withPowertools } from '#shared/middleware.ts';
import { LanePageSchema } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { getJson, putObject } from '#shared/s3.ts';
import { type AggregatorDeps, aggregateBatch } from './aggregate.ts';

const pipelineEventsTopicArn = requireEnv('PIPELINE_EVENTS_TOPIC_ARN');

const deps: AggregatorDeps = {
  table: requireEnv('TABLE_NAME'),
  topicArn: requireEnv('ALERTS_TOPIC_ARN'),
  policy: {
    threshold: positiveIntegerEnv('ALERT_THRESHOLD', 1000),
    everyMultiple: booleanEnv('ALERT_EVERY_MULTIPLE', true),
  },
  readPage: (bucket, key) =>
    getJson(bucket, key, LanePageSchema, (message) => new ChunkNotFoundError(message)),
  writeScoring: (bucket, key, page) => putObject(bucket, key, JSON.stringify(page), 'application/json'),
  publishAggregated: async (aggregated) => {
    await sns.send(
      new PublishCommand({
        TopicArn: pipelineEventsTopicArn,
        Message: JSON.stringify(aggregated),
        MessageAttributes: { type: { DataType: 'String', StringValue: aggregated.type } },
      }),
    );
  },
  userConcurrency: 16,
};

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * A lane's pages must be applied in order, while the Powertools record handler sees one record at a time.
 * So the pages are applied first, over the whole batch (aggregate.ts); the record handler then only
 * replays each record's outcome, and Powertools builds the partial-batch response from it (and throws
 * FullBatchFailureError when no record succeeded, so Lambda retries the batch).
 */
export const handler = withPowertools(async (event: DynamoDBStreamEvent, context: Context) => {
  const outcome = await aggregateBatch(event.Records, deps);

  for (const [record, error] of outcome.failures) {
    logger.error('Lane record failed', { sequenceNumber: record.dynamodb?.SequenceNumber, error });
  }
  metrics.addMetric('LanePagesApplied', MetricUnit.Count, outcome.pages - outcome.skippedPages);
  metrics.addMetric('LanePagesSkipped', MetricUnit.Count, outcome.skippedPages);
  metrics.addMetric('UsersAggregated', MetricUnit.Count, outcome.users);
  metrics.addMetric('ThresholdAlerts', MetricUnit.Count, outcome.alerts);
  logger.info('Lane batch aggregated', {
    records: event.Records.length,
    pages: outcome.pages,
    skippedPages: outcome.skippedPages,
    users: outcome.users,
    closedDays: outcome.closedDays,
    alerts: outcome.alerts,
    failed: outcome.failures.size,
  });

  const replayOutcome = (record: DynamoDBRecord): void => {
    const failure = outcome.failures.get(record);
    if (failure !== undefined) throw failure;
  };
  return processPartialResponse(event, replayOutcome, processor, { context });
});
