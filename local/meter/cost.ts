import { isBillable, type MeterSnapshot } from './meter.ts';
import pricesFile from './prices.json' with { type: 'json' };

// The cost model: a meter snapshot priced with the dated list prices in prices.json. Pure; every
// assumption is stated once, here and in the README's cost section:
// - us-east-1 list prices, on-demand, no free tier, no Savings Plans, no KMS requests (the stack uses
//   AWS owned or AWS managed keys), no data transfer (everything stays in the region).
// - Only calls a deployed stack would make are billed: the offline runtime's own plumbing (`offline`:
//   provisioning, the queue that stands in for EventBridge's invoke, read-backs for the summary) is not.
// - DynamoDB Streams reads by a Lambda trigger are free; so are S3 → EventBridge events and SNS → SQS
//   deliveries. Lambda's SQS poller requests are billed, as in AWS.
// - Lambda duration is the handler's time offline with its waiting on the emulator replaced by an assumed
//   AWS latency per call (latency.ts), rounded up per invocation, plus INIT time. The emulator answers far
//   slower than DynamoDB or S3 do; the duration as measured is reported beside it as the upper bound.
// - CloudWatch Logs: the bytes the functions wrote plus 26 bytes per event; Lambda's own platform lines
//   are not counted. Custom metrics (EMF) and storage are monthly, reported beside the run's cost.

export type PriceKey = keyof typeof pricesFile.prices;
export interface Price {
  usd: number;
  per: number;
  unit: string;
  source: string;
}
export interface Prices {
  region: string;
  readOn: string;
  prices: Record<PriceKey, Price>;
}
export const PRICES: Prices = pricesFile;

export interface LineItem {
  service: string;
  label: string;
  quantity: number;
  unit: string;
  usd: number;
  share: number;
}

export interface CostReport {
  region: string;
  pricesReadOn: string;
  storedEvents: number;
  totalUsd: number;
  perMillionEventsUsd: number | null;
  /** Lambda duration as priced (modelled, see latency.ts) and as measured offline, and the per-million
   * figure if the measured duration were billed: the upper bound. */
  lambdaDuration: { modelledUsd: number; measuredUsd: number; perMillionEventsMeasuredUsd: number | null };
  writeUnits: number;
  readUnits: number;
  writeUnitsPerEvent: number | null;
  services: { service: string; usd: number; share: number }[];
  lineItems: LineItem[];
  /** What keeping the run's output costs per month: storage and custom metrics. */
  monthly: { label: string; quantity: number; unit: string; usd: number }[];
}

const S3_TIER1 = new Set([
  'PutObject',
  'CopyObject',
  'UploadPart',
  'UploadPartCopy',
  'CreateMultipartUpload',
  'CompleteMultipartUpload',
  'PostObject',
  'ListObjects',
  'ListObjectsV2',
  'ListParts',
]);
const S3_FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload', 'DeleteBucket']);
const LOG_EVENT_OVERHEAD_BYTES = 26;
const GB = 1024 ** 3;

const billed = isBillable;
const functionOf = (principal: string): string => principal.replace(/^(fn|esm)\./, '');

