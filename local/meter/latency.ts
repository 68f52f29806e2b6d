import type { InvocationUsage } from '../lambda/usage.ts';

// Offline, a function mostly waits for the emulator: one moto process answers every function's calls, and
// ten chunks in flight each wait about ten times as long as they would alone. Billing that waiting would
// price moto, not the design. The model keeps what the function did itself (its event loop's active
// time, and idle time that was not spent on AWS calls, such as backoff sleeps) and replaces the time it
// waited on AWS with an assumed AWS round trip per call, overlapped as the function overlapped them.
// The assumptions are typical in-region latencies for small requests, not measurements; they are stated
// here and in the README, and the cost report shows the measured duration beside the modelled one.

/** Assumed in-region round trip per request, in ms, by SigV4 service name. */
export const AWS_LATENCY_MS: Readonly<Record<string, number>> = {
  // DynamoDB: single-digit ms for a GetItem/PutItem; a 25-item BatchWriteItem or a 1 MB Query takes more.
  dynamodb: 15,
  // S3: first byte of a GET or a PUT of a few hundred KB; a streamed body's reading is the handler's work.
  s3: 40,
  sns: 20,
  sqs: 20,
  states: 25,
  events: 25,
  other: 25,
};

/**
 * The modelled handler duration of one invocation. `durationMs` is what it took offline; of the time it
 * was idle, the part covered by outstanding AWS calls (at most `waitMs`) is replaced by the calls'
 * assumed latencies divided by how many were in flight at once on average (`callMs / waitMs`), and never
 * made longer than measured.
 */
export const modelledDurationMs = (
  durationMs: number,
  usage: Omit<InvocationUsage, 'heapUsedBytes'>,
  latencies: Readonly<Record<string, number>> = AWS_LATENCY_MS,
): number => {
  const idleMs = Math.max(0, durationMs - usage.activeMs);
  const waitedIdleMs = Math.min(idleMs, usage.waitMs);
  if (waitedIdleMs <= 0 || usage.callMs <= 0) return durationMs;
  const inFlight = Math.max(1, usage.callMs / usage.waitMs);
  let assumedMs = 0;
  for (const [service, calls] of Object.entries(usage.calls)) {
    assumedMs += calls * (latencies[service] ?? latencies.other ?? 0);
  }
  return durationMs - waitedIdleMs + Math.min(waitedIdleMs, assumedMs / inFlight);
};
