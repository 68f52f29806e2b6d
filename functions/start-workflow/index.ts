import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3EventNotificationEventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/s3';
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { sfn } from '#shared/clients.ts';
import { requireEnv } from '#shared/config.ts';
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

/** The execution input: the object as the event describes it, plus its stable file id. */
export const fileRefOf = (event: {
  time: string;
  detail: {
    bucket: { name: string };
    object: { key: string; etag?: string; size?: number; 'version-id'?: string; sequencer?: string };
  };
}): FileRef => {
  const { bucket, object } = event.detail;
  // The ETag names the content; events without one fall back to the version id, then the sequencer.
  const etag = object.etag ?? object['version-id'] ?? object.sequencer ?? '';
  return {
    bucket: bucket.name,
    key: object.key,
    etag,
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
  const file = fileRefOf(parsed);
  const name = executionNameOf(file.key, file.fileId);
  correlate({ fileId: file.fileId, key: file.key });
  try {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: config.stateMachineArn,
        name,
        input: JSON.stringify(file),
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