export const priceSnapshot = (
  snapshot: MeterSnapshot,
  storedEvents: number,
  prices: Prices = PRICES,
): CostReport => {
  const items: Omit<LineItem, 'share'>[] = [];
  const add = (service: string, label: string, quantity: number, key: PriceKey) => {
    if (quantity <= 0) return;
    const price = prices.prices[key];
    items.push({ service, label, quantity, unit: price.unit, usd: (quantity * price.usd) / price.per });
  };

  let writeUnits = 0;
  for (const write of snapshot.dynamodb.writes) {
    if (!write.billable) continue;
    add(
      'DynamoDB',
      `DynamoDB ${write.itemType} ${write.verb}`,
      write.tableUnits,
      'dynamodb.writeRequestUnit',
    );
    writeUnits += write.tableUnits;
    for (const [index, units] of Object.entries(write.indexUnits)) {
      add(
        'DynamoDB',
        `DynamoDB ${write.itemType} ${write.verb} → ${index}`,
        units,
        'dynamodb.writeRequestUnit',
      );
      writeUnits += units;
    }
  }
  let readUnits = 0;
  for (const read of snapshot.dynamodb.reads) {
    if (!read.billable) continue;
    add(
      'DynamoDB',
      `DynamoDB ${read.operation}${read.index ? ` ${read.index}` : ''} reads`,
      read.units,
      'dynamodb.readRequestUnit',
    );
    readUnits += read.units;
  }

  const requests = snapshot.requests.filter((request) => billed(request.principal));
  const sum = (
    filter: (request: (typeof requests)[number]) => boolean,
    of: 'count' | 'chunks64k' | 'entries' | 'empty' = 'count',
  ) => requests.filter(filter).reduce((total, request) => total + request[of], 0);
  add(
    'S3',
    'S3 PUT, COPY, POST, LIST requests',
    sum((r) => r.service === 's3' && S3_TIER1.has(r.operation)),
    's3.tier1Request',
  );
  add(
    'S3',
    'S3 GET and other requests',
    sum((r) => r.service === 's3' && !S3_TIER1.has(r.operation) && !S3_FREE.has(r.operation)),
    's3.tier2Request',
  );
  add(
    'SNS',
    'SNS publishes',
    sum((r) => r.service === 'sns' && r.operation.startsWith('Publish'), 'chunks64k'),
    'sns.publish',
  );
  add(
    'SQS',
    'SQS requests',
    // Receives that found nothing are left out: offline pollers poll every second, Lambda's long-poll for
    // 20 s, so an idle queue's cost is a monthly constant (see monthly), not part of a run.
    sum((r) => r.service === 'sqs', 'chunks64k') - sum((r) => r.service === 'sqs', 'empty'),
    'sqs.request',
  );
  add(
    'EventBridge',
    'EventBridge custom events',
    sum((r) => r.service === 'events', 'entries'),
    'eventbridge.customEvent',
  );

  let invocations = 0;
  let logBytes = 0;
  const gbSecondPrice = prices.prices['lambda.arm64GbSecond'];
  const gbSecondsOf = (ms: number, memoryMb: number) => (ms / 1000) * (memoryMb / 1024);
  const usdOf = (gbSeconds: number) => (gbSeconds * gbSecondPrice.usd) / gbSecondPrice.per;
  let modelledUsd = 0;
  let measuredUsd = 0;
  for (const fn of snapshot.lambda) {
    invocations += fn.invocations;
    logBytes += fn.logBytes + fn.logEvents * LOG_EVENT_OVERHEAD_BYTES;
    const gbSeconds = gbSecondsOf(fn.billedMs + fn.initMs, fn.memoryMb);
    modelledUsd += usdOf(gbSeconds);
    measuredUsd += usdOf(gbSecondsOf(fn.measuredMs + fn.initMs, fn.memoryMb));
    add('Lambda', `Lambda ${functionOf(fn.functionId)} duration`, gbSeconds, 'lambda.arm64GbSecond');
  }
  add('Lambda', 'Lambda requests', invocations, 'lambda.request');
  add(
    'Step Functions',
    'Step Functions state transitions',
    snapshot.stepFunctions.stateTransitions,
    'stepfunctions.stateTransition',
  );
  add('CloudWatch', 'CloudWatch Logs ingestion', logBytes / GB, 'logs.ingestedGb');
  add('X-Ray', 'X-Ray traces recorded', snapshot.xray.sampledTraces, 'xray.traceRecorded');
  add('API Gateway', 'API Gateway requests', snapshot.api.requests, 'apigateway.restRequest');

  const totalUsd = items.reduce((total, item) => total + item.usd, 0);
  const share = (usd: number) => (totalUsd > 0 ? usd / totalUsd : 0);
  const lineItems = items.map((item) => ({ ...item, share: share(item.usd) })).sort((a, b) => b.usd - a.usd);
  const byService = new Map<string, number>();
  for (const item of lineItems) byService.set(item.service, (byService.get(item.service) ?? 0) + item.usd);

  const monthly: CostReport['monthly'] = [];
  const month = (label: string, quantity: number, key: PriceKey, unit: string) => {
    const price = prices.prices[key];
    monthly.push({ label, quantity, unit, usd: (quantity * price.usd) / price.per });
  };
  const s3Bytes = Object.values(snapshot.s3.storedBytesByPrefix).reduce((a, b) => a + b, 0);
  month('S3 storage', s3Bytes / GB, 's3.storageGbMonth', 'GB');
  // DynamoDB bills 100 bytes of overhead per item on top of its size.
  month(
    'DynamoDB storage',
    (snapshot.dynamodb.storedBytes + 100 * snapshot.dynamodb.storedItems) / GB,
    'dynamodb.storageGbMonth',
    'GB',
  );
  month('CloudWatch custom metrics', snapshot.metrics.distinct, 'cloudwatch.metricMonth', 'metrics');
  // Lambda polls each SQS event source with at least five long-polling (20 s) pollers, day and night.
  const sqsSources = new Set(
    snapshot.requests
      .filter(
        (r) => r.service === 'sqs' && r.operation === 'ReceiveMessage' && r.principal.startsWith('esm.'),
      )
      .map((r) => r.principal),
  ).size;
  month('SQS idle long polling', sqsSources * 5 * 3 * 60 * 24 * 30, 'sqs.request', 'requests');

  return {
    region: prices.region,
    pricesReadOn: prices.readOn,
    storedEvents,
    totalUsd,
    perMillionEventsUsd: storedEvents > 0 ? (totalUsd / storedEvents) * 1e6 : null,
    lambdaDuration: {
      modelledUsd,
      measuredUsd,
      perMillionEventsMeasuredUsd:
        storedEvents > 0 ? ((totalUsd - modelledUsd + measuredUsd) / storedEvents) * 1e6 : null,
    },
    writeUnits,
    readUnits,
    writeUnitsPerEvent: storedEvents > 0 ? writeUnits / storedEvents : null,
    services: [...byService]
      .map(([service, usd]) => ({ service, usd, share: share(usd) }))
      .sort((a, b) => b.usd - a.usd),
    lineItems,
    monthly,
  };
};

