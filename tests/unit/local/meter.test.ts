import { describe, expect, it } from 'vitest';
import { formatCost, PRICES, type Prices, priceSnapshot } from '../../../local/meter/cost.ts';
import { itemTypeOf } from '../../../local/meter/dynamo.ts';
import { Meter, type MeterSnapshot } from '../../../local/meter/meter.ts';
import { identityOf, s3OperationOf } from '../../../local/meter/proxy.ts';

// The meter's counting and the cost model's pricing, each on a hand-worked example.

const NO_EXTRA = {
  executions: 0,
  stateTransitions: 0,
  storedBytesByPrefix: {},
  dynamoStorage: { items: 0, bytes: 0 },
};

const request = (principal: string, service: string, operation: string, bytes = 100) => ({
  principal,
  service,
  operation,
  status: 200,
  requestBytes: bytes,
  responseBytes: 100,
});

const NO_CHARGE = { table: 0, indexes: {}, total: 0 };

describe('the cost model', () => {
  it('bills one write unit of an event at $0.625 per million', () => {
    const meter = new Meter();
    for (let i = 0; i < 1000; i += 1) {
      meter.dynamoWrite({
        principal: 'fn.ProcessRecordsFunction',
        table: 't',
        itemType: 'EVENT#',
        verb: 'puts',
        charge: { table: 1, indexes: { GSI1: 0 }, total: 1 },
      });
    }
    const report = priceSnapshot(meter.snapshot(NO_EXTRA), 1000);

    // 1,000 WRU × $0.625 / 1,000,000 = $0.000625, i.e. $0.625 per million events, 1 WRU per event.
    expect(report.totalUsd).toBeCloseTo(0.000625, 12);
    expect(report.perMillionEventsUsd).toBeCloseTo(0.625, 9);
    expect(report.writeUnitsPerEvent).toBe(1);
    expect(report.lineItems.map((item) => item.label)).toEqual(['DynamoDB EVENT# puts']);
  });

  it('bills an index write as its own line item', () => {
    const meter = new Meter();
    meter.dynamoWrite({
      principal: 'fn.StoreResultsFunction',
      table: 't',
      itemType: 'DAILY#',
      verb: 'updates',
      charge: { table: 3, indexes: { GSI1: 3 }, total: 6 },
    });
    const report = priceSnapshot(meter.snapshot(NO_EXTRA), 1);

    expect(report.writeUnits).toBe(6);
    expect(report.lineItems.map((item) => [item.label, item.quantity])).toEqual([
      ['DynamoDB DAILY# updates', 3],
      ['DynamoDB DAILY# updates → GSI1', 3],
    ]);
  });

  it('prices Lambda by billed duration, INIT included, times the configured memory on arm64', () => {
    const meter = new Meter();
    meter.setTaskFunctions(['ProcessRecordsFunction']); // a task: its trace is the execution's, not billed apart
    // 1,024 MB for 900 ms + 100 ms INIT = 1 GB-s = $0.0000133334; plus one request at $0.20 per million.
    meter.invocation({
      functionId: 'ProcessRecordsFunction',
      memoryMb: 1024,
      billedMs: 900,
      initMs: 100,
      ok: true,
    });
    const report = priceSnapshot(meter.snapshot(NO_EXTRA), 0);

    const duration = report.lineItems.find((item) => item.label === 'Lambda ProcessRecordsFunction duration');
    expect(duration?.quantity).toBeCloseTo(1, 12);
    expect(duration?.usd).toBeCloseTo(0.0000133334, 12);
    expect(report.totalUsd).toBeCloseTo(0.0000133334 + 0.0000002, 12);
    expect(report.perMillionEventsUsd).toBeNull();
  });

  it('bills Step Functions per state transition and S3 by request class, DELETE free', () => {
    const meter = new Meter();
    meter.request(request('fn.ValidateDataFunction', 's3', 'PutObject'));
    meter.request(request('fn.ValidateDataFunction', 's3', 'GetObject'));
    meter.request(request('fn.ValidateDataFunction', 's3', 'HeadObject'));
    meter.request(request('fn.StoreResultsFunction', 's3', 'DeleteObject'));
    const report = priceSnapshot(meter.snapshot({ ...NO_EXTRA, executions: 1, stateTransitions: 40 }), 0);

    const usdOf = (label: string) => report.lineItems.find((item) => item.label === label)?.usd;
    expect(usdOf('Step Functions state transitions')).toBeCloseTo((40 * 0.025) / 1000, 12);
    expect(usdOf('S3 PUT, COPY, POST, LIST requests')).toBeCloseTo(0.005 / 1000, 12);
    expect(usdOf('S3 GET and other requests')).toBeCloseTo((2 * 0.0004) / 1000, 12);
    expect(report.lineItems).toHaveLength(3);
  });

  it('counts SQS and SNS requests per started 64 KB, and leaves out receives that found nothing', () => {
    const meter = new Meter();
    meter.request(request('fn.InferenceFunction', 'sqs', 'SendMessage', 65_537)); // 2 chunks
    meter.request(request('esm.InferenceFunction', 'sqs', 'ReceiveMessage')); // 1
    meter.request({ ...request('esm.InferenceFunction', 'sqs', 'ReceiveMessage'), empty: true }); // 0
    meter.request(request('states', 'sns', 'Publish', 70_000)); // 2 chunks
    const report = priceSnapshot(meter.snapshot(NO_EXTRA), 0);

    const quantityOf = (label: string) => report.lineItems.find((item) => item.label === label)?.quantity;
    expect(quantityOf('SQS requests')).toBe(3);
    expect(quantityOf('SNS publishes')).toBe(2);
  });

  it('never bills the offline runtime’s own calls', () => {
    const meter = new Meter();
    meter.request(request('offline', 's3', 'PutObject'));
    meter.request(request('offline', 'sqs', 'ReceiveMessage'));
    meter.dynamoWrite({
      principal: 'offline',
      table: 't',
      itemType: 'EVENT#',
      verb: 'puts',
      charge: { ...NO_CHARGE, table: 1, total: 1 },
    });

    expect(priceSnapshot(meter.snapshot(NO_EXTRA), 1).totalUsd).toBe(0);
  });

  it('ranks line items and services by cost and prints the top three', () => {
    const meter = new Meter();
    meter.dynamoWrite({
      principal: 'fn.A',
      table: 't',
      itemType: 'EVENT#',
      verb: 'puts',
      charge: { table: 8, indexes: {}, total: 8 },
    });
    meter.dynamoWrite({
      principal: 'fn.A',
      table: 't',
      itemType: 'DAILY#',
      verb: 'updates',
      charge: { table: 2, indexes: {}, total: 2 },
    });
    const report = priceSnapshot(meter.snapshot({ ...NO_EXTRA, stateTransitions: 1 }), 8);

    // 8 and 2 WRU = $0.000005 and $0.00000125; one transition = $0.000025: Step Functions leads.
    expect(report.services.map((service) => service.service)).toEqual(['Step Functions', 'DynamoDB']);
    expect(report.lineItems[0]?.share).toBeCloseTo(0.025 / (0.025 + 0.005 + 0.00125), 9);
    expect(formatCost(report)).toContain(
      'top: Step Functions state transitions 80%, DynamoDB EVENT# puts 16%, DynamoDB DAILY# updates 4%',
    );
  });

  it('uses the prices it is given, so a new price list changes every figure', () => {
    const meter = new Meter();
    meter.dynamoWrite({
      principal: 'fn.A',
      table: 't',
      itemType: 'EVENT#',
      verb: 'puts',
      charge: { table: 1, indexes: {}, total: 1 },
    });
    const snapshot: MeterSnapshot = meter.snapshot(NO_EXTRA);
    const dearer: Prices = structuredClone(PRICES);
    dearer.prices['dynamodb.writeRequestUnit'].usd = 1.25;

    expect(priceSnapshot(snapshot, 1).totalUsd).toBeCloseTo(0.000000625, 15);
    expect(priceSnapshot(snapshot, 1, dearer).totalUsd).toBeCloseTo(0.00000125, 15);
  });
});

