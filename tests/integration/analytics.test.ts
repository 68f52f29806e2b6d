import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
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
  uploadAndWait,
  userRows,
} from './support.ts';

// Real-time aggregates, alerts, inference fan-out and the analytics API, offline.
// The alert threshold is lowered to 10 (with every multiple) through the template parameter.

let pipeline: OfflinePipeline;
let alertsQueue: string;
const THRESHOLD = 10;

const totals = async (userId: string) => item(pipeline, `USER#${userId}`, 'TOTALS');

beforeAll(async () => {
  pipeline = await startPipeline({
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true' },
  });
  alertsQueue = await subscribeQueue(pipeline, 'AlertsTopic', 'it-analytics-alerts');
  await uploadAndWait(
    pipeline,
    'uploads/an/one.csv',
    csv(HEADER, [...userRows('an-amy', 8), ...userRows('an-bo', 3)]),
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
    ]),
  );
  await pipeline.waitIdle(120_000);
});

afterAll(async () => {
  await pipeline?.stop();
});

describe('running totals from the table stream', () => {
  it('equal the sum of the stored rows across files', async () => {
    // one.csv: amy 1..8 (36); two.csv: amy 14 × 2 (28), bo 1+2; bo in one.csv 1+2+3.
    expect(await totals('an-amy')).toMatchObject({
      event_count: 22,
      total_value: 64,
      last_event_type: 'purchase',
    });
    expect(await totals('an-bo')).toMatchObject({ event_count: 5, total_value: 9 });
  });

  it('do not change when the stream redelivers records', async () => {
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
    const amyInserts = Records.filter(
      (record) =>
        record.eventName === 'INSERT' &&
        record.dynamodb?.Keys?.PK?.S === 'USER#an-amy' &&
        record.dynamodb.Keys.SK?.S?.startsWith('EVENT#'),
    ).map((record) => toLambdaStreamRecord(record, streamArn));
    expect(amyInserts.length).toBe(22);

    const response = await pipeline.runtime.invoke('StreamAggregatorFunction', {
      Records: amyInserts.slice(3, 17),
    });

    expect(response).toEqual({ batchItemFailures: [] });
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
  it('scores every user of every stored file', async () => {
    const scores = await api(pipeline, '/users/an-amy/scores');

    expect(scores.status).toBe(200);
    expect((scores.body.items as unknown[]).length).toBe(2);
  });

  it('sends a poison message to the dead-letter queue while the rest of its batch succeeds', async () => {
    const stored = JSON.parse(
      String(pipeline.stepFunctions.list().find((e) => e.input.includes('an/one.csv'))?.output),
    );
    const good = JSON.stringify(stored.stored.event);
    await pipeline.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pipeline.provisioned.ref('InferenceQueue'),
        Entries: [
          { Id: 'good', MessageBody: good },
          { Id: 'poison', MessageBody: '{"type":"FileStored","not":"the right shape"}' },
        ],
      }),
    );

    await pipeline.waitIdle(120_000);

    expect(await queueDepth(pipeline, 'InferenceDeadLetterQueue')).toBe(1);
    expect(await queueDepth(pipeline, 'InferenceQueue')).toBe(0);
  });

  it('retries a batch in which every record failed instead of acknowledging it', async () => {
    const stored = JSON.parse(
      String(pipeline.stepFunctions.list().find((e) => e.input.includes('an/two.csv'))?.output),
    );
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
        Entries: [{ Id: 'again', MessageBody: JSON.stringify(stored.stored.event) }],
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
    expect(body).toMatchObject({ status: 'SUCCEEDED', rows: { total: 11, stored: 11, rejected: 0 } });
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
