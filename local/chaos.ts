// Deterministic faults for the offline runtime: every random choice a fault plan makes (which call is
// throttled, which environment is killed, which delivery is repeated) is drawn from one seeded stream per
// place it is drawn, so a failure the suite finds is replayed by rerunning with the seed it printed.

/**
 * A uniform [0, 1) stream from a 32-bit seed (mulberry32). Written here rather than taken from a package:
 * it is eight lines, nothing more than a reproducible uniform stream is needed, and `Math.random` cannot
 * be seeded.
 */
import type { ProxyFault } from './meter/proxy.ts';

export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

/** A stream of its own for each place that draws, so adding a draw in one place does not move the others. */
export const streamOf = (seed: number, place: string): (() => number) => {
  let hash = seed >>> 0;
  for (const char of place) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return seededRandom(hash);
};

/** How an event source's deliveries are disturbed: repeated (at-least-once) and, for streams, interleaved. */
export interface DeliveryChaos {
  seed: number;
  /** Share of deliveries (async invocations, SQS batches, stream batches) delivered a second time. */
  duplicateRate: number;
  /** Share of stream records that appear twice within their batch. */
  duplicateRecordRate?: number;
  /**
   * Interleave a stream batch's records of different items at random, keeping each item's own records in
   * order: what a consumer of several shards sees. AWS orders records per item only.
   */
  reorder?: boolean;
}

/** What the disturbances did in a run, for the suite's line of figures. */
export interface DeliveryFigures {
  duplicateDeliveries: number;
  duplicateRecords: number;
  reorderedBatches: number;
}

export const noDeliveryFigures = (): DeliveryFigures => ({
  duplicateDeliveries: 0,
  duplicateRecords: 0,
  reorderedBatches: 0,
});

/**
 * A stable shuffle that keeps the relative order of records sharing a key: at each step, the next record
 * of a randomly chosen key is taken.
 */
export const interleave = <T>(records: T[], keyOf: (record: T) => string, random: () => number): T[] => {
  const queues = new Map<string, T[]>();
  for (const record of records) {
    const key = keyOf(record);
    const queue = queues.get(key) ?? [];
    queue.push(record);
    queues.set(key, queue);
  }
  const lanes = [...queues.values()];
  const out: T[] = [];
  while (lanes.length > 0) {
    const index = Math.floor(random() * lanes.length);
    const lane = lanes[index] as T[];
    out.push(lane.shift() as T);
    if (lane.length === 0) lanes.splice(index, 1);
  }
  return out;
};

/**
 * The event sources' disturbances, switchable during a run (tests turn them on and off). Each source
 * draws from its own stream, named by the source, so one source's traffic does not move another's draws.
 */
export class DeliveryChaosControl {
  private plan?: DeliveryChaos;
  private readonly randoms = new Map<string, () => number>();
  readonly figures: DeliveryFigures = noDeliveryFigures();

  set(plan: DeliveryChaos | undefined): void {
    this.plan = plan;
    this.randoms.clear();
  }

  private draw(place: string, plan: DeliveryChaos): number {
    let random = this.randoms.get(place);
    if (random === undefined) {
      random = streamOf(plan.seed, place);
      this.randoms.set(place, random);
    }
    return random();
  }

  /** Whether a delivery that just happened is to happen again (at-least-once delivery). */
  repeat(source: string): boolean {
    const plan = this.plan;
    if (plan === undefined || plan.duplicateRate <= 0) return false;
    const again = this.draw(source, plan) < plan.duplicateRate;
    if (again) this.figures.duplicateDeliveries += 1;
    return again;
  }

  /** A stream batch as a disturbed delivery hands it over: some records twice, items interleaved. */
  disturbBatch<T>(source: string, records: T[], keyOf: (record: T) => string): T[] {
    const plan = this.plan;
    if (plan === undefined) return records;
    let out = records;
    const share = plan.duplicateRecordRate ?? 0;
    if (share > 0) {
      // The copy follows its original at once: a record repeated, never an older image after a newer one.
      out = out.flatMap((record) => {
        if (this.draw(`${source}/records`, plan) >= share) return [record];
        this.figures.duplicateRecords += 1;
        return [record, record];
      });
    }
    if (plan.reorder === true && out.length > 1) {
      out = interleave(out, keyOf, () => this.draw(`${source}/order`, plan));
      this.figures.reorderedBatches += 1;
    }
    return out;
  }
}

/** A fault on every matching call with probability `rate`, for as long as it is set. */
export const everywhere = (
  fault: ProxyFault extends infer F ? (F extends unknown ? Omit<F, 'times'> : never) : never,
) => ({ ...fault, times: 1e9 }) as ProxyFault;

/**
 * The storm of AWS errors the fault suite and the soak (bench/fault-soak.ts) run under: throttled and
 * partially processed DynamoDB writes, S3 slow-downs and 500s, SNS 500s, each at a share of the calls.
 */
export const AWS_ERROR_STORM: readonly ProxyFault[] = [
  everywhere({ service: 'dynamodb', operation: 'BatchWriteItem', rate: 0.3, unprocessedShare: 0.4 }),
  ...['BatchWriteItem', 'UpdateItem', 'PutItem', 'Query', 'GetItem'].map((operation) =>
    everywhere({
      service: 'dynamodb',
      operation,
      rate: 0.1,
      status: 400,
      code: 'ProvisionedThroughputExceededException',
    }),
  ),
  ...['GetObject', 'HeadObject', 'CopyObject'].map((operation) =>
    everywhere({ service: 's3', operation, rate: 0.1, status: 503, code: 'SlowDown' }),
  ),
  everywhere({ service: 's3', operation: 'PutObject', rate: 0.1, status: 500, code: 'InternalError' }),
  everywhere({ service: 'sns', operation: 'Publish', rate: 0.2, status: 500, code: 'InternalError' }),
];

/**
 * Where an environment is killed mid-call: the function's matching calls number about `calls`, and the
 * kill lands at one of them (drawn from the seed), before the call reaches AWS or after AWS applied it.
 */
export const KILL_PLACES = [
  {
    place: 'ProcessRecords mid-BatchWrite',
    service: 'dynamodb',
    operation: 'BatchWriteItem',
    functionId: 'ProcessRecordsFunction',
    kill: 'after',
    calls: 8,
  },
  {
    place: 'ProcessRecords after its DynamoDB writes, before an S3 write',
    service: 's3',
    operation: 'PutObject',
    functionId: 'ProcessRecordsFunction',
    kill: 'before',
    calls: 6,
  },
  {
    place: 'AggregateResults while it stages pages',
    service: 's3',
    operation: 'PutObject',
    functionId: 'AggregateResultsFunction',
    kill: 'after',
    calls: 3,
  },
  {
    place: 'StoreResults mid-way through the lanes',
    service: 'dynamodb',
    operation: 'UpdateItem',
    functionId: 'StoreResultsFunction',
    kill: 'after',
    calls: 3,
  },
  {
    place: 'StoreResults while it archives the original',
    service: 's3',
    operation: 'CopyObject',
    functionId: 'StoreResultsFunction',
    kill: 'before',
    calls: 1,
  },
  {
    place: 'the stream aggregator mid-batch',
    service: 'dynamodb',
    operation: 'UpdateItem',
    functionId: 'StreamAggregatorFunction',
    kill: 'after',
    calls: 6,
  },
] as const;
