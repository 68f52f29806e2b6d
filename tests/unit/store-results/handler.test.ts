import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DynamoDBDocumentClient,
  PutCommand,
  type PutCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LANE_COUNT, lanePageKeyOf } from '../../../functions/shared/keys.ts';
import type { StoreTask } from '../../../functions/shared/model.ts';
import { handler } from '../../../functions/store-results/index.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const context = lambdaContext('store-results');
const TABLE = 'test-table';

/** The UpdateItem inputs of LANE# items, in the order they were sent. */
const laneWrites = (): UpdateCommandInput[] =>
  ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => String(input.Key?.PK).startsWith('LANE#'));

/** The item, lane and page a lane write hands over, read through its name aliases. */
const handed = (input: UpdateCommandInput) => {
  const value = (name: string) => {
    const alias = Object.entries(input.ExpressionAttributeNames ?? {}).find(([, n]) => n === name)?.[0];
    return input.ExpressionAttributeValues?.[`:v${alias?.slice('#a'.length)}`];
  };
  return { pk: input.Key?.PK, lane: value('lane'), page: value('page') };
};

const metadataWrites = (): PutCommandInput[] =>
  ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input);

const noPages = (): number[] => new Array<number>(LANE_COUNT).fill(0);

describe('store-results handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});
  });

  it('hands each page to its lane as one UpdateItem of the lane’s PAGE item naming the page', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.lanePages = noPages();
    task.aggregate.lanePages[7] = 1;

    await handler(task, context);

    expect(laneWrites()).toEqual([
      {
        TableName: TABLE,
        Key: { PK: 'LANE#07', SK: 'PAGE' },
        UpdateExpression:
          'SET #a0 = :v0, #a1 = :v1, #a2 = :v2, #a3 = :v3, #a4 = :v4, #a5 = :v5, #a6 = :v6 ADD lane_seq :one',
        ExpressionAttributeNames: {
          '#a0': 'type',
          '#a1': 'bucket',
          '#a2': 'key',
          '#a3': 'fileId',
          '#a4': 'lane',
          '#a5': 'page',
          '#a6': 'pageKey',
        },
        ExpressionAttributeValues: {
          ':v0': 'LANE',
          ':v1': task.file.bucket,
          ':v2': task.file.key,
          ':v3': task.file.fileId,
          ':v4': 7,
          ':v5': 0,
          ':v6': lanePageKeyOf(task.file.fileId, 7, 0),
          ':one': 1,
        },
      },
    ]);
  });

  it('raises the lane’s lane_seq by one in the same write as each page, and in no other write', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.lanePages = noPages();
    task.aggregate.lanePages[5] = 3;

    await handler(task, context);

    const writes = laneWrites();
    expect(writes.map(handed)).toEqual([0, 1, 2].map((page) => ({ pk: 'LANE#05', lane: 5, page })));
    // The three page writes and the file's metadata: no separate write of the counter.
    expect(ddbMock.calls()).toHaveLength(writes.length + 1);
    for (const write of writes) {
      expect(write.UpdateExpression).toMatch(/^SET (#a\d+ = :v\d+, )*#a\d+ = :v\d+ ADD lane_seq :one$/);
      expect(write.ExpressionAttributeValues?.[':one']).toBe(1);
      expect(Object.values(write.ExpressionAttributeNames ?? {})).not.toContain('lane_seq');
    }
  });

  it('writes one lane item per page of every lane that has pages', async () => {
    const task = loadEvent<StoreTask>('store-results.json');

    await handler(task, context);

    const written = laneWrites().map((input) => [handed(input).pk, handed(input).page]);
    expect(written.sort()).toEqual([
      ['LANE#02', 0],
      ['LANE#03', 0],
      ['LANE#07', 0],
      ['LANE#09', 0],
      ['LANE#11', 0],
      ['LANE#14', 0],
    ]);
  });

  it('writes nothing to the lanes when no lane has pages', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.lanePages = noPages();

    await handler(task, context);

    expect(laneWrites()).toEqual([]);
  });

  it('returns the number of pages handed to the lanes', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.lanePages[3] = 4;

    const result = await handler(task, context);

    expect(result.pages).toBe(9);
  });

  it('writes a lane’s pages one after another, in page order', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.lanePages = noPages();
    task.aggregate.lanePages[5] = 3;
    const log: string[] = [];
    ddbMock.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      log.push(`sent ${handed(input).page}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push(`done ${handed(input).page}`);
      return {};
    });

    await handler(task, context);

    expect(log).toEqual(['sent 0', 'done 0', 'sent 1', 'done 1', 'sent 2', 'done 2']);
  });

  it('writes the lanes in parallel, not one lane after another', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    const log: string[] = [];
    ddbMock.on(UpdateCommand).callsFake(async () => {
      log.push('sent');
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push('done');
      return {};
    });

    await handler(task, context);

    expect(log).toEqual([...new Array<string>(6).fill('sent'), ...new Array<string>(6).fill('done')]);
  });

  it('writes the same lane items again when StoreResults is retried', async () => {
    await handler(loadEvent<StoreTask>('store-results.json'), context);
    const first = laneWrites();
    ddbMock.resetHistory();

    await handler(loadEvent<StoreTask>('store-results.json'), context);

    expect(laneWrites()).toEqual(first);
  });

  it('does not read the aggregates file: the pages are the lanes’ to read', async () => {
    const task = loadEvent<StoreTask>('store-results.json');

    await handler(task, context);

    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('lets a DynamoDB error fail the task for Step Functions to retry, before archiving or recording', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    ddbMock.on(UpdateCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(metadataWrites()).toHaveLength(0);
  });

  it('fails with ReconciliationError, writing nothing, when stored rows differ from valid rows', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    task.aggregate.storedRows = task.validation.validRows - 1;

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'ReconciliationError' });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  it('moves the original from uploads/ to archive/, keeping its relative path', async () => {
    const task = loadEvent<StoreTask>('store-results.json');

    const result = await handler(task, context);

    expect(result.archiveKey).toBe('archive/sample.csv');
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: task.file.bucket,
      Key: 'archive/sample.csv',
      CopySource: `${task.file.bucket}/uploads/sample.csv?versionId=${task.file.versionId}`,
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: task.file.bucket,
      Key: 'uploads/sample.csv',
      VersionId: task.file.versionId,
    });
  });

  it('records a SUCCEEDED metadata item whose rows total is stored plus rejected', async () => {
    const task = loadEvent<StoreTask>('store-results.json');

    await handler(task, context);

    const [metadata] = metadataWrites();
    expect(metadata?.Item).toMatchObject({
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
    const rows = metadata?.Item?.rows as { total: number; stored: number; rejected: number };
    expect(rows.total).toBe(rows.stored + rows.rejected);
  });

  it('returns the FileStored event that the workflow publishes for inference', async () => {
    const task = loadEvent<StoreTask>('store-results.json');

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

  it('fails with InvalidTaskInputError when the task input misses the aggregate', async () => {
    const { aggregate: _aggregate, ...task } = loadEvent<StoreTask>('store-results.json');

    await expect(handler(task, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });

  it('fails with InvalidTaskInputError when the aggregate has no pages per lane', async () => {
    const task = loadEvent<StoreTask>('store-results.json');
    const { lanePages: _lanePages, ...aggregate } = task.aggregate;

    await expect(handler({ ...task, aggregate }, context)).rejects.toMatchObject({
      name: 'InvalidTaskInputError',
    });
  });

  it.each([
    ['fewer', LANE_COUNT - 1],
    ['more', LANE_COUNT + 1],
  ])(
    'fails with InvalidTaskInputError, writing nothing, when lanePages has %s than LANE_COUNT entries',
    async (_case, length) => {
      const task = loadEvent<StoreTask>('store-results.json');
      task.aggregate.lanePages = new Array<number>(length).fill(1);

      await expect(handler(task, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
      expect(ddbMock.calls()).toHaveLength(0);
      expect(s3Mock.calls()).toHaveLength(0);
    },
  );
});
