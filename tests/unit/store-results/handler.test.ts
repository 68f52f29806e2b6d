import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AggregatesFile, StoreTask } from '../../../functions/shared/model.ts';
import { handler } from '../../../functions/store-results/index.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';
import { s3Body } from '../../helpers/s3.ts';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const context = lambdaContext('store-results');

const AGGREGATES: AggregatesFile['groups'] = [
  ['u1', '2026-01-15', 60, 100.5],
  ['u2', '2026-01-15', 40, 20],
  ['u1', '2026-01-16', 18, 3],
];

interface DailyItem {
  event_count: number;
  total_value: number;
  files: Set<string>;
}

/** Applies the handler's conditional ADD the way DynamoDB would, so reruns can be observed. */
const fakeDailyTable = () => {
  const items = new Map<string, DailyItem>();
  ddbMock.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
    const values = input.ExpressionAttributeValues ?? {};
    const id = `${input.Key?.PK}|${input.Key?.SK}`;
    const item = items.get(id) ?? { event_count: 0, total_value: 0, files: new Set<string>() };
    if (item.files.has(values[':fileId'] as string)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    item.event_count += values[':count'] as number;
    item.total_value += values[':total'] as number;
    for (const file of values[':files'] as Set<string>) item.files.add(file);
    items.set(id, item);
    return {};
  });
  return items;
};

const givenAggregates = (task: StoreTask, groups = AGGREGATES) => {
  const file: AggregatesFile = { fileId: task.file.fileId, storedRows: task.aggregate.storedRows, groups };
  s3Mock
    .on(GetObjectCommand, { Bucket: task.file.bucket, Key: task.aggregate.aggregatesKey })
    .callsFake(() => ({ Body: s3Body(JSON.stringify(file)) }));
};

describe('store-results handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
  });

  it('adds the file’s counts to each user’s daily aggregate with a condition on the file id', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    const table = fakeDailyTable();

    await handler(task, context);

    expect(table.get('USER#u1|DAILY#2026-01-15')).toEqual({
      event_count: 60,
      total_value: 100.5,
      files: new Set([task.file.fileId]),
    });
    const update = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.ConditionExpression).toBe('attribute_not_exists(files) OR NOT contains(files, :fileId)');
    expect(update?.ExpressionAttributeValues).toMatchObject({
      ':fileId': task.file.fileId,
      ':gsi1pk': 'DAILY#2026-01-15',
    });
  });

  it('treats a failed condition as already applied, so a rerun succeeds without counting twice', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    const table = fakeDailyTable();
    await handler(task, context);

    const rerun = await handler(loadEvent<StoreTask>('store-results.json'), context);

    expect(rerun).toMatchObject({ status: 'SUCCEEDED', dailyAggregatesApplied: 0 });
    expect(table.get('USER#u1|DAILY#2026-01-15')?.event_count).toBe(60);
    expect(table.get('USER#u2|DAILY#2026-01-15')?.event_count).toBe(40);
  });

  it('completes a rerun that stopped half way, applying only the groups not yet counted', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    const table = fakeDailyTable();
    table.set('USER#u1|DAILY#2026-01-15', {
      event_count: 60,
      total_value: 100.5,
      files: new Set([task.file.fileId]),
    });

    const result = await handler(task, context);

    expect(result.dailyAggregatesApplied).toBe(2);
    expect(table.get('USER#u1|DAILY#2026-01-15')?.event_count).toBe(60);
    expect(table.get('USER#u1|DAILY#2026-01-16')?.event_count).toBe(18);
  });

  it('adds another file’s counts on top of the same user and day', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    const table = fakeDailyTable();
    table.set('USER#u1|DAILY#2026-01-15', { event_count: 5, total_value: 1, files: new Set(['other-file']) });

    await handler(task, context);

    expect(table.get('USER#u1|DAILY#2026-01-15')).toEqual({
      event_count: 65,
      total_value: 101.5,
      files: new Set(['other-file', task.file.fileId]),
    });
  });

  it('lets other DynamoDB errors fail the task for Step Functions to retry', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    ddbMock.on(UpdateCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  it('fails with ReconciliationError, writing nothing, when stored rows differ from valid rows', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.storedRows = task.validation.validRows - 1;
    givenAggregates(task);
    fakeDailyTable();

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'ReconciliationError' });
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  it('moves the original from uploads/ to archive/, keeping its relative path', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    fakeDailyTable();

    const result = await handler(task, context);

    expect(result.archiveKey).toBe('archive/sample.csv');
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: task.file.bucket,
      Key: 'archive/sample.csv',
      CopySource: `${task.file.bucket}/uploads/sample.csv`,
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: task.file.bucket,
      Key: 'uploads/sample.csv',
    });
  });

  it('records a SUCCEEDED metadata item whose rows total is stored plus rejected', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    fakeDailyTable();

    await handler(task, context);

    const item = ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item;
    expect(item).toMatchObject({
      PK: `FILE#${task.file.key}`,
      SK: 'METADATA',
      status: 'SUCCEEDED',
      fileId: task.file.fileId,
      executionArn: task.executionArn,
      destinationKey: 'archive/sample.csv',
      rejectsKey: task.validation.rejectsKey,
      rows: { total: 120, stored: 118, rejected: 2 },
      GSI1PK: 'FILES',
    });
    const rows = item?.rows as { total: number; stored: number; rejected: number };
    expect(rows.total).toBe(rows.stored + rows.rejected);
  });

  it('returns the FileStored event that the workflow publishes for inference', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    givenAggregates(task);
    fakeDailyTable();

    const result = await handler(task, context);

    expect(result.event).toEqual({
      type: 'FileStored',
      fileId: task.file.fileId,
      bucket: task.file.bucket,
      key: task.file.key,
      aggregatesKey: task.aggregate.aggregatesKey,
      storedRows: 118,
      users: 7,
    });
  });

  it('fails with ChunkNotFoundError when the aggregates file is missing', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'ChunkNotFoundError' });
  });

  it('fails with InvalidTaskInputError when the task input misses the aggregate', async () => {
    const { aggregate: _aggregate, ...task } = loadEvent<StoreTask>('store-results.json');

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });
});
