import { describe, expect, it } from 'vitest';
import { InvalidStreamRecordError } from '../../../functions/stream-aggregator/errors.ts';
import {
  padSequence,
  parseLaneRecord,
  SEQUENCE_WIDTH,
} from '../../../functions/stream-aggregator/records.ts';
import { FILE, LANE_SEQ, laneRecord, SEQUENCE_NUMBER } from './lanes.ts';

describe('padSequence', () => {
  it('orders lane counters of different lengths numerically as strings', () => {
    expect(padSequence(999) < padSequence(1000)).toBe(true);
  });

  it('pads to SEQUENCE_WIDTH (20) digits', () => {
    expect(SEQUENCE_WIDTH).toBe(20);
    expect(padSequence(7)).toBe('00000000000000000007');
  });

  it('pads a counter given as a string as it pads the number', () => {
    expect(padSequence('42')).toBe(padSequence(42));
  });
});

describe('parseLaneRecord', () => {
  it('takes the sequence from the image’s lane_seq, padded to 20 digits', () => {
    // The fixture's LANE#00 page 1 carries lane_seq 2.
    expect(parseLaneRecord(laneRecord(2)).sequence).toBe('00000000000000000002');
  });

  it('does not take the sequence from the stream’s SequenceNumber', () => {
    const record = laneRecord(0);
    if (record.dynamodb) record.dynamodb.SequenceNumber = SEQUENCE_NUMBER.lane0Page1;

    expect(parseLaneRecord(record).sequence).toBe(padSequence(LANE_SEQ.lane0Page0));
  });

  it('takes the page from the new image', () => {
    expect(parseLaneRecord(laneRecord(0)).page).toEqual({
      type: 'LANE',
      bucket: FILE.bucket,
      key: FILE.key,
      fileId: FILE.fileId,
      lane: 0,
      page: 0,
      pageKey: `staging/${FILE.fileId}/lanes/00/00000.json`,
      lane_seq: LANE_SEQ.lane0Page0,
    });
  });

  it('takes a MODIFY record’s page from the new image, not the old one', () => {
    const { page } = parseLaneRecord(laneRecord(2));

    expect({ page: page.page, pageKey: page.pageKey }).toEqual({
      page: 1,
      pageKey: `staging/${FILE.fileId}/lanes/00/00001.json`,
    });
  });

  it('takes insertedAt from the stream’s ApproximateCreationDateTime', () => {
    expect(parseLaneRecord(laneRecord(0)).insertedAt).toBe(new Date(1772359201 * 1000).toISOString());
  });

  it('rejects a record without a lane image', () => {
    const record = laneRecord(0);
    if (record.dynamodb) delete record.dynamodb.NewImage;

    expect(() => parseLaneRecord(record)).toThrow(InvalidStreamRecordError);
  });

  it('rejects a record whose image is not a lane item', () => {
    const record = laneRecord(0);
    if (record.dynamodb?.NewImage) record.dynamodb.NewImage.type = { S: 'EVENT' };

    expect(() => parseLaneRecord(record)).toThrow(InvalidStreamRecordError);
  });

  it.each([
    ['without lane_seq', undefined],
    ['whose lane_seq is 0', { N: '0' }],
    ['whose lane_seq is not a whole number', { N: '1.5' }],
  ])('rejects a record %s', (_case, laneSeq) => {
    const record = laneRecord(0);
    const image = record.dynamodb?.NewImage;
    if (image) {
      if (laneSeq === undefined) delete image.lane_seq;
      else image.lane_seq = laneSeq;
    }

    expect(() => parseLaneRecord(record)).toThrow(InvalidStreamRecordError);
  });
});
