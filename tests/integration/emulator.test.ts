import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import {
  createKeyedTable,
  type Emulator,
  type EmulatorFlavour,
  startEmulator,
} from '../../local/emulator.ts';
import { readStreamRecords } from '../../local/event-sources.ts';
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

/** A table with a stream on a fresh emulator of the given flavour. */
const streamedTable = async (flavour: EmulatorFlavour) => {
  // Threads switch every microsecond, for both flavours alike: the race shows at once, if it is there.
  emulator = await startEmulator(projectRoot, () => undefined, { flavour, switchIntervalSeconds: 0.000001 });
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
  return { config, ddb, streamArn: String(TableDescription?.LatestStreamArn) };
};

/** Every record of the stream's shards, read back in order. */
const readStream = (config: ReturnType<typeof clientConfig>, streamArn: string) =>
  readStreamRecords(new DynamoDBStreamsClient(config), streamArn);

/** Eight writers at once, then the sequence numbers of every record of the stream, in order. */
const writeConcurrentlyAndReadStream = async (flavour: EmulatorFlavour): Promise<string[]> => {
  const { config, ddb, streamArn } = await streamedTable(flavour);
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

  return (await readStream(config, streamArn)).map((record) => String(record.dynamodb?.SequenceNumber));
};

/** One UpdateItem that creates an item, then what the stream says about it. */
const createByUpdateAndReadStream = async (flavour: EmulatorFlavour) => {
  const { config, ddb, streamArn } = await streamedTable(flavour);
  await ddb.send(
    new UpdateItemCommand({
      TableName: 'streams',
      Key: { PK: { S: 'created-by-update' } },
      UpdateExpression: 'SET page = :page ADD lane_seq :one',
      ExpressionAttributeValues: { ':page': { N: '3' }, ':one': { N: '1' } },
    }),
  );
  return readStream(config, streamArn);
};

const strictlyIncreasing = (sequences: string[]): boolean =>
  sequences.every((sequence, i) => i === 0 || BigInt(sequence) > BigInt(sequences[i - 1] ?? '0'));

/** A race shows on most runs with threads switching every microsecond; up to three fresh emulators. */
const showsDefect = async (attempt: () => Promise<boolean>): Promise<boolean> => {
  for (let round = 0; round < 3; round += 1) {
    const shown = await attempt();
    await emulator?.stop();
    emulator = undefined;
    if (shown) return true;
  }
  return false;
};

/** Eight writers add 1 to one item 200 times each; what each update saw as the new value. */
const addConcurrently = async (flavour: EmulatorFlavour): Promise<number[]> => {
  const { ddb } = await streamedTable(flavour);
  const seen: number[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 200; i += 1) {
        const { Attributes } = await ddb.send(
          new UpdateItemCommand({
            TableName: 'streams',
            Key: { PK: { S: 'counter' } },
            UpdateExpression: 'ADD n :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        seen.push(Number(Attributes?.n?.N));
      }
    }),
  );
  return seen.sort((a, b) => a - b);
};

describe('concurrent updates of one item', () => {
  it('are atomic, each seeing its own new value, from the emulator the offline runtime starts', async () => {
    const seen = await addConcurrently('fixed');

    expect(seen).toEqual(Array.from({ length: 1600 }, (_, i) => i + 1));
  });

  it('lose or repeat updates on plain moto_server: the defect the launcher fixes', async () => {
    expect(
      await showsDefect(async () => {
        const seen = await addConcurrently('plain');
        return seen.some((value, i) => value !== i + 1);
      }),
    ).toBe(true);
  });
});

describe('the stream record of an UpdateItem that creates an item', () => {
  it('is one INSERT with the whole new image, from the emulator the offline runtime starts', async () => {
    const records = await createByUpdateAndReadStream('fixed');

    expect(records.map((record) => record.eventName)).toEqual(['INSERT']);
    expect(records[0]?.dynamodb?.NewImage).toEqual({
      PK: { S: 'created-by-update' },
      page: { N: '3' },
      lane_seq: { N: '1' },
    });
  });

  it('is preceded by an INSERT of the bare key from plain moto_server: the defect the launcher fixes', async () => {
    const records = await createByUpdateAndReadStream('plain');

    expect(records).toHaveLength(2);
    expect(records[0]?.dynamodb?.NewImage).toEqual({ PK: { S: 'created-by-update' } });
  });
});

describe('stream sequence numbers under concurrent writes', () => {
  it('are unique and increasing, one record per write, from the emulator the offline runtime starts', async () => {
    const sequences = await writeConcurrentlyAndReadStream('fixed');

    expect(sequences).toHaveLength(WRITERS * BATCHES_PER_WRITER * 25);
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(strictlyIncreasing(sequences)).toBe(true);
  });

  it('are not, from plain moto_server: the defect the launcher fixes', async () => {
    expect(
      await showsDefect(async () => {
        const sequences = await writeConcurrentlyAndReadStream('plain');
        const unique = new Set(sequences).size === sequences.length;
        const onePerWrite = sequences.length === WRITERS * BATCHES_PER_WRITER * 25;
        return !(unique && onePerWrite && strictlyIncreasing(sequences));
      }),
    ).toBe(true);
  });
});

