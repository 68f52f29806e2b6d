import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import { toLambdaStreamRecord } from '../../local/event-sources.ts';
import { Ledger, type Row, rowsFor } from '../../local/ledger.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import { csv, HEADER, item, startPipeline, subscribeQueue, uploadAndWait } from './support.ts';

// Aggregates stay exact whatever is retried or delivered again: per user, the TOTALS item, the daily
// aggregates the API serves and the alerts must equal what the table's EVENT# items say, which must
// equal an independent sum of the rows this test uploaded. Each case breaks something on purpose.

let pipeline: OfflinePipeline;
let ledger: Ledger;
const THRESHOLD = 10;

const upload = async (name: string, rows: Row[]) => {
  const { execution } = await uploadAndWait(pipeline, `uploads/ex/${name}.csv`, csv(HEADER, rows));
  expect(execution.status).toBe('SUCCEEDED');
  ledger.record(rows);
};

const expectExact = (users: string[]) => ledger.expectExact(users);

beforeAll(async () => {
  pipeline = await startPipeline({
    stackName: 'exact',
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true', ChunkRows: '40' },
  });
  ledger = new Ledger(pipeline, await subscribeQueue(pipeline, 'AlertsTopic', 'it-exact-alerts'), THRESHOLD);
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
