import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler } from '../../../functions/process-records/index.ts';
import { chunkKeyOf, eventIdOf, partialKeyOf, processedKeyOf } from '../../../functions/shared/keys.ts';
import type { ChunkPartial, ChunkTask, StagedRow } from '../../../functions/shared/model.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';
import { bodyText, s3Body } from '../../helpers/s3.ts';
import { glueColumnsOf, loadTemplate } from '../../helpers/template.ts';

type ProcessEvent = ChunkTask;
type WriteRequest = NonNullable<BatchWriteCommandInput['RequestItems']>[string][number];

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const context = lambdaContext('process-records');
const TABLE = 'test-table';

const ROWS: StagedRow[] = [
  { r: 1, u: 'u1', t: 'click', v: 1.5, ts: '2026-01-15T10:00:00.000Z' },
  { r: 2, u: 'u2', t: 'view', v: 0, ts: '2026-01-15T23:59:59.999Z' },
  { r: 4, u: 'u1', t: 'click', v: 2, ts: '2026-01-16T00:00:00.000Z' },
  { r: 5, u: 'u1', t: 'buy', v: 10.25, ts: '2026-01-15T12:00:00.000Z' },
];
const ndjson = (rows: StagedRow[]) => `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`;

const givenChunk = (event: ProcessEvent, rows: StagedRow[] = ROWS) => {
  s3Mock
    .on(GetObjectCommand, { Bucket: event.file.bucket, Key: chunkKeyOf(event.file.fileId, event.chunk) })
    .callsFake(() => ({ Body: s3Body(ndjson(rows)) }));
};

const putRequests = () =>
  ddbMock.commandCalls(BatchWriteCommand).flatMap((call) => call.args[0].input.RequestItems?.[TABLE] ?? []);

const puts = () =>
  new Map(s3Mock.commandCalls(PutObjectCommand).map(({ args: [{ input }] }) => [input.Key, input]));

