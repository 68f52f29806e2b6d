import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { REGION } from './aws.ts';
import type { DeliveryChaosControl } from './chaos.ts';
import { compileFilters } from './event-pattern.ts';
import { LambdaError, type LambdaRuntime } from './lambda/runtime.ts';

// The event sources the template declares, driven the way Lambda's pollers drive them: batches, partial
// batch responses, retries, bisection and on-failure destinations. Lambda's retry delays (a visibility
// timeout of minutes, async retries after 1 and 2 minutes) are shortened to seconds offline; the counts
// and the order of events are Lambda's.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface EventSource {
  readonly name: string;
  start(): void;
  stop(): Promise<void>;
  /** Nothing in flight and nothing waiting upstream. */
  idle(): Promise<boolean>;
}

export interface SourceContext {
  /** What a poller needs of the runtime: an invocation. */
  runtime: Pick<LambdaRuntime, 'invoke'>;
  /** The poller's client: a mapping's calls are made with its function's role. */
  sqs: SQSClient;
  /**
   * The offline runtime's own client, for what Lambda does not do: asking whether a queue has drained, and
   * shortening a failed message's wait for its retry. Not metered, not checked against the function's role.
   */
  inspect: SQSClient;
  log: (line: string) => void;
  /** Seconds a failed SQS message stays invisible before its retry (Lambda: the queue's visibility timeout). */
  retryDelaySeconds: number;
  /** Deliveries repeated or interleaved on purpose, for fault tests (nothing is, unless a plan is set). */
  deliveries: DeliveryChaosControl;
}

const describeError = (error: unknown) =>
  error instanceof LambdaError
    ? error.payload
    : { errorType: (error as Error).name, errorMessage: String(error) };

abstract class Poller implements EventSource {
  abstract readonly name: string;
  protected running = false;
  protected inFlight = 0;
  private loop?: Promise<void>;

  start(): void {
    this.running = true;
    this.loop = this.run().catch((error: unknown) => {
      if (this.running) console.error(`${this.name}: poller stopped: ${(error as Error).stack}`);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  protected abstract run(): Promise<void>;
  abstract idle(): Promise<boolean>;
}

const queueIsEmpty = async (sqs: SQSClient, queueUrl: string): Promise<boolean> => {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) ===
    0
  );
};

export interface AsyncInvokeSettings {
  queueUrl: string;
  functionId: string;
  functionArn: string;
  maxRetries: number;
  onFailureQueueUrl?: string;
}

/** EventBridge rule → function: asynchronous invocation with Lambda's retries and on-failure destination. */
export class AsyncInvokeSource extends Poller {
  readonly name: string;
  private readonly context: SourceContext;
  private readonly settings: AsyncInvokeSettings;

  constructor(context: SourceContext, settings: AsyncInvokeSettings) {
    super();
    this.context = context;
    this.settings = settings;
    this.name = `EventBridge → ${settings.functionId}`;
  }

  protected async run(): Promise<void> {
    const { sqs } = this.context;
    while (this.running) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.settings.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      this.inFlight += Messages.length;
      await Promise.all(
        Messages.map(async (message) => {
          try {
            const event = JSON.parse(message.Body ?? 'null') as unknown;
            await this.invokeWithRetries(event);
            // EventBridge and Lambda's async queue both deliver at least once: sometimes twice.
            if (this.context.deliveries.repeat(this.name)) await this.invokeWithRetries(event);
            await sqs.send(
              new DeleteMessageBatchCommand({
                QueueUrl: this.settings.queueUrl,
                Entries: [{ Id: '0', ReceiptHandle: message.ReceiptHandle }],
              }),
            );
          } finally {
            this.inFlight -= 1;
          }
        }),
      );
    }
  }

