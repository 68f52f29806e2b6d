import { DynamoDBMarshalled } from '@aws-lambda-powertools/parser/helpers/dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { z } from 'zod';
import { InvalidStreamRecordError } from './errors.ts';

/** Stream sequence numbers are decimal strings of up to 40 digits; zero-padded, string order is numeric order. */
export const SEQUENCE_WIDTH = 40;
export const padSequence = (sequence: string): string => sequence.padStart(SEQUENCE_WIDTH, '0');

// The attributes of an EVENT# item (functions/process-records/chunk.ts) the totals need.
const EventImageSchema = z.object({
  userId: z.string().min(1),
  eventType: z.string().min(1),
  value: z.number().refine(Number.isFinite, 'value must be a finite number'),
  timestamp: z.iso.datetime({ offset: true }),
});

const StreamRecordSchema = z.object({
  eventName: z.literal('INSERT'),
  dynamodb: z.object({
    SequenceNumber: z.string().regex(/^\d{1,40}$/, 'SequenceNumber must be 1-40 digits'),
    ApproximateCreationDateTime: z.number().nonnegative(),
    NewImage: DynamoDBMarshalled(EventImageSchema),
  }),
});

/** One event insert, as the totals see it. */
export interface StreamEvent {
  /** Zero-padded stream sequence number. */
  sequence: string;
  userId: string;
  eventType: string;
  value: number;
  /** Event time normalised with toISOString(), so that string order is time order. */
  eventAt: string;
  /** When the stream recorded the insert: the same on every redelivery of the record. */
  insertedAt: string;
}

export const parseStreamRecord = (record: DynamoDBRecord): StreamEvent => {
  const result = StreamRecordSchema.safeParse(record);
  if (!result.success) {
    throw new InvalidStreamRecordError(
      `Stream record ${record.eventID ?? '(no eventID)'} is not an event insert: ${z.prettifyError(result.error)}`,
    );
  }
  const { SequenceNumber, ApproximateCreationDateTime, NewImage } = result.data.dynamodb;
  return {
    sequence: padSequence(SequenceNumber),
    userId: NewImage.userId,
    eventType: NewImage.eventType,
    value: NewImage.value,
    eventAt: new Date(NewImage.timestamp).toISOString(),
    insertedAt: new Date(ApproximateCreationDateTime * 1000).toISOString(),
  };
};

/** Groups parsed entries by user, each user's entries in stream order. */
export const groupByUser = <T extends { event: StreamEvent }>(entries: readonly T[]): Map<string, T[]> => {
  const users = new Map<string, T[]>();
  for (const entry of entries) {
    const list = users.get(entry.event.userId);
    if (list) list.push(entry);
    else users.set(entry.event.userId, [entry]);
  }
  for (const list of users.values()) {
    list.sort((a, b) =>
      a.event.sequence < b.event.sequence ? -1 : a.event.sequence > b.event.sequence ? 1 : 0,
    );
  }
  return users;
};
