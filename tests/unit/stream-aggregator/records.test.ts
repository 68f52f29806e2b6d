import type { DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InvalidStreamRecordError } from '../../../functions/stream-aggregator/errors.ts';
import { padSequence, parseStreamRecord } from '../../../functions/stream-aggregator/records.ts';
import { loadEvent } from '../../helpers/events.ts';

const firstRecord = () => {
  const record = loadEvent<DynamoDBStreamEvent>('stream-aggregator.json').Records[0];
  if (record === undefined) throw new Error('fixture has no records');
  return record;
};

describe('padSequence', () => {
  it('orders sequence numbers of different lengths numerically as strings', () => {
    expect(padSequence('999') < padSequence('1000')).toBe(true);
  });

  it('pads to 40 digits', () => {
    expect(padSequence('4421584500000000017450439091')).toHaveLength(40);
  });
});

describe('parseStreamRecord', () => {
  it('reads the event from the new image', () => {
    expect(parseStreamRecord(firstRecord())).toEqual({
      sequence: padSequence('4421584500000000017450439091'),
      userId: 'u-001',
      eventType: 'view',
      value: 12.5,
      eventAt: '2026-03-01T10:00:00.000Z',
      insertedAt: '2026-03-01T10:00:00.000Z',
    });
  });

  it('normalises the event time so that string order is time order', () => {
    const record = firstRecord();
    if (record.dynamodb?.NewImage) record.dynamodb.NewImage.timestamp = { S: '2026-03-01T12:00:00+02:00' };

    expect(parseStreamRecord(record).eventAt).toBe('2026-03-01T10:00:00.000Z');
  });

  it('rejects a record without a new image', () => {
    const record = firstRecord();
    if (record.dynamodb) delete record.dynamodb.NewImage;

    expect(() => parseStreamRecord(record)).toThrow(InvalidStreamRecordError);
  });
});