/** Every kind of attribute, inserted, modified and removed; the stream as the SDK parses it. */
const writeEveryKindAndReadStream = async (flavour: EmulatorFlavour) => {
  const { config, ddb, streamArn } = await streamedTable(flavour);
  const Item = {
    PK: { S: 'kinds' },
    s: { S: 'rené, "quoted"\n' },
    n: { N: '-12.5' },
    b: { B: Uint8Array.from([0, 1, 254, 255]) },
    ss: { SS: ['a', 'b'] },
    ns: { NS: ['1', '2'] },
    bs: { BS: [Uint8Array.from([7])] },
    l: { L: [{ S: 'x' }, { N: '1' }, { NULL: true }] },
    m: { M: { nested: { BOOL: false }, deeper: { M: { n: { N: '3' } } } } },
  };
  await ddb.send(new PutItemCommand({ TableName: 'streams', Item }));
  await ddb.send(
    new UpdateItemCommand({
      TableName: 'streams',
      Key: { PK: { S: 'kinds' } },
      UpdateExpression: 'SET n = :n REMOVE ss',
      ExpressionAttributeValues: { ':n': { N: '7' } },
    }),
  );
  await ddb.send(new DeleteItemCommand({ TableName: 'streams', Key: { PK: { S: 'kinds' } } }));
  return (await readStream(config, streamArn)).map(({ eventID, dynamodb, ...record }) => {
    const { ApproximateCreationDateTime, SequenceNumber, SizeBytes, ...rest } = dynamodb ?? {};
    expect(eventID).toMatch(/^[0-9a-f]{32}$/);
    expect(ApproximateCreationDateTime).toBeInstanceOf(Date);
    expect(SequenceNumber).toMatch(/^\d+$/);
    expect(SizeBytes).toBeGreaterThan(0);
    return { ...record, dynamodb: rest };
  });
};

describe('GetRecords from the emulator the offline runtime starts (answered without moto serializer)', () => {
  it('says what plain moto_server says, for every kind of attribute and event', async () => {
    const fixed = await writeEveryKindAndReadStream('fixed');
    await emulator?.stop();
    emulator = undefined;
    const plain = await writeEveryKindAndReadStream('plain');

    expect(fixed.map((record) => record.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(fixed).toEqual(plain);
  });
});

/** Three partitions of sorted items, then the queries the functions make, each read to its last page. */
const queryPartitions = async (flavour: EmulatorFlavour) => {
  emulator = await startEmulator(projectRoot, () => undefined, { flavour });
  const ddb = new DynamoDBClient(clientConfig(emulator.endpoint));
  await createKeyedTable(ddb, 'sorted', false);
  for (const pk of ['USER#b', 'USER#a', 'USER#c']) {
    await ddb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          sorted: Array.from({ length: 25 }, (_, i) => ({
            PutRequest: {
              Item: {
                PK: { S: pk },
                SK: { S: `EVENT#${String((i * 7) % 25).padStart(2, '0')}` },
                n: { N: `${i}` },
              },
            },
          })),
        },
      }),
    );
  }
  const pages = async (input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>) => {
    const items: unknown[] = [];
    let ExclusiveStartKey: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
    do {
      const page = await ddb.send(new QueryCommand({ TableName: 'sorted', ...input, ExclusiveStartKey }));
      items.push(page.Items);
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined);
    return items;
  };
  const key = (pk: string) => ({ ':pk': { S: pk } });
  return [
    await pages({ KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: key('USER#a') }),
    await pages({
      KeyConditionExpression: 'PK = :pk AND SK BETWEEN :from AND :to',
      ExpressionAttributeValues: { ...key('USER#b'), ':from': { S: 'EVENT#05' }, ':to': { S: 'EVENT#17' } },
      ScanIndexForward: false,
      Limit: 4,
    }),
    await pages({
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      FilterExpression: 'n > :n',
      ExpressionAttributeValues: { ...key('USER#c'), ':prefix': { S: 'EVENT#1' }, ':n': { N: '10' } },
      Limit: 3,
    }),
    await pages({ KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: key('USER#none') }),
  ];
};

describe('Query from the emulator the offline runtime starts (one partition read, not the whole table)', () => {
  it('answers what plain moto_server answers: order, key conditions, filters, pages', async () => {
    const fixed = await queryPartitions('fixed');
    await emulator?.stop();
    emulator = undefined;
    const plain = await queryPartitions('plain');

    // All 25 of a; b's EVENT#05…17; of c's EVENT#1x those with n > 10 (n = 13, 16, 17, 20, 23, 24); none.
    expect(fixed.flat(2)).toHaveLength(25 + 13 + 6);
    expect(fixed).toEqual(plain);
  });
});