/** Dollars as every cost figure of the offline runtime shows them (terminal block, run report). */
export const usd = (value: number): string =>
  value >= 1 ? `$${value.toFixed(2)}` : value >= 0.01 ? `$${value.toFixed(4)}` : `$${value.toPrecision(3)}`;
const percent = (share: number): string => `${Math.round(share * 100)}%`;
const megabytes = (gb: number): string => {
  const bytes = gb * GB;
  return bytes < 100_000
    ? `${(bytes / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} KB`
    : `${(bytes / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} MB`;
};
const count = (value: number): string => value.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** The cost block every run and benchmark prints. */
export const formatCost = (report: CostReport): string => {
  const lines = [
    `cost, metered (${report.region} list prices read ${report.pricesReadOn}, local/meter/prices.json):`,
    `  ${usd(report.totalUsd)} for ${count(report.storedEvents)} stored events` +
      (report.perMillionEventsUsd === null
        ? ''
        : ` = ${usd(report.perMillionEventsUsd)} per million events`) +
      (report.writeUnitsPerEvent === null
        ? ''
        : `; ${report.writeUnitsPerEvent.toFixed(2)} DynamoDB write units per stored event`),
  ];
  for (const service of report.services) {
    lines.push(
      `  ${service.service.padEnd(15)} ${usd(service.usd).padStart(11)}  ${percent(service.share).padStart(4)}`,
    );
  }
  const { lambdaDuration } = report;
  lines.push(
    `  Lambda duration ${usd(lambdaDuration.modelledUsd)} with AWS latencies (local/meter/latency.ts); ` +
      `${usd(lambdaDuration.measuredUsd)} as measured offline` +
      (lambdaDuration.perMillionEventsMeasuredUsd === null
        ? ''
        : ` (upper bound: ${usd(lambdaDuration.perMillionEventsMeasuredUsd)} per million events)`),
  );
  const top = report.lineItems.slice(0, 3).map((item) => `${item.label} ${percent(item.share)}`);
  if (top.length > 0) lines.push(`  top: ${top.join(', ')}`);
  const quantity = (item: CostReport['monthly'][number]) =>
    item.unit === 'GB' ? megabytes(item.quantity) : `${count(item.quantity)} ${item.unit}`;
  lines.push(
    `  per month to keep: ${report.monthly.map((item) => `${item.label} ${quantity(item)} ${usd(item.usd)}`).join(', ')}`,
  );
  return lines.join('\n');
};