  private async invokeWithRetries(event: unknown): Promise<void> {
    const attempts = 1 + this.settings.maxRetries;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        await this.context.runtime.invoke(this.settings.functionId, event);
        return;
      } catch (error) {
        const detail = describeError(error);
        this.context.log(`${this.name}: attempt ${attempt}/${attempts} failed: ${detail.errorType}`);
        if (attempt === attempts) {
          if (this.settings.onFailureQueueUrl) {
            await this.context.sqs.send(
              new SendMessageCommand({
                QueueUrl: this.settings.onFailureQueueUrl,
                MessageBody: JSON.stringify({
                  version: '1.0',
                  timestamp: new Date().toISOString(),
                  requestContext: {
                    functionArn: this.settings.functionArn,
                    condition: 'RetriesExhausted',
                    approximateInvokeCount: attempts,
                  },
                  requestPayload: event,
                  responseContext: {
                    statusCode: 200,
                    executedVersion: '$LATEST',
                    functionError: 'Unhandled',
                  },
                  responsePayload: detail,
                }),
              }),
            );
          }
          return;
        }
        await sleep(1000 * attempt);
      }
    }
  }

  async idle(): Promise<boolean> {
    return this.inFlight === 0 && (await queueIsEmpty(this.context.inspect, this.settings.queueUrl));
  }
}

const toLambdaSqsRecord = (message: Message, queueArn: string) => ({
  messageId: message.MessageId,
  receiptHandle: message.ReceiptHandle,
  body: message.Body,
  attributes: message.Attributes ?? {},
  messageAttributes: Object.fromEntries(
    Object.entries(message.MessageAttributes ?? {}).map(([key, value]) => [
      key,
      {
        stringValue: value.StringValue,
        binaryValue:
          value.BinaryValue === undefined ? undefined : Buffer.from(value.BinaryValue).toString('base64'),
        stringListValues: [],
        binaryListValues: [],
        dataType: value.DataType,
      },
    ]),
  ),
  md5OfBody: message.MD5OfBody,
  eventSource: 'aws:sqs',
  eventSourceARN: queueArn,
  awsRegion: REGION,
});

interface BatchResponse {
  batchItemFailures?: { itemIdentifier?: string }[];
}

const failedIdentifiers = (result: unknown): string[] =>
  ((result as BatchResponse | null)?.batchItemFailures ?? []).map((failure) =>
    String(failure.itemIdentifier),
  );

export interface SqsSourceSettings {
  queueUrl: string;
  queueArn: string;
  functionId: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
}

/** SQS → function event source mapping with ReportBatchItemFailures. */
export class SqsSource extends Poller {
  readonly name: string;
  private readonly context: SourceContext;
  private readonly settings: SqsSourceSettings;

  constructor(context: SourceContext, settings: SqsSourceSettings) {
    super();
    this.context = context;
    this.settings = settings;
    this.name = `SQS → ${settings.functionId}`;
  }

  protected async run(): Promise<void> {
    const { sqs } = this.context;
    const { queueUrl } = this.settings;
    while (this.running) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(this.settings.batchSize, 10),
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) continue;
      this.inFlight += 1;
      try {
        let failed: Set<string>;
        try {
          const result = await this.context.runtime.invoke(this.settings.functionId, {
            Records: Messages.map((message) => toLambdaSqsRecord(message, this.settings.queueArn)),
          });
          failed = new Set(this.settings.reportBatchItemFailures ? failedIdentifiers(result) : []);
        } catch (error) {
          // The function failed as a whole: nothing is deleted, every message comes back.
          this.context.log(
            `${this.name}: batch of ${Messages.length} failed: ${describeError(error).errorType}`,
          );
          failed = new Set(Messages.map((message) => String(message.MessageId)));
        }
        // SQS delivers at least once: a message whose delete is lost (drawn per message) comes back.
        const redeliver = new Set(
          Messages.filter(
            (message) => !failed.has(String(message.MessageId)) && this.context.deliveries.repeat(this.name),
          ).map((message) => String(message.MessageId)),
        );
        const done = Messages.filter(
          (message) => !failed.has(String(message.MessageId)) && !redeliver.has(String(message.MessageId)),
        );
        const retry = Messages.filter(
          (message) => failed.has(String(message.MessageId)) || redeliver.has(String(message.MessageId)),
        );
        if (done.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: done.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
            }),
          );
        }
        if (retry.length > 0) {
          // Lambda leaves a failed message for the queue's visibility timeout; offline it comes back sooner.
          await this.context.inspect.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: retry.map((message, i) => ({
                Id: String(i),
                ReceiptHandle: message.ReceiptHandle,
                VisibilityTimeout: this.context.retryDelaySeconds,
              })),
            }),
          );
        }
      } finally {
        this.inFlight -= 1;
      }
    }
  }

  async idle(): Promise<boolean> {
    return this.inFlight === 0 && (await queueIsEmpty(this.context.inspect, this.settings.queueUrl));
  }
}

