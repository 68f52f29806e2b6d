import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import type { LambdaRuntime } from '../../../local/lambda/runtime.ts';
import {
  DATA_LIMIT_BYTES,
  InvalidExecutionInputError,
  LocalStepFunctions,
} from '../../../local/stepfunctions.ts';

const PRODUCE = 'arn:aws:lambda:us-east-1:123456789012:function:produce';
const RECORD = 'arn:aws:lambda:us-east-1:123456789012:function:record';

/** Produce → (Catch States.ALL) → Record: what the pipeline's tasks and RecordFailure look like. */
const machineWith = (result: (input: unknown) => unknown) => {
  const dir = mkdtempSync(join(tmpdir(), 'sfn-'));
  const definitionPath = join(dir, 'definition.asl.json');
  writeFileSync(
    definitionPath,
    JSON.stringify({
      StartAt: 'Produce',
      States: {
        Produce: {
          Type: 'Task',
          Resource: '${Produce}',
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Record' }],
          End: true,
        },
        Record: { Type: 'Task', Resource: '${Record}', End: true },
      },
    }),
  );
  const invoked: string[] = [];
  const runtime = {
    invoke: async (functionId: string, input: unknown) => {
      invoked.push(functionId);
      return functionId === 'Produce' ? result(input) : { recorded: true };
    },
  } as unknown as LambdaRuntime;
  const machine = new LocalStepFunctions({
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:test',
    definitionPath,
    substitutions: { Produce: PRODUCE, Record: RECORD },
    runtime,
    functionsByArn: new Map([
      [PRODUCE, 'Produce'],
      [RECORD, 'Record'],
    ]),
    sns: new SNSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' }),
  });
  return { machine, invoked };
};

describe('LocalStepFunctions payload quota', () => {
  it('fails the execution with States.DataLimitExceeded, past any Catch, when a task returns over 256 KiB', async () => {
    const { machine, invoked } = machineWith(() => ({ text: 'x'.repeat(DATA_LIMIT_BYTES) }));

    const record = machine.start('big', '{}');
    await record.done;

    expect(record).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(record.cause).toMatch(
      /^The state\/task 'Produce' returned a result with a size \(\d+ bytes\) exceeding/,
    );
    expect(invoked).toEqual(['Produce']);
    await machine.stop();
  });

  it('passes a result just under the quota', async () => {
    const { machine } = machineWith(() => ({ text: 'x'.repeat(DATA_LIMIT_BYTES - 100) }));

    const record = machine.start('under', '{}');
    await record.done;

    expect(record.status).toBe('SUCCEEDED');
    await machine.stop();
  });

  it('refuses an execution input over the quota', () => {
    const { machine } = machineWith(() => ({}));

    expect(() => machine.start('input', JSON.stringify({ text: 'x'.repeat(DATA_LIMIT_BYTES) }))).toThrow(
      InvalidExecutionInputError,
    );
  });
});

describe('LocalStepFunctions timeline', () => {
  it('records a bar per top-level state and per Map iteration, with the retries of each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfn-'));
    const definitionPath = join(dir, 'definition.asl.json');
    writeFileSync(
      definitionPath,
      JSON.stringify({
        StartAt: 'Plan',
        States: {
          Plan: { Type: 'Pass', Result: { items: [0, 1, 2] }, Next: 'Chunks' },
          Chunks: {
            Type: 'Map',
            ItemsPath: '$.items',
            MaxConcurrency: 2,
            ItemProcessor: {
              ProcessorConfig: { Mode: 'INLINE' },
              StartAt: 'Work',
              States: {
                Work: {
                  Type: 'Task',
                  Resource: PRODUCE,
                  Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 2 }],
                  End: true,
                },
              },
            },
            End: true,
          },
        },
      }),
    );
    const attempts = new Map<unknown, number>();
    const runtime = {
      invoke: async (_functionId: string, input: unknown) => {
        const attempt = (attempts.get(input) ?? 0) + 1;
        attempts.set(input, attempt);
        // The second chunk fails once, then succeeds.
        if (input === 1 && attempt === 1) throw Object.assign(new Error('flaky'), { name: 'Flaky' });
        return { done: input };
      },
    } as unknown as LambdaRuntime;
    const machine = new LocalStepFunctions({
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:timeline',
      definitionPath,
      substitutions: {},
      runtime,
      functionsByArn: new Map([[PRODUCE, 'Produce']]),
      sns: new SNSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' }),
    });

    const record = machine.start('timeline', '{}');
    await record.done;

    expect(record.status).toBe('SUCCEEDED');
    const bars = record.timeline.map(({ state, index, outcome, retries }) => ({
      state,
      index,
      outcome,
      retries,
    }));
    expect(bars).toEqual(
      expect.arrayContaining([
        { state: 'Plan', index: undefined, outcome: 'succeeded', retries: 0 },
        { state: 'Chunks', index: undefined, outcome: 'succeeded', retries: 0 },
        { state: 'Chunks', index: 0, outcome: 'succeeded', retries: 0 },
        { state: 'Chunks', index: 1, outcome: 'succeeded', retries: 1 },
        { state: 'Chunks', index: 2, outcome: 'succeeded', retries: 0 },
      ]),
    );
    expect(bars).toHaveLength(5);
    for (const bar of record.timeline) expect(bar.end).toBeGreaterThanOrEqual(bar.start);
    await machine.stop();
  });
});
