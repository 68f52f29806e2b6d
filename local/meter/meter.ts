import type { InvocationRecord } from '../lambda/runtime.ts';
import type { WriteCharge } from './dynamo-billing.ts';
import { modelledDurationMs } from './latency.ts';

// What one offline run did, counted as AWS would count it for the bill. The proxy (AWS requests), the
// Lambda runtime (invocations, duration, logs) and Step Functions (state transitions) report here; the
// cost model (cost.ts) prices a snapshot. Principals are who made a call: `fn.<Function>` for function
// code, `esm.<Function>` for Lambda's poller of that function's event source, `states` for the state
// machine, `user` for uploads, `offline` for the offline runtime's own plumbing (never billed).

export interface RequestRecord {
  principal: string;
  service: string;
  operation: string;
  status: number;
  requestBytes: number;
  responseBytes: number;
  requestBody?: Buffer;
  /** An SQS ReceiveMessage that found nothing. */
  empty?: boolean;
}

export interface RequestCount {
  principal: string;
  service: string;
  operation: string;
  count: number;
  errors: number;
  /** Requests as SQS and SNS bill them: one per started 64 KB of payload. */
  chunks64k: number;
  requestBytes: number;
  /** Events in EventBridge PutEvents requests. */
  entries: number;
  /** SQS receives that returned no message. */
  empty: number;
}

export interface DynamoWriteCount {
  /** Whether the deployed stack would pay for these (not the offline runtime's own read-backs). */
  billable: boolean;
  itemType: string;
  verb: string;
  principals: string[];
  writes: number;
  tableUnits: number;
  indexUnits: Record<string, number>;
}

export interface DynamoReadCount {
  billable: boolean;
  operation: string;
  table: string;
  index?: string;
  principals: string[];
  requests: number;
  items: number;
  units: number;
}

export interface FunctionCount {
  functionId: string;
  memoryMb: number;
  invocations: number;
  errors: number;
  coldStarts: number;
  /** Handler time as measured offline, rounded up per invocation: an upper bound (see latency.ts). */
  measuredMs: number;
  /** Handler time with the emulator's waiting replaced by AWS's, rounded up per invocation: what is priced. */
  billedMs: number;
  /** AWS requests the function made, and the time at least one was outstanding. */
  awsCalls: number;
  awsWaitMs: number;
  initMs: number;
  logBytes: number;
  logEvents: number;
}

export interface MeterSnapshot {
  requests: RequestCount[];
  dynamodb: {
    writes: DynamoWriteCount[];
    reads: DynamoReadCount[];
    storedItems: number;
    storedBytes: number;
  };
  lambda: FunctionCount[];
  stepFunctions: { executions: number; stateTransitions: number };
  metrics: { datapoints: number; distinct: number };
  xray: { entryInvocations: number; sampledTraces: number };
  api: { requests: number };
  s3: { storedBytesByPrefix: Record<string, number> };
}

const DEFAULT_SAMPLING = { reservoirPerSecond: 1, rate: 0.05 };

/** The offline runtime's own calls (provisioning, read-backs for summaries) are never billed. */
export const isBillable = (principal: string): boolean =>
  principal !== 'offline' && principal !== 'anonymous';

export class Meter {
  private readonly requestCounts = new Map<string, RequestCount>();
  private readonly writes = new Map<string, DynamoWriteCount>();
  private readonly reads = new Map<string, DynamoReadCount>();
  private readonly functions = new Map<string, FunctionCount>();
  private readonly metricNames = new Set<string>();
  private metricDatapoints = 0;
  private entryInvocations = 0;
  private readonly entrySeconds = new Set<number>();
  private apiRequests = 0;
  private readonly partialLines = new Map<string, string>();
  /** Functions that run as Step Functions tasks: their traces are the execution's, not new ones. */
  private taskFunctions = new Set<string>();

  setTaskFunctions(functionIds: Iterable<string>): void {
    this.taskFunctions = new Set(functionIds);
  }

  request(record: RequestRecord): void {
    const key = `${record.principal}|${record.service}|${record.operation}`;
    let count = this.requestCounts.get(key);
    if (count === undefined) {
      count = {
        principal: record.principal,
        service: record.service,
        operation: record.operation,
        count: 0,
        errors: 0,
        chunks64k: 0,
        requestBytes: 0,
        entries: 0,
        empty: 0,
      };
      this.requestCounts.set(key, count);
    }
    count.count += 1;
    if (record.status >= 400) count.errors += 1;
    if (record.empty) count.empty += 1;
    count.chunks64k += Math.max(1, Math.ceil(Math.max(record.requestBytes, record.responseBytes) / 65_536));
    count.requestBytes += record.requestBytes;
    if (record.service === 'events' && record.operation === 'PutEvents' && record.requestBody) {
      const { Entries = [] } = JSON.parse(record.requestBody.toString() || '{}') as { Entries?: unknown[] };
      count.entries += Entries.length;
    }
  }

  dynamoWrite(write: {
    principal: string;
    table: string;
    itemType: string;
    verb: string;
    charge: WriteCharge;
  }): void {
    const billable = isBillable(write.principal);
    const key = `${billable}|${write.itemType}|${write.verb}`;
    let count = this.writes.get(key);
    if (count === undefined) {
      count = {
        billable,
        itemType: write.itemType,
        verb: write.verb,
        principals: [],
        writes: 0,
        tableUnits: 0,
        indexUnits: {},
      };
      this.writes.set(key, count);
    }
    if (!count.principals.includes(write.principal)) count.principals.push(write.principal);
    count.writes += 1;
    count.tableUnits += write.charge.table;
    for (const [index, units] of Object.entries(write.charge.indexes)) {
      count.indexUnits[index] = (count.indexUnits[index] ?? 0) + units;
    }
  }

