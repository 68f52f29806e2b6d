import { isDeepStrictEqual } from 'node:util';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { EVENT_SK_PREFIX, TOTALS_SK, userPk } from '../functions/shared/keys.ts';
import type { OfflinePipeline } from './pipeline.ts';

// The expected outcome of generated rows, kept apart from the pipeline: the integration suites
// (tests/integration/faults.test.ts, exactness.test.ts) and the fault soak (bench/fault-soak.ts) record
// what they upload here and compare every user's stored events, TOTALS, daily aggregates and alerts with
// it. Test and bench support only: nothing in the runtime or the functions imports it.

/** One CSV row as the suites write it: user_id, event_type, value, timestamp. */
export type Row = [string, string, number, string];

const HEADER = 'user_id,event_type,value,timestamp';

let fileSerial = 0;
/** A file of `perUser` rows for each user, integer values, spread over `days` days from 2026-11-01. */
export const rowsFor = (users: string[], perUser: number, days = 1): Row[] => {
  fileSerial += 1;
  const serial = fileSerial;
  return users.flatMap((userId, u) =>
    Array.from({ length: perUser }, (_, i): Row => {
      const at = new Date(Date.UTC(2026, 10, 1 + (i % days), serial % 24, u % 60, i % 60));
      return [userId, i % 3 === 0 ? 'purchase' : 'view', ((u + i + serial) % 7) + 1, at.toISOString()];
    }),
  );
};

/**
 * Good rows with a bad one after every `every` of them, as one CSV: the good rows are the ones to record,
 * the `bad` ones the file must reject (each for its value, `not-a-number`).
 */
export const withBadRows = (good: Row[], every: number): { body: string; bad: number } => {
  const lines = [HEADER];
  let bad = 0;
  good.forEach((row, i) => {
    lines.push(row.join(','));
    if (i % every === every - 1) {
      lines.push([row[0], row[1], 'not-a-number', row[3]].join(','));
      bad += 1;
    }
  });
  return { body: `${lines.join('\n')}\n`, bad };
};

/** Every EVENT# item of a user, all pages. */
export const eventItems = async (pipeline: OfflinePipeline, userId: string) => {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await pipeline.clients.ddb.send(
      new QueryCommand({
        TableName: pipeline.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        ExpressionAttributeValues: { ':pk': userPk(userId), ':sk': EVENT_SK_PREFIX },
        ExclusiveStartKey,
      }),
    );
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
};

export const item = async (pipeline: OfflinePipeline, PK: string, SK: string) =>
  (await pipeline.clients.ddb.send(new GetCommand({ TableName: pipeline.table, Key: { PK, SK } }))).Item;

/**
 * A user's daily aggregates as the API serves them (DAILY# month items plus the recent days kept on TOTALS),
 * once the lanes have applied everything in flight: aggregates are applied from the table stream.
 */
export const dailyAggregates = async (pipeline: OfflinePipeline, userId: string, from = '2026-10-01') => {
  await pipeline.waitIdle(120_000);
  const response = await fetch(
    `${pipeline.apiUrl}/users/${encodeURIComponent(userId)}/aggregates?from=${from}&to=2026-12-31`,
  );
  const body = (await response.json()) as {
    daily?: { date: string; event_count: number; total_value: number }[];
  };
  return body.daily ?? [];
};

/** Subscribes a fresh queue to a topic of the template, as an operator's tooling would. */
export const subscribeQueue = async (pipeline: OfflinePipeline, topicLogicalId: string, name: string) => {
  const { sqs, sns } = pipeline.clients;
  const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { VisibilityTimeout: '0' } }));
  await sns.send(
    new SubscribeCommand({
      TopicArn: pipeline.provisioned.ref(topicLogicalId),
      Protocol: 'sqs',
      Endpoint: Attributes?.QueueArn,
      Attributes: { RawMessageDelivery: 'true' },
    }),
  );
  return QueueUrl;
};

/** Receives and deletes every message in a queue, so each is seen exactly once. */
export const take = async (pipeline: OfflinePipeline, queueUrl: string): Promise<Message[]> => {
  const taken: Message[] = [];
  for (;;) {
    const { Messages = [] } = await pipeline.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 30,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) return taken;
    taken.push(...Messages);
    await pipeline.clients.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
      }),
    );
  }
};

/** One way a user's state in the pipeline differs from what was recorded. */
export interface Discrepancy {
  userId: string;
  what: 'stored events' | 'TOTALS' | 'daily aggregates' | 'alerts';
  expected: unknown;
  found: unknown;
}

/** What `expectExact` throws: every discrepancy, one line each (`<user>: <what>: expected …, found …`). */
export class LedgerMismatchError extends Error {
  override readonly name = 'LedgerMismatchError';
  readonly discrepancies: Discrepancy[];