/** Every record a stream holds now, all shards oldest first (tests and tools; pollers read as Lambda does). */
export const readStreamRecords = async (
  streams: DynamoDBStreamsClient,
  streamArn: string,
): Promise<StreamRecord[]> => {
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const records: StreamRecord[] = [];
  for (const shard of StreamDescription?.Shards ?? []) {
    let { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (ShardIterator !== undefined) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
      if ((page.Records ?? []).length === 0) break;
      records.push(...(page.Records ?? []));
      ShardIterator = page.NextShardIterator;
    }
  }
  return records;
};

// Lambda delivers stream records as JSON: binary attribute values base64, creation time in epoch seconds.
const toJsonAttribute = (value: unknown): unknown => {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonAttribute);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, toJsonAttribute(inner)]));
  }
  return value;
};

export const toLambdaStreamRecord = (record: StreamRecord, streamArn: string) => {
  const { dynamodb } = record;
  const created = dynamodb?.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: REGION,
    dynamodb: {
      ...(toJsonAttribute(dynamodb ?? {}) as Record<string, unknown>),
      SequenceNumber: dynamodb?.SequenceNumber,
      ApproximateCreationDateTime:
        created === undefined ? undefined : Math.floor(new Date(created).getTime() / 1000),
    },
    eventSourceARN: streamArn,
  };
};
type LambdaStreamRecord = ReturnType<typeof toLambdaStreamRecord>;

export interface StreamSourceSettings {
  streamArn: string;
  functionId: string;
  functionArn: string;
  batchSize: number;
  /** Concurrent batches per shard (Lambda's ParallelizationFactor, 1–10). */
  parallelization: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  filters?: { Pattern: string }[];
  bisectOnError: boolean;
  maxRetries: number;
  reportBatchItemFailures: boolean;
  onFailureQueueUrl?: string;
}

/**
 * DynamoDB Streams → function event source mapping: filters, batches, partial failures, bisect, retries, and
 * `ParallelizationFactor` concurrent batches per shard. As Lambda does, records are spread over the
 * concurrent batches by partition key, so each key's records are delivered in order (DynamoDB orders the
 * records of one item) while different keys go side by side; a failing batch holds only its own slot.
 */
export class StreamSource extends Poller {
  readonly name: string;
  private readonly context: SourceContext;
  private readonly streams: DynamoDBStreamsClient;
  private readonly settings: StreamSourceSettings;
  private readonly keep: (record: unknown) => boolean;
  /** Records read and kept but not yet handed to a batch, one queue per concurrent batch slot. */
  private readonly slots: LambdaStreamRecord[][];
  /** The table's partition key attribute, from the stream's key schema. */
  private hashKey = 'PK';
  private caughtUp = false;
  delivered = 0;
  filteredOut = 0;

  constructor(context: SourceContext, streams: DynamoDBStreamsClient, settings: StreamSourceSettings) {
    super();
    this.context = context;
    this.streams = streams;
    this.settings = settings;
    this.keep = compileFilters(settings.filters);
    this.slots = Array.from({ length: Math.max(1, settings.parallelization) }, () => []);
    this.name = `DynamoDB stream → ${settings.functionId}`;
  }

  protected async run(): Promise<void> {
    const { StreamDescription } = await this.streams.send(
      new DescribeStreamCommand({ StreamArn: this.settings.streamArn }),
    );
    this.hashKey =
      StreamDescription?.KeySchema?.find((key) => key.KeyType === 'HASH')?.AttributeName ?? this.hashKey;
    const workers = this.slots.map((slot) => this.work(slot));
    try {
      // Shards are read one after another in order, so a partition's records keep their order.
      for (const shard of StreamDescription?.Shards ?? []) {
        await this.readShard(String(shard.ShardId));
      }
    } catch (error) {
      this.running = false;
      throw error;
    } finally {
      await Promise.all(workers);
    }
  }

  private buffered(): number {
    return this.slots.reduce((total, slot) => total + slot.length, 0);
  }

