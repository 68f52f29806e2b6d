import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import {
  csv,
  dailyAggregates,
  drain,
  eventItems,
  fileMetadata,
  HEADER,
  listKeys,
  objectExists,
  objectText,
  startPipeline,
  subscribeQueue,
  taskFileKey,
  uploadAndWait,
  userRows,
} from './support.ts';

// The workflow end to end, offline: real handlers from `sam build`, the real state machine definition,
// moto on loopback for S3, EventBridge, DynamoDB, SNS and SQS.

let pipeline: OfflinePipeline;
let alertsQueue: string;

beforeAll(async () => {
  // Chunks of 5,000 rows: the large-file test gets 20 Map iterations from 100,000 rows.
  pipeline = await startPipeline({ parameters: { ChunkRows: '5000' } });
  alertsQueue = await subscribeQueue(pipeline, 'AlertsTopic', 'it-alerts-observer');
});

afterAll(async () => {
  await pipeline?.stop();
});

describe('a clean file', () => {
  const key = 'uploads/wf/clean.csv';
  const body = csv(HEADER, [...userRows('wf-ann', 7), ...userRows('wf-ben', 3, 'view')]);

  it('stores every row once, records metadata and daily aggregates, and archives the original', async () => {
    const { execution } = await uploadAndWait(pipeline, key, body);

    expect(execution.status).toBe('SUCCEEDED');
    expect(await eventItems(pipeline, 'wf-ann')).toHaveLength(7);
    expect(await eventItems(pipeline, 'wf-ben')).toHaveLength(3);
    const metadata = await fileMetadata(pipeline, key);
    expect(metadata).toMatchObject({ status: 'SUCCEEDED', rows: { total: 10, stored: 10, rejected: 0 } });
    const [annDaily] = await dailyAggregates(pipeline, 'wf-ann');
    expect(annDaily).toMatchObject({ date: '2026-11-01', event_count: 7, total_value: 28 });
    expect(await objectExists(pipeline, key)).toBe(false);
    expect(await objectExists(pipeline, 'archive/wf/clean.csv')).toBe(true);
  });

  it('lands the rows in processed/ partitioned by day, with the Athena table columns', async () => {
    const keys = (await listKeys(pipeline, 'processed/dt=2026-11-01/')).filter((k) => k.endsWith('.json.gz'));
    const rows = (await Promise.all(keys.map((k) => objectText(pipeline, k))))
      .flatMap((text) => text.trim().split('\n'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((row) => row.source_key === key);

    expect(rows).toHaveLength(10);
    expect(rows.map((row) => row.row_number).sort((a, b) => Number(a) - Number(b))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    // Every record has exactly the Glue table's columns (template.yaml), each with a value of its type.
    const table = pipeline.template.Resources.ProcessedEventsTable?.Properties?.TableInput as {
      StorageDescriptor: { Columns: { Name: string; Type: string }[] };
    };
    const columns = table.StorageDescriptor.Columns;
    const fits: Record<string, (value: unknown) => boolean> = {
      string: (value) => typeof value === 'string',
      double: (value) => typeof value === 'number',
      bigint: (value) => Number.isInteger(value),
    };
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(columns.map((column) => column.Name).sort());
      for (const column of columns) expect(fits[column.Type]?.(row[column.Name]), column.Name).toBe(true);
    }
  });
});

describe('a file with bad rows', () => {
  const key = 'uploads/wf/bad-rows.csv';
  const good = userRows('wf-cat', 18);
  const body = csv(HEADER, [
    ...good.slice(0, 5),
    ['', 'click', 1, ''],
    ...good.slice(5),
    ['wf-cat', 'click', 'NaN?', ''],
  ]);

  it('reconciles total = stored + rejected and lists each rejected row with its reason', async () => {
    const { execution } = await uploadAndWait(pipeline, key, body);

    expect(execution.status).toBe('SUCCEEDED');
    const metadata = await fileMetadata(pipeline, key);
    expect(metadata?.rows).toEqual({ total: 20, stored: 18, rejected: 2 });
    const rejects = parse(await objectText(pipeline, String(metadata?.rejectsKey))) as string[][];
    expect(rejects).toEqual([
      ['row', 'line', 'reason', 'raw'],
      ['6', '7', 'user_id is empty', ',click,1,'],
      ['20', '21', 'value is not a finite number: "NaN?"', 'wf-cat,click,NaN?,'],
    ]);
    expect(await eventItems(pipeline, 'wf-cat')).toHaveLength(18);
  });
});

describe('an invalid file', () => {
  it.each([
    ['a wrong header', 'uploads/wf/bad-header.csv', 'name,kind\nx,y\n', /^InvalidHeader/],
    ['no content at all', 'uploads/wf/empty.csv', '', /^EmptyFile/],
    ['a header and no rows', 'uploads/wf/header-only.csv', 'user_id,event_type\n', /^NoDataRows/],
  ])(
    'with %s takes the error path: REJECTED, notified, original in rejected/',
    async (_, key, body, reason) => {
      const { execution } = await uploadAndWait(pipeline, key, body);

      expect(execution.status).toBe('SUCCEEDED');
      const metadata = await fileMetadata(pipeline, key);
      expect(metadata?.status).toBe('REJECTED');
      expect(String(metadata?.reason)).toMatch(reason);
      expect(await objectExists(pipeline, key.replace('uploads/', 'rejected/'))).toBe(true);
      expect(await objectExists(pipeline, key)).toBe(false);
      const notes = (await drain(pipeline, alertsQueue)).map(
        (m) => JSON.parse(String(m.Body)) as Record<string, unknown>,
      );
      expect(notes).toContainEqual(expect.objectContaining({ type: 'FileRejected', key }));
    },
  );
});

describe('a transient failure in ProcessRecords', () => {
  it("is retried by the Map's Retry and duplicates nothing, even when the failed attempt had written", async () => {
    const key = 'uploads/wf/flaky.csv';
    // The handler runs and writes, then the invocation fails as if the function had timed out.
    pipeline.runtime.injectFault({
      functionId: 'ProcessRecordsFunction',
      phase: 'after',
      times: 1,
      errorType: 'Sandbox.Timedout',
      when: (event) => taskFileKey(event) === key,
    });

    const { execution } = await uploadAndWait(pipeline, key, csv(HEADER, userRows('wf-dan', 25)));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.retries).toBeGreaterThanOrEqual(1);
    expect(await eventItems(pipeline, 'wf-dan')).toHaveLength(25);
    const [daily] = await dailyAggregates(pipeline, 'wf-dan');
    expect(daily).toMatchObject({ event_count: 25, total_value: 325 });
  });
});

describe('the same file twice', () => {
  const key = 'uploads/wf/twice.csv';
  const body = csv(HEADER, userRows('wf-eve', 4));

  it('uploaded twice and its event delivered twice runs once: no duplicate items, aggregates unchanged', async () => {
    const first = await uploadAndWait(pipeline, key, body);
    const before = await dailyAggregates(pipeline, 'wf-eve');

    // The same bytes again (a new S3 event), then a redelivery of an EventBridge event for them.
    await pipeline.upload(key, { key, body });
    const target = pipeline.provisioned.ruleTargets[0];
    await pipeline.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: String(target?.queueUrl),
        MessageBody: JSON.stringify({
          version: '0',
          id: 'redelivered-event',
          'detail-type': 'Object Created',
          source: 'aws.s3',
          account: '123456789012',
          time: '2026-11-01T00:00:00Z',
          region: 'us-east-1',
          resources: [`arn:aws:s3:::${pipeline.bucket}`],
          detail: {
            version: '0',
            bucket: { name: pipeline.bucket },
            object: { key, size: body.length, etag: first.upload.etag, sequencer: '00' },
            'request-id': 'r',
            requester: '123456789012',
            reason: 'PutObject',
          },
        }),
      }),
    );
    await pipeline.waitIdle(60_000);

    expect(first.execution.status).toBe('SUCCEEDED');
    expect(pipeline.stepFunctions.list().filter((e) => e.name === first.upload.executionName)).toHaveLength(
      1,
    );
    expect(await eventItems(pipeline, 'wf-eve')).toHaveLength(4);
    expect(await dailyAggregates(pipeline, 'wf-eve')).toEqual(before);
  });
});

describe('a 100,000-row file of 20 chunks', () => {
  it('completes with every row stored while the state payloads stay small', {
    timeout: 900_000,
  }, async () => {
    const users = 500;
    const rows = Array.from({ length: 100_000 }, (_, i) => [
      `wf-big-${i % users}`,
      i % 3 === 0 ? 'purchase' : 'view',
      (i % 100) / 4,
      new Date(Date.UTC(2026, 10, 1 + (i % 5), 12)).toISOString(),
    ]);

    const { execution } = await uploadAndWait(pipeline, 'uploads/wf/big.csv', csv(HEADER, rows), 900_000);

    expect(execution.status).toBe('SUCCEEDED');
    expect(await fileMetadata(pipeline, 'uploads/wf/big.csv')).toMatchObject({
      status: 'SUCCEEDED',
      rows: { total: 100_000, stored: 100_000, rejected: 0 },
    });
    expect(execution.map.total).toBe(20);
    expect(await eventItems(pipeline, 'wf-big-7')).toHaveLength(200);
    // Step Functions allows 256 KB per state; the design keeps payloads independent of the row count.
    expect(execution.maxPayloadBytes).toBeLessThan(8 * 1024);
  });
});
