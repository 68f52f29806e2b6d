import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import type { MeterSnapshot } from '../../local/meter/meter.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import { csv, eventItems, HEADER, startPipeline, uploadAndWait, userRows } from './support.ts';

// The meter against counts obtained another way: items read back from the table, the file's own row and
// chunk counts, and the state machine's path through its states.

let pipeline: OfflinePipeline;
let counts: MeterSnapshot;
const users = ['mt-ann', 'mt-ben', 'mt-cat'];
const ROWS_EACH = 20;
const CHUNK_ROWS = 25; // 60 rows → 3 chunks

const requests = (principal: string, service: string, operation: string) =>
  counts.requests
    .filter((r) => r.principal === principal && r.service === service && r.operation === operation)
    .reduce((total, r) => total + r.count, 0);

beforeAll(async () => {
  pipeline = await startPipeline({ stackName: 'meter', parameters: { ChunkRows: String(CHUNK_ROWS) } });
  const body = csv(
    HEADER,
    users.flatMap((user) => userRows(user, ROWS_EACH)),
  );
  // The first chunk fails once after its handler ran: Step Functions retries it, which is one more transition.
  pipeline.runtime.injectFault({
    functionId: 'ProcessRecordsFunction',
    times: 1,
    phase: 'after',
    errorType: 'Sandbox.Timedout',
    when: (event) => (event as { chunk?: number }).chunk === 0,
  });
  const { execution } = await uploadAndWait(pipeline, 'uploads/meter/sixty.csv', body);
  expect(execution.status).toBe('SUCCEEDED');
  await pipeline.waitIdle(120_000);
  counts = await pipeline.meterSnapshot();
});

afterAll(async () => {
  await pipeline?.stop();
});

describe('the meter of an offline run', () => {
  it('bills one write unit per EVENT# item the table holds, each under 1 KB', async () => {
    const items = (await Promise.all(users.map((user) => eventItems(pipeline, user)))).flat();
    const events = counts.dynamodb.writes.filter((w) => w.itemType === 'EVENT#' && w.verb === 'puts');
    const writes = events.reduce((total, w) => total + w.writes, 0);
    const units = events.reduce((total, w) => total + w.tableUnits, 0);

    expect(items).toHaveLength(users.length * ROWS_EACH);
    expect(items.every((item) => JSON.stringify(item).length < 1000)).toBe(true);
    // The retried chunk finds its partial (it failed after its handler ran) and writes nothing twice.
    expect(writes).toBe(items.length);
    expect(units).toBe(writes);
    expect(Object.values(events[0]?.indexUnits ?? {}).every((u) => u === 0)).toBe(true);
  });

  it('counts ⌈rows / 25⌉ BatchWriteItem calls per chunk and one StartExecution', () => {
    // Chunks of 25, 25 and 10 rows: 3 calls of at most 25 items; the retried chunk is skipped on its partial.
    expect(requests('fn.ProcessRecordsFunction', 'dynamodb', 'BatchWriteItem')).toBe(3);
    expect(requests('fn.StartWorkflowFunction', 'states', 'StartExecution')).toBe(1);
    expect(requests('user', 's3', 'PutObject')).toBe(1);
  });

  it('counts the state transitions of the path the file took, retries included', () => {
    const path = ['ValidateData', 'CheckValidation', 'PlanChunks', 'ProcessRecords'];
    const after = ['AggregateResults', 'StoreResults', 'PublishFileStored', 'FileStored'];
    const perChunk = ['ProcessChunk'];
    const chunks = Math.ceil((users.length * ROWS_EACH) / CHUNK_ROWS);
    const retries = 1;

    expect(counts.stepFunctions).toEqual({
      executions: 1,
      stateTransitions: path.length + chunks * perChunk.length + after.length + retries,
    });
  });

  it('counts each function’s invocations, with billed time and memory from the template', () => {
    const fn = (id: string) => counts.lambda.find((count) => count.functionId === id);

    expect(fn('ValidateDataFunction')?.invocations).toBe(1);
    expect(fn('ProcessRecordsFunction')?.invocations).toBe(4);
    expect(fn('ProcessRecordsFunction')?.memoryMb).toBe(1024);
    expect(fn('ProcessRecordsFunction')?.billedMs).toBeGreaterThan(0);
    expect(fn('ProcessRecordsFunction')?.billedMs).toBeLessThanOrEqual(
      fn('ProcessRecordsFunction')?.measuredMs ?? 0,
    );
    // Each chunk reads its staged rows from S3 and writes them in BatchWriteItem calls: the environment
    // saw those requests and the time it waited on them.
    expect(fn('ProcessRecordsFunction')?.awsCalls).toBeGreaterThanOrEqual(6);
    expect(fn('ProcessRecordsFunction')?.awsWaitMs).toBeGreaterThan(0);
    expect(fn('StartWorkflowFunction')?.invocations).toBe(1);
    expect(fn('ValidateDataFunction')?.logBytes).toBeGreaterThan(0);
  });

  it('prices the run per stored event', async () => {
    const { report } = await pipeline.cost(users.length * ROWS_EACH);

    expect(report.totalUsd).toBeGreaterThan(0);
    expect(report.perMillionEventsUsd).toBeCloseTo((report.totalUsd / 60) * 1e6, 9);
    expect(report.services.map((s) => s.service)).toEqual(
      expect.arrayContaining(['DynamoDB', 'Lambda', 'Step Functions', 'S3']),
    );
  });
});

describe('the metering proxy', () => {
  it('answers an UpdateItem as asked, though it asks the emulator for the new image', async () => {
    const ddb = new DynamoDBClient(clientConfig(pipeline.endpoint, 'fn.Probe'));
    const output = await ddb.send(
      new UpdateItemCommand({
        TableName: pipeline.table,
        Key: { PK: { S: 'PROBE#1' }, SK: { S: 'PROBE#1' } },
        UpdateExpression: 'ADD n :one',
        ExpressionAttributeValues: { ':one': { N: '1' } },
      }),
    );
    const probe = (await pipeline.meterSnapshot()).dynamodb.writes.find((w) => w.itemType === 'PROBE#');

    expect(output.Attributes).toBeUndefined();
    expect(probe).toMatchObject({ verb: 'updates', writes: 1, tableUnits: 1, principals: ['fn.Probe'] });
  });
});