  private async readShard(shardId: string): Promise<void> {
    let { ShardIterator: iterator } = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.settings.streamArn,
        ShardId: shardId,
        ShardIteratorType: this.settings.startingPosition,
      }),
    );
    // Read ahead of the batches by a few of them, not the whole stream: memory stays bounded.
    const readAhead = Math.max(1000, 4 * this.settings.batchSize * this.slots.length);
    while (this.running && iterator !== undefined) {
      if (this.buffered() >= readAhead) {
        await sleep(20);
        continue;
      }
      const page = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      iterator = page.NextShardIterator;
      const records = (page.Records ?? []).map((record) =>
        toLambdaStreamRecord(record, this.settings.streamArn),
      );
      const kept = records.filter((record) => this.keep(record));
      this.filteredOut += records.length - kept.length;
      for (const record of kept) this.slotOf(record).push(record);
      if (records.length === 0) {
        this.caughtUp = true;
        await sleep(200);
      } else {
        this.caughtUp = false;
      }
    }
  }

  /** Lambda keeps a partition key's records on one of the shard's concurrent batches. */
  private slotOf(record: LambdaStreamRecord): LambdaStreamRecord[] {
    const slots = this.slots;
    if (slots.length === 1) return slots[0] as LambdaStreamRecord[];
    const key = JSON.stringify((record.dynamodb as { Keys?: Record<string, unknown> }).Keys?.[this.hashKey]);
    let hash = 0;
    for (let i = 0; i < key.length; i += 1) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) | 0;
    return slots[Math.abs(hash) % slots.length] as LambdaStreamRecord[];
  }

  /** One concurrent batch slot: its records in order, one batch at a time. */
  private async work(slot: LambdaStreamRecord[]): Promise<void> {
    while (this.running) {
      if (slot.length === 0) {
        await sleep(20);
        continue;
      }
      const batch = this.context.deliveries.disturbBatch(
        this.name,
        slot.splice(0, this.settings.batchSize),
        (record) => JSON.stringify((record.dynamodb as { Keys?: unknown }).Keys),
      );
      this.inFlight += 1;
      try {
        await this.deliver(batch);
        // A checkpoint lost after a successful batch: Lambda reads and delivers the same batch again.
        if (this.context.deliveries.repeat(this.name)) await this.deliver(batch);
        this.delivered += batch.length;
      } finally {
        this.inFlight -= 1;
      }
    }
  }

  private async deliver(records: LambdaStreamRecord[]): Promise<void> {
    let pending = records;
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      try {
        const result = await this.context.runtime.invoke(this.settings.functionId, { Records: pending });
        const failures = this.settings.reportBatchItemFailures ? failedIdentifiers(result) : [];
        if (failures.length === 0) return;
        // Lambda checkpoints before the lowest failed sequence number and retries from there.
        const indexes = failures.map((id) =>
          pending.findIndex((record) => record.dynamodb.SequenceNumber === id),
        );
        const from = indexes.some((index) => index < 0) ? 0 : Math.min(...indexes);
        pending = pending.slice(from);
        this.context.log(`${this.name}: ${pending.length} record(s) reported failed; retrying`);
      } catch (error) {
        this.context.log(
          `${this.name}: batch of ${pending.length} failed: ${describeError(error).errorType}`,
        );
        if (this.settings.bisectOnError && pending.length > 1) {
          const half = Math.ceil(pending.length / 2);
          await this.deliver(pending.slice(0, half));
          await this.deliver(pending.slice(half));
          return;
        }
      }
      if (attempt >= this.settings.maxRetries) {
        await this.discard(pending);
        return;
      }
      await sleep(Math.min(200 * 2 ** attempt, 2000));
    }
  }

  private async discard(records: LambdaStreamRecord[]): Promise<void> {
    this.context.log(`${this.name}: giving up on ${records.length} record(s) after retries`);
    if (this.settings.onFailureQueueUrl === undefined) return;
    const first = records[0]?.dynamodb.SequenceNumber;
    const last = records[records.length - 1]?.dynamodb.SequenceNumber;
    await this.context.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.settings.onFailureQueueUrl,
        MessageBody: JSON.stringify({
          requestContext: {
            functionArn: this.settings.functionArn,
            condition: 'RetryAttemptsExhausted',
            approximateInvokeCount: this.settings.maxRetries + 1,
          },
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          version: '1.0',
          timestamp: new Date().toISOString(),
          DDBStreamBatchInfo: {
            startSequenceNumber: first,
            endSequenceNumber: last,
            batchSize: records.length,
            streamArn: this.settings.streamArn,
          },
        }),
      }),
    );
  }

  async idle(): Promise<boolean> {
    return this.caughtUp && this.inFlight === 0 && this.buffered() === 0;
  }
}
