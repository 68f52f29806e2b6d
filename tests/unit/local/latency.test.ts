import { describe, expect, it } from 'vitest';
import { RequestTracker, serviceOf } from '../../../local/lambda/usage.ts';
import { priceSnapshot } from '../../../local/meter/cost.ts';
import { modelledDurationMs } from '../../../local/meter/latency.ts';
import { Meter } from '../../../local/meter/meter.ts';

// Offline Lambda duration is mostly waiting on the emulator; the meter prices it with AWS's latencies
// instead, keeping the handler's own work. Each rule on a hand-worked example.

const LATENCY = { dynamodb: 10, s3: 40, other: 20 };

describe('the modelled duration of an invocation', () => {
  it('replaces waiting on the emulator by the calls’ AWS latencies, overlapped as they were', () => {
    // 10 s offline, 1 s of it running JavaScript, 9 s waiting on 400 calls with 8 in flight on average.
    const usage = { activeMs: 1000, calls: { dynamodb: 400 }, callMs: 72_000, waitMs: 9000 };

    // 400 × 10 ms / 8 in flight = 500 ms of waiting in AWS, plus the 1 s of work.
    expect(modelledDurationMs(10_000, usage, LATENCY)).toBe(1500);
  });

  it('keeps idle time that was not spent on calls (a backoff sleep) as measured', () => {
    // 5 s: 0.5 s working, 1 s waiting on 10 calls one at a time, 3.5 s sleeping.
    const usage = { activeMs: 500, calls: { s3: 10 }, callMs: 1000, waitMs: 1000 };

    // 5,000 − 1,000 waited + 10 × 40 ms = 4,400.
    expect(modelledDurationMs(5000, usage, LATENCY)).toBe(4400);
  });

  it('never makes an invocation longer than it was: an emulator faster than AWS is kept as measured', () => {
    const usage = { activeMs: 10, calls: { dynamodb: 100 }, callMs: 90, waitMs: 90 };

    expect(modelledDurationMs(100, usage, LATENCY)).toBe(100);
  });

  it('counts waiting that overlapped the handler’s own work only once', () => {
    // 2 s, 1.5 s of it active; 1.8 s with a call outstanding: at most 0.5 s of it can have been idle.
    const usage = { activeMs: 1500, calls: { other: 1 }, callMs: 1800, waitMs: 1800 };

    expect(modelledDurationMs(2000, usage, LATENCY)).toBe(1520);
  });

  it('is the measured duration when the function made no calls', () => {
    expect(modelledDurationMs(300, { activeMs: 300, calls: {}, callMs: 0, waitMs: 0 }, LATENCY)).toBe(300);
  });
});

describe('the request tracker', () => {
  it('adds up request durations and the time at least one was outstanding', () => {
    let now = 0;
    const tracker = new RequestTracker(() => now);
    const [a, b, c] = [{}, {}, {}];
    tracker.start(a, 'dynamodb'); // 0
    now = 10;
    tracker.start(b, 'dynamodb'); // 10
    now = 30;
    tracker.end(a); // a: 30
    now = 50;
    tracker.end(b); // b: 40; outstanding 0–50
    now = 100;
    tracker.start(c, 's3');
    now = 120;

    // c is still outstanding: 20 ms of it counts as waiting so far; its own duration once it ends.
    expect(tracker.totals()).toEqual({ calls: { dynamodb: 2, s3: 1 }, callMs: 70, waitMs: 70 });
    tracker.end(c);
    tracker.end(c);
    expect(tracker.totals()).toEqual({ calls: { dynamodb: 2, s3: 1 }, callMs: 90, waitMs: 70 });
  });

  it('reads the service from the SigV4 credential scope', () => {
    expect(
      serviceOf('AWS4-HMAC-SHA256 Credential=fn.X/20261201/us-east-1/dynamodb/aws4_request, Signature=x'),
    ).toBe('dynamodb');
    expect(serviceOf(undefined)).toBe('other');
  });
});

describe('the cost of Lambda duration', () => {
  it('prices the modelled duration and reports the measured one beside it as the upper bound', () => {
    const meter = new Meter();
    meter.setTaskFunctions(['ProcessRecordsFunction']);
    // 1,024 MB, 10 s measured; modelled with the default 15 ms for DynamoDB: 400 × 15 ms / 8 in flight
    // = 750 ms + 1 s of work = 1.75 s.
    meter.invocation({
      functionId: 'ProcessRecordsFunction',
      memoryMb: 1024,
      billedMs: 10_000,
      initMs: 0,
      ok: true,
      usage: {
        activeMs: 1000,
        calls: { dynamodb: 400 },
        callMs: 72_000,
        waitMs: 9000,
        heapUsedBytes: 64 * 1024 * 1024,
      },
    });
    const snapshot = meter.snapshot({
      executions: 0,
      stateTransitions: 0,
      storedBytesByPrefix: {},
      dynamoStorage: { items: 0, bytes: 0 },
    });
    const report = priceSnapshot(snapshot, 1_000_000);

    const fn = snapshot.lambda[0];
    expect([fn?.measuredMs, fn?.billedMs, fn?.awsCalls, fn?.awsWaitMs]).toEqual([10_000, 1750, 400, 9000]);
    // 1.75 GB-s and 10 GB-s at $0.0000133334.
    expect(report.lambdaDuration.modelledUsd).toBeCloseTo(1.75 * 0.0000133334, 12);
    expect(report.lambdaDuration.measuredUsd).toBeCloseTo(10 * 0.0000133334, 12);
    expect(report.lambdaDuration.perMillionEventsMeasuredUsd).toBeCloseTo(
      report.totalUsd + (10 - 1.75) * 0.0000133334,
      12,
    );
  });
});
