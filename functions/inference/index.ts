import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { parser } from '@aws-lambda-powertools/batch/parser';
import type { ParsedRecord } from '@aws-lambda-powertools/batch/types';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { numberEnv, requireEnv } from '#shared/config.ts';
import { withPowertools } from '#shared/middleware.ts';
import { ScoringPageSchema, type UsersAggregatedEvent, UsersAggregatedEventSchema } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { getJson } from '#shared/s3.ts';
import { ScoringInputNotFoundError } from './errors.ts';
import { type InferenceDeps, scorePage } from './score-file.ts';
import { zScoreScorer } from './scorer.ts';

const deps: InferenceDeps = {
  table: requireEnv('TABLE_NAME'),
  scorer: zScoreScorer,
  readScoring: (bucket, key) =>
    getJson(bucket, key, ScoringPageSchema, (message) => new ScoringInputNotFoundError(message)),
  write: {
    concurrency: numberEnv('WRITE_CONCURRENCY', 4),
    maxAttempts: numberEnv('MAX_WRITE_ATTEMPTS', 8),
    baseDelayMs: numberEnv('WRITE_BASE_DELAY_MS', 50),
  },
  now: () => new Date(),
};

// The body is the UsersAggregatedEvent itself (raw message delivery); one that does not parse fails alone.
const processor = new BatchProcessor(EventType.SQS, {
  parser,
  innerSchema: UsersAggregatedEventSchema,
  transformer: 'json',
  logger,
});

const scoreMessage = async (record: ParsedRecord<SQSRecord, UsersAggregatedEvent>): Promise<void> => {
  const result = await scorePage(deps, record.body);
  metrics.addMetric('UsersScored', MetricUnit.Count, result.users);
  metrics.addMetric('AnomalousUsers', MetricUnit.Count, result.anomalous);
  const { fileId, lane, page } = record.body;
  logger.info('Page scored', { messageId: record.messageId, fileId, lane, page, ...result });
};

/** Partial failures go back to the queue; a batch where every message failed throws, so Lambda retries it. */
export const handler = withPowertools(async (event: SQSEvent, context: Context) => {
  const response = await processPartialResponse(event, scoreMessage, processor, { context });
  if (response.batchItemFailures.length > 0) {
    logger.error('Messages not scored, returned to the queue', {
      messageIds: response.batchItemFailures.map((failure) => failure.itemIdentifier),
      errors: processor.errors.map((error) => `${error.name}: ${error.message}`),
    });
  }
  return response;
});
