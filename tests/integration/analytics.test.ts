import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import { toLambdaStreamRecord } from '../../local/event-sources.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import {
  api,
  csv,
  drain,
  HEADER,
  item,
  queueDepth,
  startPipeline,
  subscribeQueue,
  take,
  uploadAndWait,
  userRows,
} from './support.ts';

// Real-time aggregates, alerts, inference fan-out and the analytics API, offline.
// The alert threshold is lowered to 10 (with every multiple) through the template parameter.

let pipeline: OfflinePipeline;
let alertsQueue: string;
let pipelineEvents: string;
/** A UsersAggregated message as the stream aggregator published it: a good message for inference. */
let aggregatedMessage: string;
const THRESHOLD = 10;

const totals = async (userId: string) => item(pipeline, `USER#${userId}`, 'TOTALS');

beforeAll(async () => {
  pipeline = await startPipeline({
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true' },
  });
  alertsQueue = await subscribeQueue(pipeline, 'AlertsTopic', 'it-analytics-alerts');
  pipelineEvents = await subscribeQueue(pipeline, 'PipelineEventsTopic', 'it-analytics-pipeline-events');
  // cy: twelve events of value 5, then three of value 9 in the second file: far outside her history.
  const cy = (n: number, value: number, day: string) =>
    Array.from({ length: n }, (_, i) => ['an-cy', 'view', value, `2026-11-${day}T0${i % 10}:00:00Z`]);
  await uploadAndWait(
    pipeline,
    'uploads/an/one.csv',
    csv(HEADER, [...userRows('an-amy', 8), ...userRows('an-bo', 3), ...cy(12, 5, '01')]),
  );
  await uploadAndWait(
    pipeline,
    'uploads/an/two.csv',
    csv(HEADER, [
      ...userRows('an-amy', 14, 'purchase').map(([userId, type]) => [
        String(userId),
        String(type),
        2,
        '2026-11-02T10:00:00Z',
      ]),
      ...userRows('an-bo', 2),
      ...cy(3, 9, '02'),
    ]),
  );
  await pipeline.waitIdle(120_000);
  const published = (await take(pipeline, pipelineEvents)).map((message) => String(message.Body));
  aggregatedMessage = published.find((body) => body.includes('"UsersAggregated"')) ?? '';
});

afterAll(async () => {
  await pipeline?.stop();
});

describe('running totals from the table stream', () => {
  it('equal the sum of the stored rows across files', async () => {
    // one.csv: amy 1..8 (36); two.csv: amy 14 × 2 (28), bo 1+2; bo in one.csv 1+2+3.
    expect(await totals('an-amy')).toMatchObject({ event_count: 22, total_value: 64 });
    expect(await totals('an-bo')).toMatchObject({ event_count: 5, total_value: 9 });
  });

  it("are served by the API with the type of the user's latest event, read from the newest EVENT# item", async () => {
    const response = await fetch(`${pipeline.apiUrl}/users/an-amy/aggregates?from=2026-11-01&to=2026-11-30`);
    const body = (await response.json()) as { totals: Record<string, unknown> };

    expect(body.totals).toMatchObject({ event_count: 22, total_value: 64, last_event_type: 'purchase' });
  });

  it('do not change when the stream redelivers the lanes’ records', async () => {
    const before = await totals('an-amy');
    const streams = new DynamoDBStreamsClient(clientConfig(pipeline.endpoint));
    const streamArn = pipeline.provisioned.physical.get('Table')?.attributes.StreamArn ?? '';
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: StreamDescription?.Shards?.[0]?.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const { Records = [] } = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
    const pages = Records.filter((record) => record.dynamodb?.Keys?.PK?.S?.startsWith('LANE#')).map(
      (record) => toLambdaStreamRecord(record, streamArn),
    );
    expect(pages.length).toBeGreaterThanOrEqual(2);

    // The whole batch again, then its second half again: what Lambda redelivers after a failure.
    const whole = await pipeline.runtime.invoke('StreamAggregatorFunction', { Records: pages });
    const half = await pipeline.runtime.invoke('StreamAggregatorFunction', {
      Records: pages.slice(Math.floor(pages.length / 2)),
    });

    expect(whole).toEqual({ batchItemFailures: [] });
    expect(half).toEqual({ batchItemFailures: [] });
    expect(await totals('an-amy')).toEqual(before);
  });

  it('do not change when a file’s pages are handed to their lanes again (a retried StoreResults)', async () => {
    const before = await totals('an-amy');
    const { Items = [] } = await pipeline.clients.ddb.send(
      new ScanCommand({
        TableName: pipeline.table,
        FilterExpression: 'begins_with(PK, :lane)',
        ExpressionAttributeValues: { ':lane': 'LANE#' },
      }),
    );
    expect(Items.length).toBeGreaterThan(0);
    // Rewrite each lane's last page, then the first file's page of amy's lane: new stream records both.
    for (const lane of Items)
      await pipeline.clients.ddb.send(
        new PutCommand({ TableName: pipeline.table, Item: { ...lane, rewrittenBy: 'test' } }),
      );
    await pipeline.waitIdle(60_000);

    expect(await totals('an-amy')).toEqual(before);
  });
});

