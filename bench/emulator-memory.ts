import { readFileSync } from 'node:fs';
import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { clientConfig } from '../local/aws.ts';
import { createKeyedTable, type EmulatorFlavour, startEmulator } from '../local/emulator.ts';

// What moto holds for a table with a stream: the same EVENT#-shaped items written to the emulator the
// offline runtime starts and to plain moto_server, and each one's resident memory after.
// Usage: node bench/emulator-memory.ts [items, default 100000]

const ITEMS = Number(process.argv[2] ?? 100_000);
const WRITERS = 16;

const rssMiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const measure = async (flavour: EmulatorFlavour) => {
  const emulator = await startEmulator(new URL('../', import.meta.url).pathname, () => undefined, {
    flavour,
  });
  try {
    const ddb = new DynamoDBClient(clientConfig(emulator.endpoint, 'fn.Bench'));
    await createKeyedTable(ddb, 'events');
    const before = rssMiB(Number(emulator.pid));
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < ITEMS) {
          const start = next;
          next += 25;
          const items = Array.from({ length: Math.min(25, ITEMS - start) }, (_, i) => {
            const n = start + i;
            const at = new Date(Date.UTC(2026, 10, 1) + n * 1000).toISOString();
            return {
              PutRequest: {
                Item: {
                  PK: { S: `USER#u${n % 10_000}` },
                  SK: { S: `EVENT#${at}#${n.toString(16).padStart(24, '0')}` },
                  type: { S: 'EVENT' },
                  userId: { S: `u${n % 10_000}` },
                  eventId: { S: n.toString(16).padStart(24, '0') },
                  eventType: { S: 'click' },
                  value: { N: String((n % 1000) / 10) },
                  timestamp: { S: at },
                  fileId: { S: 'abcdefabcdefabcdefabcdef' },
                  row: { N: String(n + 2) },
                },
              },
            };
          });
          await ddb.send(new BatchWriteItemCommand({ RequestItems: { events: items } }));
        }
      }),
    );
    return {
      flavour,
      items: ITEMS,
      rssBeforeMiB: Math.round(before),
      rssAfterMiB: Math.round(rssMiB(Number(emulator.pid))),
    };
  } finally {
    await emulator.stop();
  }
};

const results = [await measure('fixed'), await measure('plain')];
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
