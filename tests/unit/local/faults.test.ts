import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryChaosControl, interleave, seededRandom } from '../../../local/chaos.ts';
import { Meter } from '../../../local/meter/meter.ts';
import { MeteringProxy } from '../../../local/meter/proxy.ts';

// The fault plan's randomness and the proxy's faults, against a fake upstream that records what reaches it.

describe('the seeded stream', () => {
  it('repeats itself for a seed and differs between seeds', () => {
    const draws = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    expect(draws(7).every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('is roughly uniform', () => {
    const random = seededRandom(42);
    const below = Array.from({ length: 10_000 }, random).filter((x) => x < 0.1).length;
    expect(below).toBeGreaterThan(900);
    expect(below).toBeLessThan(1100);
  });
});

describe('interleave', () => {
  it("mixes items but keeps each item's own records in order", () => {
    const records = ['a1', 'a2', 'a3', 'b1', 'b2', 'c1', 'c2', 'c3', 'c4'];
    const mixed = interleave(records, (r) => r[0] ?? '', seededRandom(3));
    expect([...mixed].sort()).toEqual([...records].sort());
    expect(mixed).not.toEqual(records);
    for (const key of ['a', 'b', 'c']) {
      const own = mixed.filter((r) => r.startsWith(key));
      expect(own).toEqual(records.filter((r) => r.startsWith(key)));
    }
  });
});

describe('disturbed deliveries', () => {
  it('repeat nothing without a plan, and about the planned share with one, the same for a seed', () => {
    const control = new DeliveryChaosControl();
    expect(Array.from({ length: 100 }, () => control.repeat('s')).filter(Boolean)).toHaveLength(0);
    const run = () => {
      control.set({ seed: 5, duplicateRate: 0.3 });
      return Array.from({ length: 1000 }, () => control.repeat('s'));
    };
    const first = run();
    expect(run()).toEqual(first);
    const share = first.filter(Boolean).length / 1000;
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
    expect(control.figures.duplicateDeliveries).toBe(2 * first.filter(Boolean).length);
  });

  it('put a repeated record right after its original', () => {
    const control = new DeliveryChaosControl();
    control.set({ seed: 1, duplicateRate: 0, duplicateRecordRate: 0.5 });
    const batch = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const out = control.disturbBatch('s', batch, (r) => r);
    expect(out.length).toBeGreaterThan(batch.length);
    expect([...new Set(out)]).toEqual(batch);
    expect(control.figures.duplicateRecords).toBe(out.length - batch.length);
  });
});

/** A fake emulator: records each request body and answers BatchWriteItem and DescribeTable like DynamoDB. */
const received: { target: string; body: Record<string, unknown> }[] = [];
let upstream: Server;
let proxy: MeteringProxy;
let proxyUrl: string;
const killed: string[] = [];

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      received.push({ target, body });
      const answer = target.endsWith('DescribeTable')
        ? {
            Table: {
              KeySchema: [
                { AttributeName: 'PK', KeyType: 'HASH' },
                { AttributeName: 'SK', KeyType: 'RANGE' },
              ],
            },
          }
        : target.endsWith('BatchWriteItem')
          ? { UnprocessedItems: {} }
          : {};
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amz-crc32': '1' });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const address = upstream.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  proxy = new MeteringProxy({ upstream: `http://127.0.0.1:${port}`, meter: new Meter() });
  proxy.onKill((accessKeyId) => killed.push(accessKeyId));
  proxyUrl = await proxy.listen();
});

afterEach(() => {
  proxy.clearFaults();
  received.splice(0);
  killed.splice(0);
});

afterAll(async () => {
  await proxy.stop();
  await new Promise((resolve) => upstream.close(resolve));
});

const call = (operation: string, body: unknown, accessKeyId = 'fn.Writer~1', signal?: AbortSignal) =>
  fetch(proxyUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${operation}`,
      authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x`,
    },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });

const batch = (n: number) => ({
  RequestItems: {
    t: Array.from({ length: n }, (_, i) => ({
      PutRequest: { Item: { PK: { S: 'U' }, SK: { S: `E${i}` } } },
    })),
  },
});

