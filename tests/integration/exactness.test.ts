import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import { toLambdaStreamRecord } from '../../local/event-sources.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import {
  csv,
  dailyAggregates,
  eventItems,
  HEADER,
  item,
  startPipeline,
  subscribeQueue,
  take,
  uploadAndWait,
} from './support.ts';

// Aggregates stay exact whatever is retried or delivered again: per user, the TOTALS item, the daily
// aggregates the API serves and the alerts must equal what the table's EVENT# items say, which must
// equal an independent sum of the rows this test uploaded. Each case breaks something on purpose.

let pipeline: OfflinePipeline;
let alertsQueue: string;
const THRESHOLD = 10;
type Row = [string, string, number, string];

/** Everything uploaded, kept apart from the pipeline: the independent side of every comparison. */
const ledger = new Map<string, { count: number; total: number; days: Map<string, [number, number]> }>();
const record = (rows: Row[]) => {
  for (const [userId, , value, timestamp] of rows) {
    const user = ledger.get(userId) ?? { count: 0, total: 0, days: new Map() };
    const day = timestamp.slice(0, 10);
    const [count, total] = user.days.get(day) ?? [0, 0];
    user.days.set(day, [count + 1, total + value]);
    user.count += 1;
    user.total += value;
    ledger.set(userId, user);
  }
};

let fileSerial = 0;
/** A file of `perUser` rows for each user, integer values, spread over `days` days from 2026-11-01. */
const rowsFor = (users: string[], perUser: number, days = 1): Row[] => {
  fileSerial += 1;
  const serial = fileSerial;
  return users.flatMap((userId, u) =>
    Array.from({ length: perUser }, (_, i): Row => {
      const at = new Date(Date.UTC(2026, 10, 1 + (i % days), serial % 24, u % 60, i % 60));
      return [userId, i % 3 === 0 ? 'purchase' : 'view', ((u + i + serial) % 7) + 1, at.toISOString()];
    }),
  );
};

const upload = async (name: string, rows: Row[]) => {
  const { execution } = await uploadAndWait(pipeline, `uploads/ex/${name}.csv`, csv(HEADER, rows));
  expect(execution.status).toBe('SUCCEEDED');
  record(rows);
};

const alertsSeen = new Map<string, number[]>();

/** Every user the ledger knows: table, TOTALS, API daily aggregates and alerts all agree with it. */
const expectExact = async (users: string[]) => {
  await pipeline.waitIdle(180_000);
  for (const message of await take(pipeline, alertsQueue)) {
    if (message.MessageAttributes?.type?.StringValue !== 'ThresholdCrossed') continue;
    const alert = JSON.parse(String(message.Body)) as { userId: string; threshold: number };
    const list = alertsSeen.get(alert.userId) ?? [];
    if (!list.includes(alert.threshold)) list.push(alert.threshold);
    alertsSeen.set(alert.userId, list);
  }
  for (const userId of users) {
    const expected = ledger.get(userId);
    if (expected === undefined) throw new Error(`${userId} was never uploaded`);
    const events = await eventItems(pipeline, userId);
    const stored = { count: events.length, total: events.reduce((sum, e) => sum + Number(e.value), 0) };
    const totals = await item(pipeline, `USER#${userId}`, 'TOTALS');
    const daily = await dailyAggregates(pipeline, userId);

    expect(stored, `${userId}: stored events`).toEqual({ count: expected.count, total: expected.total });
    expect(totals, `${userId}: TOTALS`).toMatchObject({
      event_count: expected.count,
      total_value: expected.total,
    });
    expect(
      daily.map((day) => [day.date, day.event_count, day.total_value]),
      `${userId}: daily aggregates`,
    ).toEqual([...expected.days].sort(([a], [b]) => (a < b ? -1 : 1)).map(([date, [n, v]]) => [date, n, v]));
    const crossings = Array.from(
      { length: Math.floor(expected.count / THRESHOLD) },
      (_, i) => (i + 1) * THRESHOLD,
    );
    expect(
      [...(alertsSeen.get(userId) ?? [])].sort((a, b) => a - b),
      `${userId}: alerts`,
    ).toEqual(crossings);
  }
};

beforeAll(async () => {
  pipeline = await startPipeline({
    stackName: 'exact',
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true', ChunkRows: '40' },
  });
  alertsQueue = await subscribeQueue(pipeline, 'AlertsTopic', 'it-exact-alerts');
});

