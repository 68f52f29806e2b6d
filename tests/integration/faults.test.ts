import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AWS_ERROR_STORM, KILL_PLACES, streamOf } from '../../local/chaos.ts';
import { Ledger, type Row, rowsFor, withBadRows } from '../../local/ledger.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import {
  eventItems,
  fileMetadata,
  listKeys,
  objectExists,
  objectText,
  startPipeline,
  subscribeQueue,
  taskFileKey,
} from './support.ts';

// Nothing lost, nothing counted twice, whatever the emulator boundary and the runtime do to the pipeline:
// throttled and partial DynamoDB writes, S3 and SNS errors, environments killed mid-call, deliveries
// repeated and reordered, a file failed past its retries and then redriven. Every fault is drawn from one
// seed (FAULT_SEED, printed with the figures), so a failing run is replayed by its seed. After each case
// every row uploaded is stored exactly once or listed as rejected, and every user's totals, daily
// aggregates and alerts equal an independent sum of the rows (the Ledger).

const SEED = Number(process.env.FAULT_SEED ?? 20261202);
const THRESHOLD = 10;
/** Each bad row is rejected for its value; one after every BAD_EVERY good rows. */
const BAD_EVERY = 13;

let pipeline: OfflinePipeline;
let ledger: Ledger;
const rows = { in: 0, stored: 0, rejected: 0 };

interface Sent {
  key: string;
  good: Row[];
  bad: number;
  upload: Awaited<ReturnType<OfflinePipeline['upload']>>;
}

/** Uploads a file of good rows with bad ones between them; its workflow starts at once. */
const send = async (name: string, good: Row[]): Promise<Sent> => {
  const key = `uploads/faults/${name}.csv`;
  const { body, bad } = withBadRows(good, BAD_EVERY);
  return { key, good, bad, upload: await pipeline.upload(key, { key, body }) };
};

/**
 * Waits for the files' outcomes and for the stream to drain, then clears every fault and checks each file's
 * own account: SUCCEEDED, total = stored + rejected with the exact numbers, each bad row listed once in the
 * rejects file, each stored row once in processed/, the original archived.
 */
const settle = async (files: Sent[]) => {
  const executions = await Promise.all(
    files.map((file) => pipeline.waitForExecution(file.upload.executionName, 600_000)),
  );
  await pipeline.waitIdle(300_000);
  pipeline.clearAwsFaults();
  pipeline.runtime.clearFaults();
  pipeline.disturbDeliveries(undefined);
  for (const [i, { key, good, bad, upload }] of files.entries()) {
    const execution = executions[i];
    expect(execution?.status, `${key}: ${execution?.error ?? ''} ${execution?.cause ?? ''}`).toBe(
      'SUCCEEDED',
    );
    const metadata = await fileMetadata(pipeline, key);
    expect(metadata, key).toMatchObject({
      status: 'SUCCEEDED',
      rows: { total: good.length + bad, stored: good.length, rejected: bad },
    });
    const rejects = parse(await objectText(pipeline, String(metadata?.rejectsKey))) as string[][];
    expect(rejects.slice(1).map((line) => line[2])).toEqual(
      Array.from({ length: bad }, () => 'value is not a finite number: "not-a-number"'),
    );
    const processed = await Promise.all(
      (await listKeys(pipeline, 'processed/'))
        .filter((object) => object.includes(upload.fileId))
        .map((object) => objectText(pipeline, object)),
    );
    expect(
      processed.flatMap((text) => text.trim().split('\n')),
      `${key}: processed/ rows`,
    ).toHaveLength(good.length);
    expect(await objectExists(pipeline, key.replace('uploads/', 'archive/')), `${key} archived`).toBe(true);
    ledger.record(good);
    rows.in += good.length + bad;
    rows.stored += good.length;
    rows.rejected += bad;
  }
};

const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

beforeAll(async () => {
  pipeline = await startPipeline({
    stackName: 'faults',
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true', ChunkRows: '40' },
  });
  ledger = new Ledger(pipeline, await subscribeQueue(pipeline, 'AlertsTopic', 'it-faults-alerts'), THRESHOLD);
  pipeline.seedAwsFaults(SEED);
});

afterEach(() => {
  pipeline.clearAwsFaults();
  pipeline.runtime.clearFaults();
  pipeline.disturbDeliveries(undefined);
});

afterAll(async () => {
  if (pipeline !== undefined) {
    const f = pipeline.faultFigures();
    console.log(
      `faults (FAULT_SEED=${SEED}): ${f.errors} errors, ${f.unprocessedItems} items returned unprocessed, ` +
        `${f.kills} environments killed; ${f.duplicateDeliveries} duplicate deliveries, ` +
        `${f.duplicateRecords} duplicate stream records, ${f.reorderedBatches} reordered batches; ` +
        `rows in ${rows.in} = stored ${rows.stored} + rejected ${rows.rejected}`,
    );
  }
  await pipeline?.stop();
});

