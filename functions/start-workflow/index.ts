import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3EventNotificationEventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/s3';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { s3, sfn } from '#shared/clients.ts';
import { requireEnv } from '#shared/config.ts';
import { ObjectNotFoundError } from '#shared/errors.ts';
import { executionNameOf, fileIdOf } from '#shared/keys.ts';
import { correlate, withPowertools } from '#shared/middleware.ts';
import { type FileRef, parseTaskInput } from '#shared/model.ts';
import { logger, metrics } from '#shared/powertools.ts';

const config = { stateMachineArn: requireEnv('STATE_MACHINE_ARN') };

// Powertools' schema takes only IPv4 in source-ip-address; uploads through S3's dual-stack endpoints come
// from IPv6 addresses, and failing those would dead-letter valid uploads. Source and type are pinned so that
// a widened rule can never start a run for, say, a deleted object.
const ObjectCreatedEventSchema = S3EventNotificationEventBridgeSchema.extend({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: S3EventNotificationEventBridgeSchema.shape.detail.extend({
    'source-ip-address': z.union([z.ipv4(), z.ipv6()]).optional(),
  }),
});

type ObjectCreated = z.infer<typeof ObjectCreatedEventSchema>;

/** The object's ETag: from the event, as S3 sends it, or else (some emulators omit it) from HeadObject. */
const etagOf = async (event: ObjectCreated): Promise<string> => {
  const { bucket, object } = event.detail;
  if (object.etag !== undefined && object.etag !== '') return object.etag;
  try {
    const head = await s3.send(
      new HeadObjectCommand({
        Bucket: bucket.name,
        Key: object.key,
        ...(object['version-id'] ? { VersionId: object['version-id'] } : {}),
      }),
    );
    return (head.ETag ?? '').replaceAll('"', '');
  } catch (error) {
    if ((error as Error).name === 'NotFound') {
      throw new ObjectNotFoundError(`s3://${bucket.name}/${object.key} is gone before its run could start`);
    }
    throw error;
  }
};

/** The execution input: the object as the event describes it, plus its stable file id. */
export const fileRefOf = (event: ObjectCreated, etag: string): FileRef => {
  const { bucket, object } = event.detail;
  return {
    bucket: bucket.name,
    key: object.key,
    etag,
    ...(object['version-id'] ? { versionId: object['version-id'] } : {}),
    size: object.size ?? 0,
    eventTime: event.time,
    fileId: fileIdOf(bucket.name, object.key, etag),
  };
};

/**
 * EventBridge → this function → StartExecution. A Step Functions rule target cannot name the execution;
 * this function does, from bucket, key and ETag, so a redelivered event (EventBridge is at-least-once) or
 * a re-upload of the same bytes meets ExecutionAlreadyExists instead of starting a second run.
 */
export const handler = withPowertools(async (event: unknown, _context: Context) => {
  const parsed = parseTaskInput(ObjectCreatedEventSchema, event, 'StartWorkflow');
  const file = fileRefOf(parsed, await etagOf(parsed));
  const name = executionNameOf(file.key, file.fileId);
  correlate({ fileId: file.fileId, key: file.key });
  try {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: config.stateMachineArn,
        name,
        input: JSON.stringify({ file }),
      }),
    );
    metrics.addMetric('ExecutionsStarted', MetricUnit.Count, 1);
    logger.info('Execution started', { executionArn, name });
    return { started: true, name, executionArn };
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
    metrics.addMetric('DuplicateEvents', MetricUnit.Count, 1);
    logger.info('Execution already exists for this object version; nothing to do', { name });
    return { started: false, name };
  }
});