describe('the meter', () => {
  it('counts log bytes and events per line, and each EMF metric as a datapoint of a distinct metric', () => {
    const meter = new Meter();
    const emf = JSON.stringify({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'Csv',
            Dimensions: [['service']],
            Metrics: [{ Name: 'RowsStored' }, { Name: 'RowsRejected' }],
          },
        ],
      },
      service: 'process',
      RowsStored: 10,
      RowsRejected: 0,
    });
    // A line split across two chunks is still one event.
    meter.log('ProcessRecordsFunction', `hello\n${emf.slice(0, 10)}`);
    meter.log('ProcessRecordsFunction', `${emf.slice(10)}\n${emf}\n`);
    const snapshot = meter.snapshot(NO_EXTRA);

    const fn = snapshot.lambda.find((count) => count.functionId === 'ProcessRecordsFunction');
    expect(fn?.logEvents).toBe(3);
    expect(fn?.logBytes).toBe(5 + 2 * Buffer.byteLength(emf));
    expect(snapshot.metrics).toEqual({ datapoints: 4, distinct: 2 });
  });

  it('samples traces as X-Ray’s default rule does: the first each second, then 5%', () => {
    const meter = new Meter();
    meter.setTaskFunctions(['ValidateDataFunction']);
    for (let i = 0; i < 41; i += 1) {
      meter.invocation({
        functionId: 'StreamAggregatorFunction',
        memoryMb: 512,
        billedMs: 1,
        initMs: 0,
        ok: true,
      });
    }
    meter.invocation({
      functionId: 'ValidateDataFunction',
      memoryMb: 1024,
      billedMs: 1,
      initMs: 0,
      ok: true,
    });
    const { xray } = meter.snapshot(NO_EXTRA);

    // Task invocations join their execution's trace. 41 entries within a second or two: 1–2 reservoir
    // traces, then ceil(5% of the remaining 39–40) = 2.
    expect(xray.entryInvocations).toBe(41);
    expect(xray.sampledTraces).toBeGreaterThanOrEqual(3);
    expect(xray.sampledTraces).toBeLessThanOrEqual(4);
  });
});

