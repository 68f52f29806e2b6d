import {
  CopyObjectCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  S3Client,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler, notificationOf } from '../../../functions/record-outcome/index.ts';
import type { OutcomeTask } from '../../../functions/shared/model.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const context = lambdaContext('record-outcome');

const validationOf = () => {
  const validation = loadEvent<OutcomeTask>('record-outcome-rejected.json').validation;
  if (validation === undefined) throw new Error('record-outcome-rejected.json has no validation');
  return validation;
};

const metadataItem = () => ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item;

describe('record-outcome handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [] });
    ddbMock.on(PutCommand).resolves({});
  });

  describe('a REJECTED file', () => {
    it('moves the original from uploads/ to rejected/', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-rejected.json');

      const result = await handler(task, context);

      expect(result.destinationKey).toBe('rejected/sample.csv');
      expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toMatchObject({
        Key: 'rejected/sample.csv',
        CopySource: `${task.file.bucket}/uploads/sample.csv?versionId=${task.file.versionId}`,
      });
      expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toMatchObject({
        Key: 'uploads/sample.csv',
        VersionId: task.file.versionId,
      });
    });

    it('records the validation reason, the row counts and the rejects file on the FILE# item', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-rejected.json');

      await handler(task, context);

      expect(metadataItem()).toMatchObject({
        PK: 'FILE#uploads/sample.csv',
        SK: 'METADATA',
        status: 'REJECTED',
        reason: 'TooManyRejectedRows: 40 of 120 rows (33.3%) rejected; limit 10.0%',
        rows: { total: 120, stored: 0, rejected: 40 },
        rejectsKey: task.validation?.rejectsKey,
        destinationKey: 'rejected/sample.csv',
        executionArn: task.executionArn,
      });
    });

    it('succeeds on a rerun after the original was already moved', async () => {
      s3Mock
        .on(CopyObjectCommand)
        .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 2048 });

      const result = await handler(loadEvent<OutcomeTask>('record-outcome-rejected.json'), context);

      expect(result.status).toBe('REJECTED');
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    });

    it('prepares a notification with the reason, the sample of rejected rows and the rejects file', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-rejected.json');

      const { notification } = await handler(task, context);

      expect(notification.subject).toBe('CSV file rejected: sample.csv');
      expect(JSON.parse(notification.message)).toMatchObject({
        type: 'FileRejected',
        key: 'uploads/sample.csv',
        reason: task.validation?.reason,
        rows: { total: 120, valid: 80, rejected: 40 },
        rejectsKey: task.validation?.rejectsKey,
        rejectSample: task.validation?.rejectSample,
        destinationKey: 'rejected/sample.csv',
      });
    });
  });

  describe('a FAILED file', () => {
    it('leaves the original in uploads/ for a redrive', async () => {
      const result = await handler(loadEvent<OutcomeTask>('record-outcome-failed.json'), context);

      expect(result.destinationKey).toBeNull();
      expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    });

    it('records the Step Functions error, with its message in words, as the reason', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-failed.json');

      await handler(task, context);

      expect(metadataItem()).toMatchObject({
        status: 'FAILED',
        reason:
          'ChunkNotFoundError: s3://csv-analytics-dev-databucket-1a2b3c4d5e6f/staging/7dbcd3ab4fa76a0bda11b421/partials/00000.json does not exist; no rows were stored; the upload stays in uploads/ for a redrive',
        error: task.error,
        destinationKey: null,
        rows: { total: 0, stored: 0, rejected: 0 },
      });
    });

    it('says how many rows the file had already stored, from the chunks marked stored', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-failed.json');
      const prefix = `staging/${task.file.fileId}/stored/`;
      s3Mock
        .on(ListObjectsV2Command, { Prefix: prefix })
        .resolvesOnce({
          Contents: [{ Key: `${prefix}00000.10000` }],
          IsTruncated: true,
          NextContinuationToken: 't',
        })
        .resolvesOnce({ Contents: [{ Key: `${prefix}00001.10000` }, { Key: `${prefix}00003.2500` }] });

      await handler({ ...task, validation: { ...validationOf(), chunkCount: 4 } }, context);

      expect(metadataItem()?.rows).toMatchObject({ stored: 22_500 });
      expect(metadataItem()?.reason).toMatch(
        /; 3 of 4 chunks \(22500 rows\) were stored in the table before it, not yet counted in totals;/,
      );
    });

    it('keeps a huge Cause bounded and printable on the item', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-failed.json');
      const cause = JSON.stringify({ errorType: 'Error', errorMessage: `\u001b[2J${'x'.repeat(30_000)}` });

      await handler({ ...task, error: { Error: 'Error', Cause: cause } }, context);

      const item = metadataItem();
      expect(String(item?.reason).length).toBeLessThanOrEqual(500);
      expect(String(item?.error?.Cause).length).toBeLessThanOrEqual(4_000);
      expect(`${item?.reason}${item?.error?.Cause}`).not.toMatch(/\p{Cc}/u);
      expect(item?.reason).toMatch(/^Error: \\u\{001B\}\[2Jxxx/);
    });

    it('prepares a FileFailed notification carrying the error and the reason', async () => {
      const task = loadEvent<OutcomeTask>('record-outcome-failed.json');

      const { notification } = await handler(task, context);

      expect(notification.subject).toBe('CSV pipeline failed: sample.csv');
      expect(JSON.parse(notification.message)).toMatchObject({
        type: 'FileFailed',
        error: task.error,
        reason: expect.stringMatching(/^ChunkNotFoundError: s3:\/\//),
      });
    });
  });

  it('fails with InvalidTaskInputError for an outcome the workflow does not send', async () => {
    const task = { ...loadEvent<OutcomeTask>('record-outcome-failed.json'), outcome: 'SUCCEEDED' };

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });
});

describe('notificationOf', () => {
  const taskFor = (key: string): OutcomeTask => {
    const task = loadEvent<OutcomeTask>('record-outcome-rejected.json');
    task.file.key = key;
    return task;
  };

  it.each([
    ['a 300-character file name', `uploads/${'x'.repeat(300)}.csv`],
    ['a long name of emoji', `uploads/${'📈'.repeat(150)}.csv`],
    ['a long name of CJK characters', `uploads/${'数据'.repeat(80)}.csv`],
  ])('keeps the SNS subject under 100 characters for %s', (_case, key) => {
    const { subject } = notificationOf(taskFor(key), null);

    expect([...subject].length).toBeLessThan(100);
    expect(subject.length).toBeLessThanOrEqual(200);
  });

  it('never cuts a character in half when it shortens the subject', () => {
    const { subject } = notificationOf(taskFor(`uploads/a${'📈'.repeat(150)}.csv`), null);

    expect(Buffer.from(subject, 'utf8').toString('utf8')).toBe(subject);
    expect(subject.endsWith('…')).toBe(true);
  });

  it('replaces line breaks and control characters, which SNS refuses in a subject', () => {
    const { subject } = notificationOf(taskFor('uploads/evil\r\nname\t\u0000\u2028.csv'), null);

    expect(subject).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
    expect(subject).toBe('CSV file rejected: evil name .csv');
  });
});
