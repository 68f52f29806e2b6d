import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { clientConfig } from '../local/aws.ts';
import { createKeyedTable, startEmulator } from '../local/emulator.ts';
import { Meter } from '../local/meter/meter.ts';
import { MeteringProxy } from '../local/meter/proxy.ts';

// What the metering proxy costs: the same BatchWriteItem load straight to the emulator and through the
// proxy, alternately, twice. Usage: node bench/proxy-overhead.ts

const WRITERS = 16;
const BATCHES = 50;

const emulator = await startEmulator(new URL('../', import.meta.url).pathname, () => undefined);
const proxy = new MeteringProxy({ upstream: emulator.endpoint.url, meter: new Meter() });
const proxyUrl = await proxy.listen();

const load = async (url: string, table: string) => {
  const ddb = new DynamoDBClient(clientConfig({ url }, 'fn.Bench'));
  await createKeyedTable(ddb, table);
  const started = Date.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let batch = 0; batch < BATCHES; batch += 1) {
        const items = Array.from({ length: 25 }, (_, i) => ({
          PutRequest: {
            Item: {
              PK: { S: `USER#u${(writer * BATCHES + batch) % 997}` },
              SK: { S: `EVENT#2026-11-01T00:00:00.000Z#${writer}-${batch}-${i}` },
              type: { S: 'EVENT' },
              value: { N: '12.5' },
              fileId: { S: 'abcdefabcdefabcdefabcdef' },
              row: { N: String(i) },
            },
          },
        }));
        await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: items } }));
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  return {
    items: WRITERS * BATCHES * 25,
    seconds,
    itemsPerSecond: Math.round((WRITERS * BATCHES * 25) / seconds),
  };
};

try {
  for (let round = 1; round <= 2; round += 1) {
    console.log(`round ${round} direct`, await load(emulator.endpoint.url, `direct${round}`));
    console.log(`round ${round} proxy `, await load(proxyUrl, `proxy${round}`));
  }
} finally {
  await proxy.stop();
  await emulator.stop();
}