describe('process-records handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    s3Mock.on(PutObjectCommand).resolves({});
    s3Mock
      .on(HeadObjectCommand)
      .rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
    ddbMock.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
  });

  it('skips a chunk whose partial already exists, writing nothing, and reports its rows', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);
    s3Mock.on(HeadObjectCommand).resolves({});

    const result = await handler(event, context);

    expect(result).toEqual({ chunk: event.chunk, stored: expect.any(Number) });
    expect(result.stored).toBeGreaterThan(0);
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('marks the chunk stored, with its row count, right after the events and before the partial', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);

    const result = await handler(event, context);

    const keys = s3Mock.commandCalls(PutObjectCommand).map(({ args: [{ input }] }) => String(input.Key));
    const marker = keys.findIndex((key) => key.includes('/stored/'));
    expect(keys[marker]).toBe(
      `staging/${event.file.fileId}/stored/${String(event.chunk).padStart(5, '0')}.${result.stored}`,
    );
    expect(marker).toBeLessThan(keys.findIndex((key) => key.includes('/partials/')));
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('writes one EVENT item per staged row, keyed by user and time with a deterministic event id', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);

    const result = await handler(event, context);

    expect(result).toEqual({ chunk: 0, stored: 4 });
    const first = putRequests().find((request) => request.PutRequest?.Item?.row === 1);
    const eventId = eventIdOf(event.file.fileId, 1);
    expect(first?.PutRequest?.Item).toEqual({
      PK: 'USER#u1',
      SK: `EVENT#2026-01-15T10:00:00.000Z#${eventId}`,
      type: 'EVENT',
      userId: 'u1',
      eventId,
      eventType: 'click',
      value: 1.5,
      timestamp: '2026-01-15T10:00:00.000Z',
      fileId: event.file.fileId,
      sourceKey: event.file.key,
      row: 1,
    });
    expect(putRequests()).toHaveLength(4);
  });

  it('sends identical PutRequests when the same chunk is processed twice, so a retry is idempotent', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);
    await handler(event, context);
    const first = putRequests();
    ddbMock.resetHistory();

    await handler(loadEvent<ProcessEvent>('process-records.json'), context);

    expect(putRequests()).toEqual(first);
  });

  it('writes the same processed/ and partial objects when the same chunk is processed twice', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);
    await handler(event, context);
    const first = [...puts().entries()].map(([key, input]) => [
      key,
      bodyText(input.Body, { gzip: key?.endsWith('.gz') }),
    ]);
    s3Mock.resetHistory();

    await handler(loadEvent<ProcessEvent>('process-records.json'), context);

    const second = [...puts().entries()].map(([key, input]) => [
      key,
      bodyText(input.Body, { gzip: key?.endsWith('.gz') }),
    ]);
    expect(second).toEqual(first);
  });

  it('retries throttled writes reported as UnprocessedItems until every item is written', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);
    const accepted: WriteRequest[] = [];
    let calls = 0;
    ddbMock.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => {
      calls += 1;
      const requests = input.RequestItems?.[TABLE] ?? [];
      // The first two calls take only half of the batch, as DynamoDB does under throttling.
      const taken = calls <= 2 ? Math.ceil(requests.length / 2) : requests.length;
      accepted.push(...requests.slice(0, taken));
      return { UnprocessedItems: taken < requests.length ? { [TABLE]: requests.slice(taken) } : {} };
    });

    await handler(event, context);

    expect(calls).toBe(3);
    expect(accepted.map((request) => request.PutRequest?.Item?.row)).toEqual([1, 2, 4, 5]);
  });

  it('fails with UnprocessedItemsError when DynamoDB keeps throttling, for the Map to retry the chunk', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // no backoff delays
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event, ROWS.slice(0, 1));
    ddbMock
      .on(BatchWriteCommand)
      .callsFake((input: BatchWriteCommandInput) => ({ UnprocessedItems: input.RequestItems }));

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'UnprocessedItemsError' });
  });

  it('writes gzipped JSON lines with the Athena table columns, one object per day of the chunk', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);

    await handler(event, context);

    const written = puts();
    const day15 = written.get(processedKeyOf('2026-01-15', event.file.fileId, 0));
    const day16 = written.get(processedKeyOf('2026-01-16', event.file.fileId, 0));
    expect(day15?.ContentType).toBe('application/gzip');
    const lines15 = bodyText(day15?.Body, { gzip: true })
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const lines16 = bodyText(day16?.Body, { gzip: true }).trimEnd().split('\n');
    expect(lines15.map((line) => line.row_number)).toEqual([1, 2, 5]);
    expect(lines16).toHaveLength(1);
    expect(Object.keys(lines15[0] ?? {})).toEqual(glueColumnsOf(loadTemplate(), 'ProcessedEventsTable'));
    expect(lines15[0]).toEqual({
      event_id: eventIdOf(event.file.fileId, 1),
      user_id: 'u1',
      event_type: 'click',
      value: 1.5,
      event_time: '2026-01-15T10:00:00.000Z',
      file_id: event.file.fileId,
      source_key: event.file.key,
      row_number: 1,
    });
  });

  it('writes the chunk’s partial: row count and one group per user and day with its sums', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);

    await handler(event, context);

    const partialPut = puts().get(partialKeyOf(event.file.fileId, 0));
    const partial = JSON.parse(bodyText(partialPut?.Body)) as ChunkPartial;
    expect(partial.chunk).toBe(0);
    expect(partial.stored).toBe(4);
    expect(partial.groups).toEqual(
      expect.arrayContaining([
        ['u1', '2026-01-15', 2, 11.75, 107.3125],
        ['u2', '2026-01-15', 1, 0, 0],
        ['u1', '2026-01-16', 1, 2, 4],
      ]),
    );
    expect(partial.groups).toHaveLength(3);
  });

  it('writes the partial only after the events, so a partial always means the chunk is stored', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    givenChunk(event);
    ddbMock.on(BatchWriteCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'InternalServerError' });
    expect(puts().has(partialKeyOf(event.file.fileId, 0))).toBe(false);
  });

  it('fails with ChunkNotFoundError when the staged chunk is missing', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    await expect(handler(loadEvent('process-records.json'), context)).rejects.toMatchObject({
      name: 'ChunkNotFoundError',
    });
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('fails with InvalidTaskInputError when a staged line is not JSON', async () => {
    const event = loadEvent<ProcessEvent>('process-records.json');
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('{"r":1,"u":"u1"\n') });

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });

  it('fails with InvalidTaskInputError when the Map item has no chunk index', async () => {
    const { chunk: _chunk, ...event } = loadEvent<ProcessEvent>('process-records.json');

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });
});
