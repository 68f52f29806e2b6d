import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { numberEnv } from '#shared/config.ts';
import { ObjectNotFoundError } from '#shared/errors.ts';
import { chunkKeyOf, rejectsKeyOf } from '#shared/keys.ts';
import { correlate, withPowertools } from '#shared/middleware.ts';
import { parseTaskInput, ValidateTaskSchema, type Validation } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { openS3Writer } from '#shared/rejects.ts';
import { getObjectStream, putObject } from '#shared/s3.ts';
import { validateCsv } from './validate.ts';

const config = {
  chunkRows: numberEnv('CHUNK_ROWS', 10_000),
  maxRejectRatio: numberEnv('MAX_REJECT_RATIO', 0.1),
  // States.ArrayRange (which builds the Map's items) makes at most 1,000 items.
  maxChunks: numberEnv('MAX_CHUNKS', 1_000),
};

export const handler = withPowertools(async (event: unknown, _context: Context): Promise<Validation> => {
  const { file, executionArn } = parseTaskInput(ValidateTaskSchema, event, 'ValidateData');
  correlate({ executionArn, fileId: file.fileId, key: file.key });

  const source = await getObjectStream(
    file.bucket,
    file.key,
    file,
    (message) => new ObjectNotFoundError(message),
  );
  const rejectsKey = rejectsKeyOf(file.key, file.fileId);
  const validation = await validateCsv(
    source,
    // Normalised like parsed timestamps, so event sort keys and Athena's event_time share one format.
    { ...config, fileId: file.fileId, defaultTimestamp: new Date(file.eventTime).toISOString(), rejectsKey },
    {
      stageChunk: (index, body) =>
        putObject(file.bucket, chunkKeyOf(file.fileId, index), body, 'application/x-ndjson'),
      openRejects: () => openS3Writer(file.bucket, rejectsKey, 'text/csv'),
      reopen: () =>
        getObjectStream(file.bucket, file.key, file, (message) => new ObjectNotFoundError(message)),
    },
  );

  metrics.addMetric('RowsValidated', MetricUnit.Count, validation.validRows);
  metrics.addMetric('RowsRejected', MetricUnit.Count, validation.rejectedRows);
  if (!validation.valid) metrics.addMetric('FilesInvalid', MetricUnit.Count, 1);
  logger.info('File validated', { validation });
  return validation;
});
