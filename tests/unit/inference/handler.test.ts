import { Readable } from 'node:stream';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/inference/index.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);

const FILE_ID = '5f2c9a0d41e8b7c36a9d0e12';
const TABLE = 'test-table';

/** A GetObject body as the SDK returns it, with only the helpers the code under test uses. */
const objectBody = (text: string) =>
  Object.assign(Readable.from([text]), {
    transformToString: async () => text,
    transformToByteArray: async () => new TextEncoder().encode(text),
    transformToWebStream: () => new Response(text).body ?? new ReadableStream(),
  });

const aggregates = (groups: [string, string, number, number][]) =>
  objectBody(JSON.stringify({ fileId: FILE_ID, storedRows: groups.length, groups }));

const writtenItems = () =>
  ddbMock
    .commandCalls(BatchWriteCommand)
    .flatMap((call) => call.args[0].input.RequestItems?.[TABLE] ?? [])
    .map((request) => request.PutRequest?.Item);

const invoke = (event = loadEvent<SQSEvent>('inference.json')) => handler(event, lambdaContext('inference'));

describe('inference', () => {
  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    s3Mock.on(GetObjectCommand).resolves({
      Body: aggregates([
        ['u-001', '2026-03-01', 2, 24],
        ['u-001', '2026-03-02', 2, 24],
        ['u-002', '2026-03-01', 1, 30],
      ]),
    });
    ddbMock.on(BatchGetCommand).resolves({
      Responses: {
        // u-001: 100 events, mean 10, variance 4.
        [TABLE]: [{ userId: 'u-001', event_count: 100, total_value: 1000, sum_squares: 10_400 }],
      },
    });
    ddbMock.on(BatchWriteCommand).resolves({});
  });

  it('reads the aggregates object named by the event', async () => {
    await invoke();

    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'csv-analytics-databucket-1a2b3c4d5e6f',
      Key: `staging/${FILE_ID}/aggregates.json`,
    });
  });

  it('reads the TOTALS of every user of the file in one BatchGet', async () => {
    await invoke();

    const calls = ddbMock.commandCalls(BatchGetCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.RequestItems?.[TABLE]?.Keys).toEqual([
      { PK: 'USER#u-001', SK: 'TOTALS' },
      { PK: 'USER#u-002', SK: 'TOTALS' },
    ]);
  });

  it('writes one score per user under SCORE#<fileId>, summing the user’s days', async () => {
    await invoke();

    expect(writtenItems()).toEqual([
      expect.objectContaining({
        PK: 'USER#u-001',
        SK: `SCORE#${FILE_ID}`,
        fileId: FILE_ID,
        model: 'zscore-v1',
        eventCount: 4,
        meanValue: 12,
        zScore: 2,
        score: 0.9545,
        label: 'unusual',
        computedAt: expect.any(String),
      }),
      expect.objectContaining({ PK: 'USER#u-002', SK: `SCORE#${FILE_ID}`, label: 'insufficient_history' }),
    ]);
  });

  it('returns no failures when every message is scored', async () => {
    const response = await invoke();

    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('returns only the message that failed as a batch item failure', async () => {
    const event = loadEvent<SQSEvent>('inference.json');
    const [good] = event.Records;
    if (good === undefined) throw new Error('fixture has no records');
    event.Records.push({ ...good, messageId: 'bad-message', body: '{"type":"FileStored"}' });

    const response = await invoke(event);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad-message' }] });
    expect(writtenItems()).toHaveLength(2);
  });

  it('throws FullBatchFailureError when every message fails, so Lambda retries the batch', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    await expect(invoke()).rejects.toBeInstanceOf(FullBatchFailureError);
  });

  it('resubmits TOTALS keys DynamoDB left unprocessed', async () => {
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { [TABLE]: [] },
        UnprocessedKeys: { [TABLE]: { Keys: [{ PK: 'USER#u-001', SK: 'TOTALS' }] } },
      })
      .resolves({
        Responses: {
          [TABLE]: [{ userId: 'u-001', event_count: 100, total_value: 1000, sum_squares: 10_400 }],
        },
      });

    await invoke();

    expect(ddbMock.commandCalls(BatchGetCommand)).toHaveLength(2);
    expect(writtenItems()[0]).toMatchObject({ PK: 'USER#u-001', label: 'unusual' });
  });
});
