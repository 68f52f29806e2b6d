import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { EventBridgeEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { executionNameOf, fileIdOf } from '../../../functions/shared/keys.ts';
import { handler } from '../../../functions/start-workflow/index.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';

interface ObjectCreatedDetail {
  bucket: { name: string };
  object: { key: string; size: number; etag: string; 'version-id': string; sequencer: string };
  'source-ip-address': string;
}
type ObjectCreated = EventBridgeEvent<'Object Created', ObjectCreatedDetail>;

const sfnMock = mockClient(SFNClient);
const s3Mock = mockClient(S3Client);
const context = lambdaContext('start-workflow');
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:pipeline';
const EXECUTION_ARN = 'arn:aws:states:us-east-1:123456789012:execution:pipeline:sample';

describe('start-workflow handler', () => {
  beforeEach(() => {
    sfnMock.reset();
    s3Mock.reset();
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
  });

  it('starts one execution named after the object, with the file reference (its version too) as input', async () => {
    const event = loadEvent<ObjectCreated>('start-workflow.json');
    const { bucket, object } = event.detail;
    const fileId = fileIdOf(bucket.name, object.key, object.etag);

    const result = await handler(event, context);

    expect(result).toEqual({ started: true, name: `sample-${fileId}`, executionArn: EXECUTION_ARN });
    const input = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(input?.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(input?.name).toBe(executionNameOf(object.key, fileId));
    expect(JSON.parse(input?.input ?? '')).toEqual({
      file: {
        bucket: bucket.name,
        key: 'uploads/sample.csv',
        etag: object.etag,
        versionId: object['version-id'],
        size: object.size,
        eventTime: event.time,
        fileId,
      },
    });
  });

  it('reads the ETag with HeadObject when the event carries none, and names the run from it', async () => {
    const event = loadEvent<ObjectCreated>('start-workflow.json');
    const { etag } = event.detail.object;
    const withoutEtag = {
      ...event,
      detail: { ...event.detail, object: { ...event.detail.object, etag: undefined } },
    };
    s3Mock.on(HeadObjectCommand).resolves({ ETag: `"${etag}"` });

    await handler(withoutEtag, context);

    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: event.detail.bucket.name,
      Key: event.detail.object.key,
      VersionId: event.detail.object['version-id'],
    });
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '');
    expect(input.file.fileId).toBe(fileIdOf(event.detail.bucket.name, event.detail.object.key, etag));
  });

  it('does not call S3 when the event has the ETag', async () => {
    await handler(loadEvent('start-workflow.json'), context);

    expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
  });

  it('sends the execution input that events/validate-data.json shows ValidateData receiving', async () => {
    await handler(loadEvent('start-workflow.json'), context);

    const input = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '';
    expect(JSON.parse(input)).toEqual({ file: loadEvent<{ file: unknown }>('validate-data.json').file });
  });

  it('gives a redelivered event the same execution name and input', async () => {
    await handler(loadEvent('start-workflow.json'), context);
    await handler(loadEvent('start-workflow.json'), context);

    const [first, second] = sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(second).toEqual(first);
  });

  it('gives a new upload of different content to the same key a new execution name', async () => {
    const changed = loadEvent<ObjectCreated>('start-workflow.json');
    changed.detail.object.etag = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

    await handler(loadEvent('start-workflow.json'), context);
    await handler(changed, context);

    const [first, second] = sfnMock
      .commandCalls(StartExecutionCommand)
      .map((call) => call.args[0].input.name);
    expect(second).not.toBe(first);
  });

  it('returns started: false without throwing when the execution already exists', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

    const result = await handler(loadEvent('start-workflow.json'), context);

    expect(result).toMatchObject({ started: false });
  });

  it('lets other Step Functions errors through so EventBridge retries the event', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(handler(loadEvent('start-workflow.json'), context)).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });

  it('starts an execution for an upload from an IPv6 address', async () => {
    const event = loadEvent<ObjectCreated>('start-workflow.json');
    event.detail['source-ip-address'] = '2001:db8:85a3::8a2e:370:7334';

    const result = await handler(event, context);

    expect(result).toMatchObject({ started: true });
  });

  it('fails with InvalidTaskInputError for an event that is not from S3', async () => {
    const scheduled = {
      version: '0',
      id: 'cdc73f9d-aea9-11e3-9d5a-835b769c0d9c',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: '2026-01-15T09:30:00Z',
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:123456789012:rule/ExampleRule'],
      detail: {},
    };

    await expect(handler(scheduled, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('fails with InvalidTaskInputError for an S3 event of another type', async () => {
    const deleted = { ...loadEvent<ObjectCreated>('start-workflow.json'), 'detail-type': 'Object Deleted' };

    await expect(handler(deleted, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });

  it('fails with InvalidTaskInputError for an S3 notification in the classic Records shape', async () => {
    const classic = {
      Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: 'b' }, object: { key: 'k' } } }],
    };

    await expect(handler(classic, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });
});
