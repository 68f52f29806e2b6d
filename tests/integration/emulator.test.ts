import { BatchWriteItemCommand, CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import { type Emulator, type EmulatorFlavour, startEmulator } from '../../local/emulator.ts';
import { projectRoot } from './support.ts';

// DynamoDB gives each stream record of a shard a unique, increasing sequence number. moto does not under
// concurrent writes; the offline runtime starts moto through a launcher that fixes it. This test shows
// both: it fails against plain moto_server and passes against the launcher.

const WRITERS = 8;
const BATCHES_PER_WRITER = 40; // × 25 items = 8,000 records

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

/** Eight writers at once, then every record of the stream's shards read back in order. */
const writeConcurrentlyAndReadStream = async (flavour: EmulatorFlavour): Promise<string[]> => {
  emulator = await startEmulator(projectRoot, () => undefined, flavour);
  const config = clientConfig(emulator.endpoint);
  const ddb = new DynamoDBClient(config);
  const { TableDescription } = await ddb.send(
    new CreateTableCommand({
      TableName: 'streams',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let batch = 0; batch < BATCHES_PER_WRITER; batch += 1) {
        await ddb.send(
          new BatchWriteItemCommand({
            RequestItems: {
              streams: Array.from({ length: 25 }, (_, i) => ({
                PutRequest: { Item: { PK: { S: `w${writer}-b${batch}-i${i}` } } },
              })),
            },
          }),
        );
      }
    }),
  );

  const streams = new DynamoDBStreamsClient(config);
  const streamArn = String(TableDescription?.LatestStreamArn);
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const sequences: string[] = [];
  for (const shard of StreamDescription?.Shards ?? []) {
    let { ShardIterator: iterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: String(shard.ShardId),
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator !== undefined) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      if ((page.Records ?? []).length === 0) break;
      sequences.push(...(page.Records ?? []).map((record) => String(record.dynamodb?.SequenceNumber)));
      iterator = page.NextShardIterator;
    }
  }
  return sequences;
};

const strictlyIncreasing = (sequences: string[]): boolean =>
  sequences.every((sequence, i) => i === 0 || BigInt(sequence) > BigInt(sequences[i - 1] ?? '0'));

describe('stream sequence numbers under concurrent writes', () => {
  it('are unique and increasing, one record per write, from the emulator the offline runtime starts', async () => {
    const sequences = await writeConcurrentlyAndReadStream('fixed');

    expect(sequences).toHaveLength(WRITERS * BATCHES_PER_WRITER * 25);
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(strictlyIncreasing(sequences)).toBe(true);
  });

  it('are not, from plain moto_server: the defect the launcher fixes', async () => {
    // A race, so it may need another round to show; a few duplicates in 8,000 records is typical.
    let defective = false;
    for (let round = 0; round < 3 && !defective; round += 1) {
      const sequences = await writeConcurrentlyAndReadStream('plain');
      await emulator?.stop();
      emulator = undefined;
      const unique = new Set(sequences).size === sequences.length;
      const onePerWrite = sequences.length === WRITERS * BATCHES_PER_WRITER * 25;
      defective = !(unique && onePerWrite && strictlyIncreasing(sequences));
    }

    expect(defective).toBe(true);
  });
});