describe('threshold alerts', () => {
  it('are published once per crossing, not once per event above it', async () => {
    const alerts = (await drain(pipeline, alertsQueue))
      .map((message) => JSON.parse(String(message.Body)) as Record<string, unknown>)
      .filter((body) => body.userId === 'an-amy');

    // amy went 0 → 8 → 22: she crossed 10 and 20, once each; bo (5) crossed nothing.
    expect(alerts.map((alert) => alert.threshold).sort()).toEqual([10, 20]);
    expect(alerts.every((alert) => alert.type === 'ThresholdCrossed')).toBe(true);
  });
});

describe('the inference fan-out', () => {
  it('stores a score for each user found anomalous against the totals before the file, none for the rest', async () => {
    const cy = await api(pipeline, '/users/an-cy/scores');
    const amy = await api(pipeline, '/users/an-amy/scores');

    // cy's second file is scored against the twelve events before it; amy never had ten before a file.
    expect(cy.status).toBe(200);
    expect(cy.body.items).toEqual([
      expect.objectContaining({ label: 'anomalous', eventCount: 3, meanValue: 9 }),
    ]);
    expect(amy.body.items).toEqual([]);
  });

  it('sends a poison message to the dead-letter queue while the rest of its batch succeeds', async () => {
    const good = aggregatedMessage;
    expect(JSON.parse(good)).toMatchObject({ type: 'UsersAggregated' });
    await pipeline.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pipeline.provisioned.ref('InferenceQueue'),
        Entries: [
          { Id: 'good', MessageBody: good },
          { Id: 'poison', MessageBody: '{"type":"UsersAggregated","not":"the right shape"}' },
        ],
      }),
    );

    await pipeline.waitIdle(120_000);

    expect(await queueDepth(pipeline, 'InferenceDeadLetterQueue')).toBe(1);
    expect(await queueDepth(pipeline, 'InferenceQueue')).toBe(0);
  });

  it('retries a batch in which every record failed instead of acknowledging it', async () => {
    const dlqBefore = await queueDepth(pipeline, 'InferenceDeadLetterQueue');
    const invocationsBefore = pipeline.runtime.stats().InferenceFunction?.invocations ?? 0;
    // The whole invocation fails once (as a crashed or throttled function would); the batch must come back.
    pipeline.runtime.injectFault({
      functionId: 'InferenceFunction',
      phase: 'before',
      times: 1,
      errorType: 'Runtime.ExitError',
    });
    await pipeline.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pipeline.provisioned.ref('InferenceQueue'),
        Entries: [{ Id: 'again', MessageBody: aggregatedMessage }],
      }),
    );

    await pipeline.waitIdle(120_000);

    expect(
      (pipeline.runtime.stats().InferenceFunction?.invocations ?? 0) - invocationsBefore,
    ).toBeGreaterThanOrEqual(1);
    expect(await queueDepth(pipeline, 'InferenceQueue')).toBe(0);
    expect(await queueDepth(pipeline, 'InferenceDeadLetterQueue')).toBe(dlqBefore);
  });
});

describe('the analytics API', () => {
  it('returns running totals and daily aggregates for a user', async () => {
    const { status, body } = await api(pipeline, '/users/an-amy/aggregates?from=2026-11-01&to=2026-11-30');

    expect(status).toBe(200);
    expect(body.totals).toMatchObject({ event_count: 22, total_value: 64 });
    expect(body.daily).toEqual([
      expect.objectContaining({ date: '2026-11-01', event_count: 8, total_value: 36 }),
      expect.objectContaining({ date: '2026-11-02', event_count: 14, total_value: 28 }),
    ]);
  });

  it('pages through events with an opaque cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const { status, body } = await api(pipeline, `/users/an-bo/events?limit=2${query}`);
      expect(status).toBe(200);
      seen.push(...(body.items as { eventId: string }[]).map((event) => event.eventId));
      cursor = (body.nextCursor as string | null) ?? null;
    } while (cursor !== null);

    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });

  it('reports a file with its status and counts', async () => {
    const { status, body } = await api(pipeline, '/files/uploads/an/one.csv');

    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'SUCCEEDED', rows: { total: 23, stored: 23, rejected: 0 } });
  });

  it.each([
    ['a limit out of range', '/users/an-amy/events?limit=0', 400],
    ['a tampered cursor', '/users/an-amy/events?cursor=not-a-cursor', 400],
    ['a malformed date', '/users/an-amy/aggregates?from=yesterday', 400],
    ['an unknown file', '/files/uploads/an/missing.csv', 404],
  ])('rejects %s with a %i and no internals', async (_, path, expected) => {
    const { status, body } = await api(pipeline, path);

    expect(status).toBe(expected);
    expect(JSON.stringify(body)).not.toMatch(/stack|at \w+ \(|node_modules/i);
  });
});