const written = () =>
  received
    .filter((r) => r.target.endsWith('BatchWriteItem'))
    .flatMap((r) => (r.body.RequestItems as { t?: unknown[] }).t ?? []);

describe('faults with a rate', () => {
  it('answer about that share of the matching calls with the error, the same calls for the same seed', async () => {
    const outcomes = async () => {
      proxy.clearFaults();
      proxy.seedFaults(11);
      proxy.injectFault({
        service: 'dynamodb',
        operation: 'PutItem',
        times: Number.POSITIVE_INFINITY,
        rate: 0.2,
        status: 400,
        code: 'ProvisionedThroughputExceededException',
      });
      const statuses: number[] = [];
      for (let i = 0; i < 200; i += 1)
        statuses.push(
          (await call('PutItem', { TableName: 't', Item: { PK: { S: 'U' }, SK: { S: 'E' } } })).status,
        );
      return statuses;
    };
    const first = await outcomes();
    const throttled = first.filter((status) => status === 400).length;

    expect(throttled).toBeGreaterThan(20);
    expect(throttled).toBeLessThan(60);
    expect(await outcomes()).toEqual(first);
  });

  it('pass every call through when the rate is 0', async () => {
    proxy.injectFault({
      service: 'dynamodb',
      operation: 'PutItem',
      times: 5,
      rate: 0,
      status: 400,
      code: 'X',
    });
    for (let i = 0; i < 20; i += 1)
      expect(
        (await call('PutItem', { TableName: 't', Item: { PK: { S: 'U' }, SK: { S: 'E' } } })).status,
      ).toBe(200);
  });
});

describe('an UnprocessedItems fault', () => {
  it('writes only what it keeps and hands the rest back as UnprocessedItems', async () => {
    proxy.seedFaults(2);
    proxy.injectFault({ service: 'dynamodb', operation: 'BatchWriteItem', times: 1, unprocessedShare: 0.5 });

    const response = await call('BatchWriteItem', batch(25));
    const output = (await response.json()) as { UnprocessedItems: { t: unknown[] } };

    expect(response.status).toBe(200);
    expect(response.headers.get('x-amz-crc32')).toBeNull();
    expect(output.UnprocessedItems.t.length).toBeGreaterThan(0);
    expect(written().length + output.UnprocessedItems.t.length).toBe(25);
    const keys = (items: unknown[]) => items.map((item) => JSON.stringify(item));
    expect(new Set([...keys(written()), ...keys(output.UnprocessedItems.t)]).size).toBe(25);
  });

  it('throttles the whole call when it keeps nothing, as DynamoDB does', async () => {
    proxy.injectFault({ service: 'dynamodb', operation: 'BatchWriteItem', times: 1, unprocessedShare: 1 });

    const response = await call('BatchWriteItem', batch(3));

    expect(response.status).toBe(400);
    expect(((await response.json()) as { __type: string }).__type).toBe(
      'ProvisionedThroughputExceededException',
    );
    expect(written()).toHaveLength(0);
  });
});

describe('a kill fault', () => {
  it("'before' kills the caller's environment and the call never reaches AWS", async () => {
    proxy.injectFault({ service: 'dynamodb', operation: 'PutItem', times: 1, kill: 'before' });

    const answer = call('PutItem', { TableName: 't' }, 'fn.Writer~7', AbortSignal.timeout(1000));

    await expect(answer).rejects.toThrow();
    expect(killed).toEqual(['fn.Writer~7']);
    expect(received.filter((r) => r.target.endsWith('PutItem'))).toHaveLength(0);
  });

  it("'after' lets AWS apply the call, then kills the caller before it hears back", async () => {
    proxy.injectFault({ service: 'dynamodb', operation: 'BatchWriteItem', times: 1, kill: 'after' });

    const answer = call('BatchWriteItem', batch(4), 'fn.Writer~8', AbortSignal.timeout(1000));

    await expect(answer).rejects.toThrow();
    expect(killed).toEqual(['fn.Writer~8']);
    expect(written()).toHaveLength(4);
  });
});