describe('the proxy’s reading of a request', () => {
  it('takes the caller from the access key (less its environment) and the service from the SigV4 scope', () => {
    const authorization =
      'AWS4-HMAC-SHA256 Credential=fn.ProcessRecordsFunction~3/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x';

    expect(identityOf({ authorization })).toEqual({
      principal: 'fn.ProcessRecordsFunction',
      service: 'dynamodb',
      accessKeyId: 'fn.ProcessRecordsFunction~3',
    });
    expect(identityOf({})).toEqual({ principal: 'anonymous', service: 'unknown', accessKeyId: '' });
  });

  it.each([
    ['PUT', '/b/k.csv', 'PutObject', {}],
    ['PUT', '/b/k.csv', 'CopyObject', { 'x-amz-copy-source': '/b/a' }],
    ['PUT', '/b/k.csv?partNumber=1&uploadId=u', 'UploadPart', {}],
    ['POST', '/b/k.csv?uploads', 'CreateMultipartUpload', {}],
    ['POST', '/b/k.csv?uploadId=u', 'CompleteMultipartUpload', {}],
    ['DELETE', '/b/k.csv?uploadId=u', 'AbortMultipartUpload', {}],
    ['DELETE', '/b/k.csv', 'DeleteObject', {}],
    ['GET', '/b?list-type=2&prefix=a', 'ListObjectsV2', {}],
    ['GET', '/b/k.csv', 'GetObject', {}],
    ['HEAD', '/b/k.csv', 'HeadObject', {}],
  ])('%s %s is %s as S3 bills it', (method, path, operation, headers) => {
    expect(s3OperationOf(method, new URL(path, 'http://x'), headers)).toBe(operation);
  });

  it.each([
    ['USER#u1', 'EVENT#2026-11-01T00:00:00Z#ab', 'EVENT#'],
    ['USER#u1', 'TOTALS', 'USER#TOTALS'],
    ['FILE#uploads/a.csv', 'METADATA', 'FILE#METADATA'],
    ['USER#u1', 'DAILY#2026-11-01', 'DAILY#'],
  ])('names the item %s / %s by its type %s', (pk, sk, type) => {
    expect(itemTypeOf(pk, sk)).toBe(type);
  });
});
