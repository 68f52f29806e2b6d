import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { TOTALS_SK, userPk } from '#shared/keys.ts';
import { TotalsConflictError } from './errors.ts';
import type { StreamEvent } from './records.ts';

/*
 * Exactly-once running totals over an at-least-once stream.
 *
 * Lambda redelivers stream records: a retried batch, a bisected half, and, after a partial failure, every
 * record from the lowest failed sequence number on (including ones that succeeded). All of a user's events
 * share the partition key USER#<id>, so their records come from one shard lineage in sequence order. The
 * TOTALS item therefore keeps a high-water mark `seq_hwm`, the highest sequence number applied, zero-padded
 * to 40 digits so that string comparison in a condition is numeric comparison.
 *
 * One UpdateItem per user per batch adds the counts of all the user's records and moves the mark, on the
 * condition that the stored mark is absent or below the batch's smallest sequence number. When the condition
 * fails, a consistent read tells why: records at or below the stored mark were applied before and are
 * dropped; the rest are applied by a retry conditioned on exactly the mark that was read, so nothing can
 * slip in between. A batch whose records are all at or below the mark changes nothing.
 *
 * `last_event_type` follows the latest event *time* applied so far (`last_event_at`), not stream order, and
 * an update expression cannot take a maximum. The optimistic update therefore also requires the stored
 * `last_event_at` to be no later than the batch's latest; an older batch (a backfill) fails that condition,
 * and the read-then-retry path applies its counts and keeps the stored last event.
 */

export interface TotalsDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Conditional updates per user and batch before giving up with TotalsConflictError. */
  maxAttempts: number;
}

/** What the alerts need to know after the update. */
export interface TotalsState {
  eventCount: number;
  alertedMultiple: number;
}

export interface ApplyResult extends TotalsState {
  applied: number;
  /** Records already counted by an earlier delivery. */
  skipped: number;
}

const TotalsItemSchema = z.object({
  event_count: z.number().default(0),
  alerted_multiple: z.number().int().nonnegative().default(0),
  seq_hwm: z.string().optional(),
  last_event_at: z.string().optional(),
});
type TotalsItem = z.infer<typeof TotalsItemSchema>;

/** The state a retry is conditioned on, as read after a failed condition. */
interface Guard {
  mark: string | undefined;
  lastEventAt: string | undefined;
}

const stateOf = (item: TotalsItem): TotalsState => ({
  eventCount: item.event_count,
  alertedMultiple: item.alerted_multiple,
});

/** Latest by event time; equal times go to the later record in the stream. */
const latestEvent = (events: readonly StreamEvent[]): StreamEvent | undefined =>
  events.reduce<StreamEvent | undefined>(
    (latest, event) => (latest === undefined || event.eventAt >= latest.eventAt ? event : latest),
    undefined,
  );

/**
 * The single UpdateItem for one user's records (non-empty, in stream order). Without a guard it is the
 * optimistic first attempt; with one it is the retry conditioned on the state that was read.
 */
export const totalsUpdateOf = (
  table: string,
  userId: string,
  events: readonly StreamEvent[],
  guard?: Guard,
): UpdateCommandInput => {
  const first = events[0];
  const last = events.at(-1);
  const latest = latestEvent(events);
  if (first === undefined || last === undefined || latest === undefined) {
    throw new RangeError('totalsUpdateOf needs at least one event');
  }
  const setLastEvent =
    guard === undefined || guard.lastEventAt === undefined || latest.eventAt >= guard.lastEventAt;

  const sets = ['#type = :type', 'userId = :userId', 'seq_hwm = :mark', 'last_updated = :lastUpdated'];
  if (setLastEvent) sets.push('last_event_type = :lastEventType', 'last_event_at = :lastEventAt');

  let condition: string;
  const conditionValues: Record<string, unknown> = {};
  if (guard === undefined) {
    condition =
      '(attribute_not_exists(seq_hwm) OR seq_hwm < :firstSequence) AND ' +
      '(attribute_not_exists(last_event_at) OR last_event_at <= :lastEventAt)';
    conditionValues[':firstSequence'] = first.sequence;
  } else if (guard.mark === undefined) {
    condition = 'attribute_not_exists(seq_hwm)';
  } else {
    condition = 'seq_hwm = :readMark';
    conditionValues[':readMark'] = guard.mark;
  }

  return {
    TableName: table,
    Key: { PK: userPk(userId), SK: TOTALS_SK },
    UpdateExpression: `SET ${sets.join(', ')} ADD event_count :count, total_value :total, sum_squares :squares`,
    ConditionExpression: condition,
    ExpressionAttributeNames: { '#type': 'type' },
    ExpressionAttributeValues: {
      ':type': 'TOTALS',
      ':userId': userId,
      ':mark': last.sequence,
      // ApproximateCreationDateTime of the last record: a redelivery writes the same value.
      ':lastUpdated': last.insertedAt,
      ...(setLastEvent ? { ':lastEventType': latest.eventType, ':lastEventAt': latest.eventAt } : {}),
      ':count': events.length,
      ':total': events.reduce((sum, event) => sum + event.value, 0),
      ':squares': events.reduce((sum, event) => sum + event.value * event.value, 0),
      ...conditionValues,
    },
    ReturnValues: 'ALL_NEW',
  };
};

const readTotals = async (deps: TotalsDeps, userId: string): Promise<TotalsItem> => {
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.table,
      Key: { PK: userPk(userId), SK: TOTALS_SK },
      ConsistentRead: true,
    }),
  );
  return TotalsItemSchema.parse(Item ?? {});
};

/** Adds one user's records of a batch to the TOTALS item, skipping any already applied (see above). */
export const applyToTotals = async (
  deps: TotalsDeps,
  userId: string,
  events: readonly StreamEvent[],
): Promise<ApplyResult> => {
  let pending = events;
  let guard: Guard | undefined;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { Attributes } = await deps.ddb.send(
        new UpdateCommand(totalsUpdateOf(deps.table, userId, pending, guard)),
      );
      return {
        ...stateOf(TotalsItemSchema.parse(Attributes ?? {})),
        applied: pending.length,
        skipped: events.length - pending.length,
      };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (attempt >= deps.maxAttempts) {
        throw new TotalsConflictError(
          `TOTALS of user ${userId} changed under ${attempt} conditional updates`,
          { cause: error },
        );
      }
    }
    const current = await readTotals(deps, userId);
    const mark = current.seq_hwm;
    pending = events.filter((event) => mark === undefined || event.sequence > mark);
    if (pending.length === 0) return { ...stateOf(current), applied: 0, skipped: events.length };
    guard = { mark, lastEventAt: current.last_event_at };
  }
};
