import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { requireEnv } from '#shared/config.ts';
import { ReconciliationError } from '#shared/errors.ts';
import { putFileMetadata } from '#shared/file-metadata.ts';
import { PREFIX, relocate } from '#shared/keys.ts';
import { correlate, withPowertools } from '#shared/middleware.ts';
import { type FileStoredEvent, parseTaskInput, StoreTaskSchema } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { moveObject } from '#shared/s3.ts';
import { handPagesToLanes } from './lanes.ts';

const config = { table: requireEnv('TABLE_NAME') };

export const handler = withPowertools(async (event: unknown, _context: Context) => {
  const { file, validation, aggregate, executionArn } = parseTaskInput(
    StoreTaskSchema,
    event,
    'StoreResults',
  );
  correlate({ executionArn, fileId: file.fileId, key: file.key });

  if (aggregate.storedRows !== validation.validRows) {
    throw new ReconciliationError(
      `${validation.validRows} valid rows staged but ${aggregate.storedRows} stored for ${file.key}`,
    );
  }

  // Totals and daily aggregates are applied by the lanes (stream aggregator), one ordered writer per user.
  const pages = await handPagesToLanes(config.table, file, aggregate.lanePages);

  const archiveKey = relocate(file.key, PREFIX.archive);
  await moveObject(file.bucket, file.key, file, archiveKey);
  await putFileMetadata(config.table, {
    status: 'SUCCEEDED',
    file,
    executionArn,
    validation,
    storedRows: aggregate.storedRows,
    destinationKey: archiveKey,
    completedAt: new Date().toISOString(),
  });

  metrics.addMetric('FilesStored', MetricUnit.Count, 1);
  logger.info('Results stored', { pages, archiveKey });
  const stored: FileStoredEvent = {
    type: 'FileStored',
    fileId: file.fileId,
    bucket: file.bucket,
    key: file.key,
    aggregatesKey: aggregate.aggregatesKey,
    storedRows: aggregate.storedRows,
    users: aggregate.users,
  };
  return { status: 'SUCCEEDED', archiveKey, pages, event: stored };
});