describe('under a storm of AWS errors and disturbed deliveries', () => {
  it('stores every row once and keeps every aggregate exact', { timeout: 900_000 }, async () => {
    const group = users('storm-', 10);

    // Three files at once over overlapping users: the stream carries their pages concurrently. The faults
    // start once the uploads are in, so they meet the pipeline and not this test's own calls.
    const files = await Promise.all([
      send('storm-a', rowsFor(group.slice(0, 7), 14)),
      send('storm-b', rowsFor(group.slice(3, 10), 11)),
      send(
        'storm-c',
        rowsFor(
          group.filter((_, i) => i % 2 === 0),
          9,
          3,
        ),
      ),
    ]);
    for (const fault of AWS_ERROR_STORM) pipeline.injectAwsFault(fault);
    pipeline.disturbDeliveries({ seed: SEED, duplicateRate: 0.3, duplicateRecordRate: 0.5, reorder: true });
    await settle(files);

    const figures = pipeline.faultFigures();
    expect(figures.errors).toBeGreaterThan(0);
    expect(figures.unprocessedItems).toBeGreaterThan(0);
    expect(figures.duplicateDeliveries).toBeGreaterThan(0);
    expect(figures.duplicateRecords).toBeGreaterThan(0);
    await ledger.expectExact(group);
  });
});

describe('an environment killed', () => {
  /** Where in the n matching calls the kill lands: drawn from the seed, so each run of a seed hits the same. */
  const sampled = (place: string, n: number) => Math.floor(streamOf(SEED, place)() * n);

  it.each(KILL_PLACES)(
    '$place: the retry finishes the file exactly',
    async ({ place, service, operation, functionId: fn, kill, calls }) => {
      const group = users(`kill-${operation}-${fn.slice(0, 5)}-`, 5);
      const after = sampled(place, calls);
      const killsBefore = pipeline.faultFigures().kills;

      pipeline.injectAwsFault({ service, operation, principal: `fn.${fn}`, after, times: 1, kill });
      await settle([await send(`kill-${fn}-${operation}`, rowsFor(group, 32))]);

      expect(pipeline.faultFigures().kills - killsBefore, `${place}, after ${after} calls`).toBe(1);
      await ledger.expectExact(group);
    },
  );
});

describe('a file failed past its retries', () => {
  it('says what it had stored, keeps its original, and a redrive finishes it exactly', async () => {
    const group = users('redrive-', 4);
    const good = rowsFor(group, 40);
    const key = 'uploads/faults/redrive.csv';
    // One chunk's environment dies on every attempt: the Map's retries run out and the file fails.
    pipeline.runtime.injectFault({
      functionId: 'ProcessRecordsFunction',
      phase: 'before',
      times: 1e9,
      errorType: 'Runtime.ExitError',
      errorMessage: 'Runtime exited with error: signal: killed',
      when: (event) => taskFileKey(event) === key && (event as { chunk?: number }).chunk === 1,
    });
    const first = await send('redrive', good);

    const failed = await pipeline.waitForExecution(first.upload.executionName, 600_000);
    await pipeline.waitIdle(300_000);

    expect(failed.status).toBe('FAILED');
    const metadata = await fileMetadata(pipeline, key);
    const storedSoFar = (await Promise.all(group.map((user) => eventItems(pipeline, user))))
      .flat()
      .filter((event) => event.fileId === first.upload.fileId).length;
    expect(metadata).toMatchObject({ status: 'FAILED', rows: { stored: storedSoFar } });
    expect(storedSoFar).toBeGreaterThan(0);
    expect(storedSoFar).toBeLessThan(good.length);
    expect(await objectExists(pipeline, key)).toBe(true);

    pipeline.runtime.clearFaults();
    const rerun = await pipeline.redrive(key);

    await settle([{ ...first, upload: rerun }]);
    await ledger.expectExact(group);
  });
});

describe('the check itself', () => {
  it('fails when a user has one event more than was uploaded, and passes again once it is gone', async () => {
    const [event] = await eventItems(pipeline, 'storm-0');
    if (event === undefined) throw new Error('storm-0 has no events');
    const twice = { ...event, PK: String(event.PK), SK: `${String(event.SK)}-again` };
    await pipeline.clients.ddb.send(new PutCommand({ TableName: pipeline.table, Item: twice }));

    await expect(ledger.expectExact(['storm-0'])).rejects.toThrow(/storm-0: stored events/);

    await pipeline.clients.ddb.send(
      new DeleteCommand({ TableName: pipeline.table, Key: { PK: twice.PK, SK: twice.SK } }),
    );
    await ledger.expectExact(['storm-0']);
  });
});
