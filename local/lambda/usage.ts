import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

// What one invocation spent waiting on AWS, measured inside its environment without touching the function:
// Node's HTTP client diagnostics channels see every SDK request (the SDK uses node:http), and a worker
// thread's channels and event loop are its own. The meter replaces the emulator's waiting with AWS's
// (local/meter/latency.ts); the handler's own work is kept as measured.

export interface InvocationUsage {
  /** Time the environment's event loop ran JavaScript (the handler's own work, on this machine's CPUs). */
  activeMs: number;
  /** AWS requests made, by the SigV4 service they were signed for. */
  calls: Record<string, number>;
  /** The requests' durations added up (start to the end of the response body). */
  callMs: number;
  /** Time at least one request was outstanding. */
  waitMs: number;
  /**
   * The environment's V8 heap in use as the invocation ended (its isolate's own, not the process's): what
   * the run report shows as a function's memory. Lambda's "Max Memory Used" is the sandbox's RSS, larger.
   */
  heapUsedBytes: number;
}

/** Counts requests and the time at least one was outstanding; a clock is injected so it can be tested. */
export class RequestTracker {
  private outstanding = 0;
  private since = 0;
  private waited = 0;
  private summed = 0;
  private readonly calls: Record<string, number> = {};
  private readonly started = new WeakMap<object, number>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  start(request: object, service: string): void {
    const at = this.now();
    this.started.set(request, at);
    this.calls[service] = (this.calls[service] ?? 0) + 1;
    if (this.outstanding === 0) this.since = at;
    this.outstanding += 1;
  }

  /** Idempotent: a request that both errors and closes ends once. */
  end(request: object): void {
    const startedAt = this.started.get(request);
    if (startedAt === undefined) return;
    this.started.delete(request);
    const at = this.now();
    this.summed += at - startedAt;
    this.outstanding -= 1;
    if (this.outstanding === 0) this.waited += at - this.since;
  }

  /** Totals so far; waiting still in progress counts up to now. */
  totals(): { calls: Record<string, number>; callMs: number; waitMs: number } {
    const open = this.outstanding > 0 ? this.now() - this.since : 0;
    return { calls: { ...this.calls }, callMs: this.summed, waitMs: this.waited + open };
  }
}

/** The service a request was signed for: the fourth part of SigV4's credential scope. */
export const serviceOf = (authorization: unknown): string =>
  /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(authorization ?? ''))?.[1] ?? 'other';

/** Starts tracking this thread's HTTP requests; returns a function that measures one invocation. */
export const trackUsage = (): (() => () => InvocationUsage) => {
  const tracker = new RequestTracker();
  subscribe('http.client.request.start', (message) => {
    const { request } = message as { request: ClientRequest };
    tracker.start(request, serviceOf(request.getHeader('authorization')));
  });
  subscribe('http.client.request.error', (message) => {
    tracker.end((message as { request: ClientRequest }).request);
  });
  subscribe('http.client.response.finish', (message) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    // 'finish' fires with the headers; the call lasts until its body is read or dropped.
    response.once('close', () => tracker.end(request));
  });
  return () => {
    const before = tracker.totals();
    const loopBefore = performance.eventLoopUtilization();
    return () => {
      const after = tracker.totals();
      const calls: Record<string, number> = {};
      for (const [service, count] of Object.entries(after.calls)) {
        const made = count - (before.calls[service] ?? 0);
        if (made > 0) calls[service] = made;
      }
      return {
        activeMs: performance.eventLoopUtilization(loopBefore).active,
        calls,
        callMs: after.callMs - before.callMs,
        waitMs: after.waitMs - before.waitMs,
        heapUsedBytes: getHeapStatistics().used_heap_size,
      };
    };
  };
};
