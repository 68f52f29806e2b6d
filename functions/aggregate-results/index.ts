import type { Context } from 'aws-lambda';
import { mapWithConcurrency } from '#shared/concurrency.ts';
import { ChunkNotFoundError } from '#shared/errors.ts';
import { aggregatesKeyOf, lanePageKeyOf, partialKeyOf } from '#shared/keys.ts';
import { correlate, withPowertools } from '#shared/middleware.ts';
import {
  type Aggregate,
  type AggregatesFile,
  AggregateTaskSchema,
  type ChunkPartial,
  PartialSchema,
  parseTaskInput,
} from '#shared/model.ts';
import { logger } from '#shared/powertools.ts';
import { getJson, putObject } from '#shared/s3.ts';
import { combinePartials, contributionsOf, lanePagesOf, summarise } from './combine.ts';

const READ_CONCURRENCY = 16;
const WRITE_CONCURRENCY = 16;

export const handler = withPowertools(async (event: unknown, _context: Context): Promise<Aggregate> => {
  const task = parseTaskInput(AggregateTaskSchema, event, 'AggregateResults');
  const { bucket, fileId } = task.file;
  correlate({ executionArn: task.executionArn, fileId });

  // The Map discards chunk outputs (ResultPath null) to keep the state payload constant; the partials are
  // read back here by their deterministic keys, and a missing one is an error, never a silent gap.
  const partials: ChunkPartial[] = [];
  for (let start = 0; start < task.chunkCount; start += READ_CONCURRENCY) {
    const indexes = Array.from(
      { length: Math.min(READ_CONCURRENCY, task.chunkCount - start) },
      (_, i) => start + i,
    );
    partials.push(
      ...(await Promise.all(
        indexes.map((chunk) =>
          getJson(bucket, partialKeyOf(fileId, chunk), PartialSchema, (m) => new ChunkNotFoundError(m)),
        ),
      )),
    );
  }

  const { storedRows, groups } = combinePartials(partials);
  const aggregatesKey = aggregatesKeyOf(fileId);
  const file: AggregatesFile = { fileId, storedRows, groups };
  await putObject(bucket, aggregatesKey, JSON.stringify(file), 'application/json');

  // The pages StoreResults hands to the lanes; deterministic keys, so a retry rewrites the same objects.
  const lanes = lanePagesOf(fileId, contributionsOf(groups));
  await mapWithConcurrency(lanes.flat(), WRITE_CONCURRENCY, (page) =>
    putObject(bucket, lanePageKeyOf(fileId, page.lane, page.page), JSON.stringify(page), 'application/json'),
  );

  const result: Aggregate = {
    storedRows,
    aggregatesKey,
    ...summarise(groups),
    lanePages: lanes.map((pages) => pages.length),
  };
  logger.info('Results aggregated', {
    storedRows,
    users: result.users,
    userDays: result.userDays,
    pages: lanes.flat().length,
  });
  return result;
});