  constructor(discrepancies: Discrepancy[]) {
    super(
      discrepancies
        .map(
          (d) =>
            `${d.userId}: ${d.what}: expected ${JSON.stringify(d.expected)}, found ${JSON.stringify(d.found)}`,
        )
        .join('\n'),
    );
    this.discrepancies = discrepancies;
  }
}

/**
 * Everything a suite uploaded and saw stored, kept apart from the pipeline: the independent side of every
 * comparison. Per user, the table's EVENT# items, the TOTALS item, the daily aggregates the API serves and
 * the alerts (one per crossing of each multiple of the threshold) must all agree with it.
 */
export class Ledger {
  private readonly users = new Map<
    string,
    { count: number; total: number; days: Map<string, [number, number]> }
  >();
  private readonly alertsSeen = new Map<string, number[]>();
  private repeats = 0;

  private readonly pipeline: OfflinePipeline;
  private readonly alertsQueue: string;
  private readonly threshold: number;

  constructor(pipeline: OfflinePipeline, alertsQueue: string, threshold: number) {
    this.pipeline = pipeline;
    this.alertsQueue = alertsQueue;
    this.threshold = threshold;
  }

  /** Rows the pipeline is expected to store (rejected rows are not recorded). */
  record(rows: Row[]): void {
    for (const [userId, , value, timestamp] of rows) {
      const user = this.users.get(userId) ?? { count: 0, total: 0, days: new Map() };
      const day = timestamp.slice(0, 10);
      const [count, total] = user.days.get(day) ?? [0, 0];
      user.days.set(day, [count + 1, total + value]);
      user.count += 1;
      user.total += value;
      this.users.set(userId, user);
    }
  }

  /** Users recorded so far. */
  recordedUsers(): string[] {
    return [...this.users.keys()];
  }

  /**
   * Alert messages that repeated a crossing already seen. Not a discrepancy: the aggregator publishes at
   * least once (functions/stream-aggregator/alerts.ts), so a crossing may arrive twice; it must never be
   * missing, nor arrive for a multiple not crossed.
   */
  repeatedAlerts(): number {
    return this.repeats;
  }

  /** Every way the named users differ from what was recorded, once the event sources are idle. */
  async discrepancies(users: string[]): Promise<Discrepancy[]> {
    const { pipeline } = this;
    await pipeline.waitIdle(300_000);
    for (const message of await take(pipeline, this.alertsQueue)) {
      if (message.MessageAttributes?.type?.StringValue !== 'ThresholdCrossed') continue;
      const alert = JSON.parse(String(message.Body)) as { userId: string; threshold: number };
      const list = this.alertsSeen.get(alert.userId) ?? [];
      if (list.includes(alert.threshold)) this.repeats += 1;
      else list.push(alert.threshold);
      this.alertsSeen.set(alert.userId, list);
    }
    const found: Discrepancy[] = [];
    for (const userId of users) {
      const expected = this.users.get(userId);
      if (expected === undefined) throw new Error(`${userId} was never uploaded`);
      const differ = (what: Discrepancy['what'], want: unknown, got: unknown) => {
        if (!isDeepStrictEqual(got, want)) found.push({ userId, what, expected: want, found: got });
      };
      const events = await eventItems(pipeline, userId);
      const totals = await item(pipeline, userPk(userId), TOTALS_SK);
      const daily = await dailyAggregates(pipeline, userId);

      differ(
        'stored events',
        { count: expected.count, total: expected.total },
        { count: events.length, total: events.reduce((sum, e) => sum + Number(e.value), 0) },
      );
      differ(
        'TOTALS',
        { event_count: expected.count, total_value: expected.total },
        totals === undefined ? totals : { event_count: totals.event_count, total_value: totals.total_value },
      );
      differ(
        'daily aggregates',
        [...expected.days].sort(([a], [b]) => (a < b ? -1 : 1)).map(([date, [n, v]]) => [date, n, v]),
        daily.map((day) => [day.date, day.event_count, day.total_value]),
      );
      differ(
        'alerts',
        Array.from(
          { length: Math.floor(expected.count / this.threshold) },
          (_, i) => (i + 1) * this.threshold,
        ),
        [...(this.alertsSeen.get(userId) ?? [])].sort((a, b) => a - b),
      );
    }
    return found;
  }

  /** Every named user: table, TOTALS, API daily aggregates and alerts all agree with what was recorded. */
  async expectExact(users: string[]): Promise<void> {
    const found = await this.discrepancies(users);
    if (found.length > 0) throw new LedgerMismatchError(found);
  }
}
