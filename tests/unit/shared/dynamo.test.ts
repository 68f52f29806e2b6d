import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { batchPutAll, type Item } from '../../../functions/shared/dynamo.ts';
import { UnprocessedItemsError } from '../../../functions/shared/errors.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
const TABLE = 'test-table';

const itemsOf = (count: number): Item[] =>
  Array.from({ length: count }, (_, i) => ({ PK: `USER#u${i}`, SK: `EVENT#${i}` }));

const requestsOf = (input: BatchWriteCommandInput) => input.RequestItems?.[TABLE] ?? [];

const noSleep = async (_ms: number): Promise<void> => undefined;
const options = { concurrency: 4, maxAttempts: 5, baseDelayMs: 100, sleep: noSleep };

describe('batchPutAll', () => {
  beforeEach(() => {
    ddbMock.reset();
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('writes items in batches of at most 25 PutRequests', async () => {
    ddbMock.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });

    await batchPutAll(TABLE, itemsOf(60), options);

    const sizes = ddbMock
      .commandCalls(BatchWriteCommand)
      .map((call) => requestsOf(call.args[0].input).length);
    expect(sizes.sort((a, b) => b - a)).toEqual([25, 25, 10]);
  });

  it('writes every item exactly once when nothing is throttled', async () => {
    ddbMock.on(BatchWriteCommand).resolves({});
    const items = itemsOf(30);

    await batchPutAll(TABLE, items, options);

    const written = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((call) => requestsOf(call.args[0].input).map((request) => request.PutRequest?.Item));
    expect(written).toHaveLength(30);
    expect(written).toEqual(expect.arrayContaining(items));
  });

  it('makes no call for an empty list', async () => {
    await batchPutAll(TABLE, [], options);

    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('resubmits only the UnprocessedItems until every item is written', async () => {
    const items = itemsOf(10);
    const leftOver = items.slice(7).map((Item) => ({ PutRequest: { Item } }));
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: leftOver } })
      .resolvesOnce({ UnprocessedItems: { [TABLE]: leftOver.slice(1) } })
      .resolves({ UnprocessedItems: {} });

    await batchPutAll(TABLE, items, options);

    const calls = ddbMock.commandCalls(BatchWriteCommand).map((call) => requestsOf(call.args[0].input));
    expect(calls.map((requests) => requests.length)).toEqual([10, 3, 2]);
    expect(calls[1]).toEqual(leftOver);
    expect(calls[2]).toEqual(leftOver.slice(1));
  });

  it('backs off exponentially with full jitter between resubmissions', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const sleep = vi.fn(noSleep);
    const items = itemsOf(1);
    const unprocessed = { UnprocessedItems: { [TABLE]: [{ PutRequest: { Item: items[0] } }] } };
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce(unprocessed)
      .resolvesOnce(unprocessed)
      .resolvesOnce(unprocessed)
      .resolves({});

    await batchPutAll(TABLE, items, { ...options, baseDelayMs: 100, sleep });

    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([50, 100, 200]);
  });

  it('gives up with UnprocessedItemsError after maxAttempts calls for a batch', async () => {
    const items = itemsOf(2);
    ddbMock
      .on(BatchWriteCommand)
      .resolves({ UnprocessedItems: { [TABLE]: items.map((Item) => ({ PutRequest: { Item } })) } });

    const attempt = batchPutAll(TABLE, items, { ...options, maxAttempts: 3 });

    await expect(attempt).rejects.toBeInstanceOf(UnprocessedItemsError);
    await expect(attempt).rejects.toMatchObject({ name: 'UnprocessedItemsError' });
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(3);
  });

  it('lets an SDK error through unchanged', async () => {
    ddbMock
      .on(BatchWriteCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    await expect(batchPutAll(TABLE, itemsOf(3), options)).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });

  it('keeps at most `concurrency` BatchWriteItem calls in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    ddbMock.on(BatchWriteCommand).callsFake(async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight -= 1;
      return {};
    });

    await batchPutAll(TABLE, itemsOf(25 * 10), { ...options, concurrency: 3 });

    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(10);
    expect(peak).toBe(3);
  });
});
