import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryChaosControl } from '../../../local/chaos.ts';
import { type SourceContext, StreamSource } from '../../../local/event-sources.ts';

// The stream mapping's ParallelizationFactor: concurrent batches per shard, each partition key in order.

const streamArn = 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-04T00:00:00.000';
const streams = mockClient(DynamoDBStreamsClient);

const recordOf = (pk: string, n: number, sequence: number): _Record => ({
  eventID: `${pk}-${n}`,
  eventName: 'MODIFY',
  dynamodb: {
    // The sort key first: the partition key is found by the stream's key schema, not by position.
    Keys: { SK: { S: 'PAGE' }, PK: { S: pk } },
    NewImage: { PK: { S: pk }, SK: { S: 'PAGE' }, n: { N: String(n) } },
    SequenceNumber: String(sequence),
  },
});

/** Six lanes of five records each, interleaved as one shard would carry them. */
const shardRecords = (): _Record[] => {
  const records: _Record[] = [];
  for (let n = 0; n < 5; n += 1) {
    for (let lane = 0; lane < 6; lane += 1) records.push(recordOf(`LANE#0${lane}`, n, records.length + 1));
  }
  return records;
};

interface Delivery {
  pk: string;
  n: number;
}

/** A runtime that takes a few milliseconds per batch and remembers what it saw and how many ran at once. */
const fakeRuntime = (fail: (delivery: Delivery, attempt: number) => boolean = () => false) => {
  const delivered: Delivery[] = [];
  const attempts = new Map<string, number>();
  let active = 0;
  let peak = 0;
  return {
    delivered,
    peak: () => peak,
    invoke: async (_functionId: string, event: unknown) => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active -= 1;
      const records = (
        event as {
          Records: { eventID: string; dynamodb: { NewImage: Record<string, { S?: string; N?: string }> } }[];
        }
      ).Records;
      for (const record of records) {
        const delivery = {
          pk: String(record.dynamodb.NewImage.PK?.S),
          n: Number(record.dynamodb.NewImage.n?.N),
        };
        const attempt = (attempts.get(record.eventID) ?? 0) + 1;
        attempts.set(record.eventID, attempt);
        if (fail(delivery, attempt)) throw new Error(`${record.eventID} failed`);
        delivered.push(delivery);
      }
      return {};
    },
  };
};

const startSource = (runtime: ReturnType<typeof fakeRuntime>, parallelization: number) => {
  const dummy = new SQSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' });
  const context: SourceContext = {
    runtime,
    sqs: dummy,
    inspect: dummy,
    log: () => {},
    retryDelaySeconds: 0,
    deliveries: new DeliveryChaosControl(),
  };
  const source = new StreamSource(context, new DynamoDBStreamsClient({ region: 'us-east-1' }), {
    streamArn,
    functionId: 'Aggregator',
    functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:aggregator',
    batchSize: 1,
    parallelization,
    startingPosition: 'TRIM_HORIZON',
    bisectOnError: false,
    maxRetries: Number.POSITIVE_INFINITY,
    reportBatchItemFailures: true,
  });
  source.start();
  return source;
};

const waitIdle = async (source: StreamSource) => {
  for (let i = 0; i < 500 && !(await source.idle()); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const inOrderPerKey = (delivered: Delivery[]) => {
  const seen = new Map<string, number[]>();
  for (const { pk, n } of delivered) seen.set(pk, [...(seen.get(pk) ?? []), n]);
  return [...seen.values()].every((ns) => ns.every((n, i) => n === i));
};

beforeEach(() => {
  streams.reset();
  streams.on(DescribeStreamCommand).resolves({
    StreamDescription: {
      StreamArn: streamArn,
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      Shards: [{ ShardId: 'shard-1' }],
    },
  });
  streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
  streams
    .on(GetRecordsCommand)
    .resolvesOnce({ Records: shardRecords(), NextShardIterator: 'it-1' })
    .resolves({ Records: [], NextShardIterator: 'it-1' });
});

let running: StreamSource | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe('the DynamoDB stream source', () => {
  it('runs up to ParallelizationFactor batches at once and keeps each partition key in order', async () => {
    const runtime = fakeRuntime();
    running = startSource(runtime, 4);
    await waitIdle(running);

    expect(runtime.delivered).toHaveLength(30);
    expect(inOrderPerKey(runtime.delivered)).toBe(true);
    expect(runtime.peak()).toBeGreaterThan(1);
    expect(runtime.peak()).toBeLessThanOrEqual(4);
  });

  it('delivers one batch at a time with a factor of 1, in shard order', async () => {
    const runtime = fakeRuntime();
    running = startSource(runtime, 1);
    await waitIdle(running);

    expect(runtime.peak()).toBe(1);
    expect(runtime.delivered.map(({ pk, n }) => `${pk}/${n}`)).toEqual(
      shardRecords().map((record) => `${record.dynamodb?.Keys?.PK?.S}/${record.dynamodb?.NewImage?.n?.N}`),
    );
  });

  it("holds only a failing key's slot: other keys go on while it retries, and it keeps its order", async () => {
    // LANE#00's second record fails twice before it succeeds.
    const runtime = fakeRuntime(({ pk, n }, attempt) => pk === 'LANE#00' && n === 1 && attempt <= 2);
    running = startSource(runtime, 10);
    await waitIdle(running);

    expect(runtime.delivered).toHaveLength(30);
    expect(inOrderPerKey(runtime.delivered)).toBe(true);
    const lane0Second = runtime.delivered.findIndex(({ pk, n }) => pk === 'LANE#00' && n === 1);
    const othersDoneBefore = runtime.delivered.slice(0, lane0Second).filter(({ pk }) => pk !== 'LANE#00');
    expect(othersDoneBefore.length).toBeGreaterThan(5);
  });
});
