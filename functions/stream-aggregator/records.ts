import { DynamoDBMarshalled } from '@aws-lambda-powertools/parser/helpers/dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { z } from 'zod';
import { type LaneItem, LaneItemSchema } from '#shared/model.ts';
import { InvalidStreamRecordError } from './errors.ts';

/** Lane counters zero-padded to a fixed width, so that string order (in a condition) is numeric order. */
export const SEQUENCE_WIDTH = 20;
export const padSequence = (sequence: number | string): string =>
  String(sequence).padStart(SEQUENCE_WIDTH, '0');

const LaneRecordSchema = z.object({
  eventName: z.enum(['INSERT', 'MODIFY']),
  dynamodb: z.object({
    SequenceNumber: z.string().regex(/^\d{1,40}$/, 'SequenceNumber must be 1-40 digits'),
    ApproximateCreationDateTime: z.number().nonnegative(),
    NewImage: DynamoDBMarshalled(LaneItemSchema),
  }),
});

/** One page handed to a lane, as the aggregator sees it. */
export interface LaneRecord {
  /** The lane's counter at this page, zero-padded: it only grows along the lane (see LaneItemSchema). */
  sequence: string;
  page: LaneItem;
  /** When the stream recorded the write: the same on every redelivery of the record. */
  insertedAt: string;
}

export const parseLaneRecord = (record: DynamoDBRecord): LaneRecord => {
  const result = LaneRecordSchema.safeParse(record);
  if (!result.success) {
    throw new InvalidStreamRecordError(
      `Stream record ${record.eventID ?? '(no eventID)'} is not a lane page: ${z.prettifyError(result.error)}`,
    );
  }
  const { ApproximateCreationDateTime, NewImage } = result.data.dynamodb;
  return {
    sequence: padSequence(NewImage.lane_seq),
    page: NewImage,
    insertedAt: new Date(ApproximateCreationDateTime * 1000).toISOString(),
  };
};
