import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { guardOf, totalsUpdateOf } from '../functions/stream-aggregator/totals.ts';
import { clientConfig } from '../local/aws.ts';
import { createKeyedTable, startEmulator } from '../local/emulator.ts';

// How fast the emulator applies the stream aggregator's TOTALS update (the real expression, from
// totalsUpdateOf), with 1, 16 and 64 updates in flight, straight to moto (no proxy). This rate bounds how
// fast a day of many small files drains offline: one such update per user per file.
// Usage: node bench/emulator-updates.ts [updates per level, default 1500]

const UPDATES = Number(process.argv[2] ?? 1500);
const TABLE = 'bench-updates';

const emulator = await startEmulator(new URL('../', import.meta.url).pathname, () => undefined);
try {
  const raw = new DynamoDBClient(clientConfig(emulator.endpoint, 'fn.Bench'));
  await createKeyedTable(raw, TABLE);
  const ddb = DynamoDBDocumentClient.from(raw);
  const results: Record<string, number> = {};
  let sequence = 0;
  for (const inFlight of [1, 16, 64]) {
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < UPDATES) {
          const i = next++;
          sequence += 1;
          const user = {
            userId: `u${i % 1000}`,
            count: 1,
            total: 1.5,
            squares: 2.25,
            days: [['2026-11-01', 1, 1.5]] as [string, number, number][],
          };
          const guard = guardOf(String(sequence).padStart(20, '0'), 0);
          await ddb.send(new UpdateCommand(totalsUpdateOf(TABLE, user, guard, new Date().toISOString())));
        }
      }),
    );
    results[`${inFlight} in flight`] = Math.round(UPDATES / ((Date.now() - started) / 1000));
  }
  process.stdout.write(`${JSON.stringify({ updatesPerSecond: results }, null, 2)}\n`);
} finally {
  await emulator.stop();
}