  dynamoRead(read: {
    principal: string;
    operation: string;
    table: string;
    index?: string;
    units: number;
    items: number;
  }): void {
    const billable = isBillable(read.principal);
    const key = `${billable}|${read.operation}|${read.table}|${read.index ?? ''}`;
    let count = this.reads.get(key);
    if (count === undefined) {
      count = {
        billable,
        operation: read.operation,
        table: read.table,
        ...(read.index ? { index: read.index } : {}),
        principals: [],
        requests: 0,
        items: 0,
        units: 0,
      };
      this.reads.set(key, count);
    }
    if (!count.principals.includes(read.principal)) count.principals.push(read.principal);
    count.requests += 1;
    count.items += read.items;
    count.units += read.units;
  }

  private functionCount(functionId: string, memoryMb = 0): FunctionCount {
    let count = this.functions.get(functionId);
    if (count === undefined) {
      count = {
        functionId,
        memoryMb,
        invocations: 0,
        errors: 0,
        coldStarts: 0,
        measuredMs: 0,
        billedMs: 0,
        awsCalls: 0,
        awsWaitMs: 0,
        initMs: 0,
        logBytes: 0,
        logEvents: 0,
      };
      this.functions.set(functionId, count);
    }
    if (memoryMb > 0) count.memoryMb = memoryMb;
    return count;
  }

  invocation(record: InvocationRecord): void {
    const count = this.functionCount(record.functionId, record.memoryMb);
    count.invocations += 1;
    if (!record.ok) count.errors += 1;
    count.measuredMs += record.billedMs;
    if (record.usage === undefined) {
      count.billedMs += record.billedMs;
    } else {
      count.billedMs += Math.ceil(modelledDurationMs(record.billedMs, record.usage));
      count.awsCalls += Object.values(record.usage.calls).reduce((total, calls) => total + calls, 0);
      count.awsWaitMs += record.usage.waitMs;
    }
    if (record.initMs > 0) {
      count.coldStarts += 1;
      count.initMs += record.initMs;
    }
    if (!this.taskFunctions.has(record.functionId)) {
      this.entryInvocations += 1;
      this.entrySeconds.add(Math.floor(Date.now() / 1000));
    }
  }

  /** What a function wrote to stdout/stderr: CloudWatch Logs bytes and events, and its EMF metrics. */
  log(functionId: string, chunk: Buffer | string): void {
    const count = this.functionCount(functionId);
    const text = (this.partialLines.get(functionId) ?? '') + chunk.toString();
    const lines = text.split('\n');
    this.partialLines.set(functionId, lines.pop() ?? '');
    for (const line of lines) {
      count.logEvents += 1;
      count.logBytes += Buffer.byteLength(line);
      if (line.includes('"_aws"')) this.emf(line);
    }
  }

  private emf(line: string): void {
    let document: {
      _aws?: {
        CloudWatchMetrics?: { Namespace?: string; Dimensions?: string[][]; Metrics?: { Name?: string }[] }[];
      };
    } & Record<string, unknown>;
    try {
      document = JSON.parse(line) as typeof document;
    } catch {
      return;
    }
    for (const directive of document._aws?.CloudWatchMetrics ?? []) {
      const dimensionSets = directive.Dimensions?.length ? directive.Dimensions : [[]];
      for (const metric of directive.Metrics ?? []) {
        for (const dimensions of dimensionSets) {
          this.metricDatapoints += 1;
          const values = dimensions.map((name) => `${name}=${String(document[name])}`).join(',');
          this.metricNames.add(`${directive.Namespace}/${metric.Name}{${values}}`);
        }
      }
    }
  }

  apiRequest(): void {
    this.apiRequests += 1;
  }

  snapshot(extra: {
    stateTransitions: number;
    executions: number;
    storedBytesByPrefix: Record<string, number>;
    dynamoStorage: { items: number; bytes: number };
  }): MeterSnapshot {
    const entries = this.entryInvocations;
    const reservoir = Math.min(entries, this.entrySeconds.size * DEFAULT_SAMPLING.reservoirPerSecond);
    return {
      requests: [...this.requestCounts.values()].map((count) => ({ ...count })),
      dynamodb: {
        writes: [...this.writes.values()].map((count) => ({ ...count, indexUnits: { ...count.indexUnits } })),
        reads: [...this.reads.values()].map((count) => ({ ...count })),
        storedItems: extra.dynamoStorage.items,
        storedBytes: extra.dynamoStorage.bytes,
      },
      lambda: [...this.functions.values()].map((count) => ({ ...count })),
      stepFunctions: { executions: extra.executions, stateTransitions: extra.stateTransitions },
      metrics: { datapoints: this.metricDatapoints, distinct: this.metricNames.size },
      xray: {
        entryInvocations: entries,
        // X-Ray's default rule: the first request each second, then 5% of the rest.
        sampledTraces: reservoir + Math.ceil((entries - reservoir) * DEFAULT_SAMPLING.rate),
      },
      api: { requests: this.apiRequests },
      s3: { storedBytesByPrefix: { ...extra.storedBytesByPrefix } },
    };
  }
}
