import { gzipSync } from 'node:zlib';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { numberEnv, requireEnv } from '#shared/config.ts';
import { batchPutAll } from '#shared/dynamo.ts';
import { ChunkNotFoundError } from '#shared/errors.ts';
import { chunkKeyOf, partialKeyOf, processedKeyOf, storedMarkerKeyOf } from '#shared/keys.ts';
import { correlate, withPowertools } from '#shared/middleware.ts';
import { type ChunkPartial, ChunkTaskSchema, decodeStagedChunk, parseTaskInput } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { getObjectText, objectExists, putObject } from '#shared/s3.ts';
import { eventItemOf, groupByDay, partialGroupsOf, processedRecordOf } from './chunk.ts';

const config = {
  table: requireEnv('TABLE_NAME'),
  writeConcurrency: numberEnv('WRITE_CONCURRENCY', 8),
  maxWriteAttempts: numberEnv('MAX_WRITE_ATTEMPTS', 8),
  writeBaseDelayMs: numberEnv('WRITE_BASE_DELAY_MS', 50),
};

export const handler = withPowertools(async (event: unknown, _context: Context) => {
  const task = parseTaskInput(ChunkTaskSchema, event, 'ProcessRecords');
  const { bucket, key, fileId } = task.file;
  correlate({ executionArn: task.executionArn, fileId, key });
  const started = Date.now();

  const chunkKey = chunkKeyOf(fileId, task.chunk);
  const rows = decodeStagedChunk(
    await getObjectText(bucket, chunkKey, (message) => new ChunkNotFoundError(message)),
    chunkKey,
  );

  // The partial is written last: if it exists, this chunk is done (a Map retry after the handler ran, or a
  // rerun of a failed file), and its writes are not paid for twice.
  if (await objectExists(bucket, partialKeyOf(fileId, task.chunk))) {
    metrics.addMetric('ChunksAlreadyStored', MetricUnit.Count, 1);
    logger.info('Chunk already stored', { chunk: task.chunk, rows: rows.length });
    return { chunk: task.chunk, stored: rows.length };
  }

  await batchPutAll(
    config.table,
    rows.map((row) => eventItemOf(row, fileId, key)),
    {
      concurrency: config.writeConcurrency,
      maxAttempts: config.maxWriteAttempts,
      baseDelayMs: config.writeBaseDelayMs,
    },
  );

  // Written as soon as the events are in the table, so a file that fails later can say what it had stored.
  await putObject(bucket, storedMarkerKeyOf(fileId, task.chunk, rows.length), '', 'text/plain');

  // Deterministic keys: a retried chunk overwrites its own objects.
  const days = groupByDay(rows, (row) => JSON.stringify(processedRecordOf(row, fileId, key)));
  await Promise.all(
    [...days].map(([day, lines]) =>
      putObject(
        bucket,
        processedKeyOf(day, fileId, task.chunk),
        gzipSync(`${lines.join('\n')}\n`),
        'application/gzip',
      ),
    ),
  );

  const partial: ChunkPartial = { chunk: task.chunk, stored: rows.length, groups: partialGroupsOf(rows) };
  await putObject(bucket, partialKeyOf(fileId, task.chunk), JSON.stringify(partial), 'application/json');

  metrics.addMetric('RowsStored', MetricUnit.Count, rows.length);
  metrics.addMetric('ChunkLatency', MetricUnit.Milliseconds, Date.now() - started);
  logger.info('Chunk stored', { chunk: task.chunk, rows: rows.length, days: days.size });
  return { chunk: task.chunk, stored: rows.length };
});