afterAll(async () => {
  pipeline?.clearAwsFaults();
  await pipeline?.stop();
});

describe('aggregates stay exact', () => {
  it('when the aggregator dies after applying some users of a page (the page is redelivered)', async () => {
    const users = ['ex-a1', 'ex-a2', 'ex-a3', 'ex-a4', 'ex-a5', 'ex-a6'];
    // The fourth TOTALS update of the aggregator fails outright: the users before it are already applied.
    pipeline.injectAwsFault({
      service: 'dynamodb',
      operation: 'UpdateItem',
      principal: 'fn.StreamAggregatorFunction',
      after: 3,
      times: 1,
      status: 400,
      code: 'InjectedCrash',
    });

    await upload('partial', rowsFor(users, 7));

    await expectExact(users);
  });

  it('when the aggregator’s invocation fails after it applied a whole batch', async () => {
    const users = ['ex-b1', 'ex-b2', 'ex-b3'];
    pipeline.runtime.injectFault({
      functionId: 'StreamAggregatorFunction',
      phase: 'after',
      times: 1,
      errorType: 'Sandbox.Timedout',
    });

    await upload('after', rowsFor(users, 12));

    await expectExact(users);
  });

  it('when AggregateResults and StoreResults are retried after they ran (pages staged and handed twice)', async () => {
    const users = ['ex-c1', 'ex-c2', 'ex-a1'];
    for (const functionId of ['AggregateResultsFunction', 'StoreResultsFunction']) {
      pipeline.runtime.injectFault({ functionId, phase: 'after', times: 1, errorType: 'Sandbox.Timedout' });
    }

    await upload('retried', rowsFor(users, 9));

    await expectExact(users);
  });

  it('when the stream delivers a batch again, and one record twice in the same batch', async () => {
    const users = ['ex-d1', 'ex-d2', 'ex-b1'];
    await upload('redelivered', rowsFor(users, 11));
    await pipeline.waitIdle(60_000);
    const lanes = await pipeline.streamRecords((r) => Boolean(r.dynamodb?.Keys?.PK?.S?.startsWith('LANE#')));
    const records = lanes.map((r) => toLambdaStreamRecord(r, pipeline.streamArn()));
    const [first] = records;
    if (first === undefined) throw new Error('no lane records in the stream');

    const again = await pipeline.runtime.invoke('StreamAggregatorFunction', {
      Records: [first, first, ...records, first],
    });

    expect(again).toEqual({ batchItemFailures: [] });
    await expectExact(users);
  });

  it('when the same file version is started again: the execution name is the version, so it runs once', async () => {
    const users = ['ex-e1', 'ex-e2'];
    await upload('twice', rowsFor(users, 6));
    const [first] = pipeline.stepFunctions.list().filter((e) => e.input.includes('ex/twice.csv'));
    if (first === undefined) throw new Error('no execution for ex/twice.csv');
    const sfn = new SFNClient(clientConfig(pipeline.endpoint, 'fn.StartWorkflowFunction'));

    const again = sfn.send(
      new StartExecutionCommand({
        stateMachineArn: pipeline.stepFunctions.stateMachineArn,
        name: first.name,
        input: first.input,
      }),
    );

    await expect(again).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await expectExact(users);
  });

  it('for a file spanning many days: old days move to their month’s DAILY# item, the newest stay on TOTALS', async () => {
    const users = ['ex-f1'];
    await upload('month', rowsFor(users, 30, 10));
    await pipeline.waitIdle(60_000);

    const totals = (await item(pipeline, 'USER#ex-f1', 'TOTALS')) ?? {};
    const buckets = Object.keys(totals).filter((name) => /^n\d{8}$/.test(name));
    expect(buckets.sort()).toEqual(['n20261109', 'n20261110']);
    const month = (await item(pipeline, 'USER#ex-f1', 'DAILY#2026-11')) ?? {};
    expect(Object.keys(month).filter((name) => /^n\d{8}$/.test(name))).toHaveLength(8);
    expect(month).toMatchObject({ n20261101: 3 });
    await expectExact(users);
  });

  it('when files with the same users run at the same time, round after round', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `ex-g${i}`);
    for (let round = 0; round < 3; round += 1) {
      const files = [users.slice(0, 8), users.slice(4, 12), users.filter((_, i) => i % 2 === 0)];
      await Promise.all(files.map((part, i) => upload(`concurrent-${round}-${i}`, rowsFor(part, 5 + i))));

      await expectExact(users);
    }
  });
});
