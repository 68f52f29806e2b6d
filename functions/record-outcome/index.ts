import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { requireEnv } from '#shared/config.ts';
import { putFileMetadata } from '#shared/file-metadata.ts';
import { PREFIX, relocate, storedMarkerPrefixOf, storedRowsOfMarker } from '#shared/keys.ts';
import { correlate, withPowertools } from '#shared/middleware.ts';
import { type OutcomeTask, OutcomeTaskSchema, parseTaskInput } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';
import { listKeys, moveObject } from '#shared/s3.ts';
import { failureReasonOf, recordedErrorOf, type StoredSoFar } from './failure.ts';

const config = { table: requireEnv('TABLE_NAME') };
// SNS: "UTF-8 text with no line breaks or control characters, and less than 100 characters long". S3 keys may
// hold any of those, and a Publish that breaks the rule fails SendErrorNotification.
const SUBJECT_MAX_CHARS = 99;

const subjectOf = (text: string): string => {
  const clean = text.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ');
  const chars = [...clean]; // code points, so an emoji is never cut in half
  return chars.length <= SUBJECT_MAX_CHARS ? clean : `${chars.slice(0, SUBJECT_MAX_CHARS - 1).join('')}…`;
};

/** What the workflow's SNS notification says: subject line and a JSON body a person or program can read. */
export const notificationOf = (task: OutcomeTask, destinationKey: string | null, reason?: string) => {
  const base = task.file.key.split('/').pop() ?? task.file.key;
  const subject = task.outcome === 'REJECTED' ? `CSV file rejected: ${base}` : `CSV pipeline failed: ${base}`;
  return {
    subject: subjectOf(subject),
    message: JSON.stringify({
      type: task.outcome === 'REJECTED' ? 'FileRejected' : 'FileFailed',
      bucket: task.file.bucket,
      key: task.file.key,
      fileId: task.file.fileId,
      executionArn: task.executionArn,
      reason: task.outcome === 'REJECTED' ? task.validation?.reason : reason,
      rows: task.validation && {
        total: task.validation.totalRows,
        valid: task.validation.validRows,
        rejected: task.validation.rejectedRows,
      },
      rejectsKey: task.validation?.rejectsKey ?? null,
      rejectSample: task.validation?.rejectSample ?? [],
      error: recordedErrorOf(task.error),
      destinationKey,
    }),
  };
};

/** The chunks whose events reached the table, from their markers: what a failed file had already stored. */
const storedSoFar = async (bucket: string, fileId: string): Promise<StoredSoFar> => {
  const markers = await listKeys(bucket, storedMarkerPrefixOf(fileId));
  return { chunks: markers.length, rows: markers.reduce((sum, key) => sum + storedRowsOfMarker(key), 0) };
};

/**
 * Records a file that did not make it: REJECTED files (bad header, no rows, too many bad rows) move to
 * rejected/; FAILED ones (a task error) stay in uploads/ so a redrive can pick them up again.
 */
export const handler = withPowertools(async (event: unknown, _context: Context) => {
  const task = parseTaskInput(OutcomeTaskSchema, event, 'RecordOutcome');
  correlate({ executionArn: task.executionArn, fileId: task.file.fileId, key: task.file.key });

  const destinationKey = task.outcome === 'REJECTED' ? relocate(task.file.key, PREFIX.rejected) : null;
  if (destinationKey !== null) await moveObject(task.file.bucket, task.file.key, task.file, destinationKey);
  const stored =
    task.outcome === 'FAILED' ? await storedSoFar(task.file.bucket, task.file.fileId) : undefined;
  const reason =
    stored === undefined
      ? task.validation?.reason
      : failureReasonOf(task.error, stored, task.validation?.chunkCount);
  await putFileMetadata(config.table, {
    status: task.outcome,
    file: task.file,
    executionArn: task.executionArn,
    validation: task.validation,
    storedRows: stored?.rows ?? 0,
    destinationKey,
    reason,
    error: recordedErrorOf(task.error),
    completedAt: new Date().toISOString(),
  });

  metrics.addMetric(task.outcome === 'REJECTED' ? 'FilesRejected' : 'FilesFailed', MetricUnit.Count, 1);
  logger.warn('File outcome recorded', {
    outcome: task.outcome,
    reason: task.validation?.reason,
    error: task.error,
  });
  return { status: task.outcome, destinationKey, notification: notificationOf(task, destinationKey, reason) };
});
