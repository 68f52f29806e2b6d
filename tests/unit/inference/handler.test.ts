import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ScoringInputMismatchError, ScoringInputNotFoundError } from '../../../functions/inference/errors.ts';
import { handler } from '../../../functions/inference/index.ts';
import type { ScoringPage, UsersAggregatedEvent } from '../../../functions/shared/model.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';
import { s3Body } from '../../helpers/s3.ts';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);

// events/inference.json: lane 0, page 0 of this file.
const FILE_ID = '5f2c9a0d41e8b7c36a9d0e12';
const BUCKET = 'csv-analytics-databucket-1a2b3c4d5e6f';
const SOURCE_KEY = 'uploads/2026/03/events.csv';
const SCORING_KEY = `staging/${FILE_ID}/scoring/00/00000.json`;
const TABLE = 'test-table';
const NOW = '2026-03-01T10:05:00.000Z';

/** A history of n events with the given mean and population variance. */
const history = (n: number, mean: number, variance: number) => ({
  eventCount: n,
  totalValue: n * mean,
  sumSquares: n * (variance + mean * mean),
});
/** A user of the page: `eventCount` events of mean `mean` in the file, after `before`. */
const userOf = (userId: string, eventCount: number, mean: number, before: ReturnType<typeof history>) => ({
  userId,
  eventCount,
  totalValue: eventCount * mean,
  history: before,
});

// Before the file, each had 100 events of mean 10 and σ = 2; 4 events in the file have a standard error of 1.
const ANOMALOUS = userOf('u-001', 4, 13, history(100, 10, 4)); // z = 3
const UNUSUAL = userOf('u-021', 4, 12, history(100, 10, 4)); // z = 2
const NORMAL = userOf('u-038', 4, 10.5, history(100, 10, 4)); // z = 0.5
const NEW_USER = userOf('u-049', 4, 50, history(9, 10, 4)); // too little history to compare with

const scoringPageOf = (users: ScoringPage['users'], overrides: Partial<ScoringPage> = {}): ScoringPage => ({
  fileId: FILE_ID,
  key: SOURCE_KEY,
  lane: 0,
  page: 0,
  users,
  ...overrides,
});

/** Stages `page` as the object at `key`, a fresh body on every read. */
const givenScoringObject = (key: string, page: ScoringPage) => {
  s3Mock
    .on(GetObjectCommand, { Bucket: BUCKET, Key: key })
    .callsFake(() => ({ Body: s3Body(JSON.stringify(page)) }));
};

const anomalousItem = {
  PK: 'USER#u-001',
  SK: `SCORE#${FILE_ID}`,
  type: 'SCORE',
  userId: 'u-001',
  fileId: FILE_ID,
  sourceKey: SOURCE_KEY,
  score: 0.9973,
  zScore: 3,
  label: 'anomalous',
  model: 'zscore-v1',
  eventCount: 4,
  meanValue: 13,
  computedAt: NOW,
};

const writtenItems = () =>
  ddbMock
    .commandCalls(BatchWriteCommand)
    .flatMap((call) => call.args[0].input.RequestItems?.[TABLE] ?? [])
    .map((request) => request.PutRequest?.Item);

const fixtureRecord = (): SQSRecord => {
  const [record] = loadEvent<SQSEvent>('inference.json').Records;
  if (record === undefined) throw new Error('events/inference.json has no records');
  return record;
};
/** The fixture's message with its body changed, under another message id. */
const recordWith = (messageId: string, body: Partial<UsersAggregatedEvent>): SQSRecord => {
  const record = fixtureRecord();
  return { ...record, messageId, body: JSON.stringify({ ...JSON.parse(record.body), ...body }) };
};
const eventOf = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

const invoke = (event = loadEvent<SQSEvent>('inference.json')) => handler(event, lambdaContext('inference'));

/** The errors of a batch in which every message failed. */
const recordErrorsOf = async (event: SQSEvent): Promise<Error[]> => {
  const error = await invoke(event).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof FullBatchFailureError))
    throw new Error(`expected FullBatchFailureError, got ${error}`);
  return error.recordErrors;
};

describe('inference', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(NOW));
    s3Mock.reset();
    ddbMock.reset();
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    givenScoringObject(SCORING_KEY, scoringPageOf([ANOMALOUS, NEW_USER]));
    ddbMock.on(BatchWriteCommand).resolves({});
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads the scoring object named by the event', async () => {
    await invoke();

    expect(s3Mock.commandCalls(GetObjectCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: SCORING_KEY },
    ]);
  });

  it('scores from the object alone: nothing is read from the table', async () => {
    await invoke();

    expect(ddbMock.calls().map((call) => call.args[0].constructor.name)).toEqual(['BatchWriteCommand']);
  });

  it('stores a SCORE#<fileId> item for each anomalous user of the page, and no other', async () => {
    givenScoringObject(SCORING_KEY, scoringPageOf([NORMAL, ANOMALOUS, UNUSUAL, NEW_USER]));

    const response = await invoke();

    expect(response).toEqual({ batchItemFailures: [] });
    expect(writtenItems()).toEqual([anomalousItem]);
  });

  it('writes nothing for a page of normal, unusual and insufficient-history users', async () => {
    givenScoringObject(SCORING_KEY, scoringPageOf([NORMAL, UNUSUAL, NEW_USER]));

    const response = await invoke();

    expect(response).toEqual({ batchItemFailures: [] });
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('writes the same items for the same message delivered twice, stamped with each delivery’s time', async () => {
    await invoke();
    const first = writtenItems();
    ddbMock.resetHistory();
    const later = '2026-03-01T11:00:00.000Z';
    vi.setSystemTime(new Date(later));

    await invoke();

    expect(first).toEqual([anomalousItem]);
    expect(writtenItems()).toEqual([{ ...anomalousItem, computedAt: later }]);
  });

  describe('a message that cannot be scored', () => {
    it.each([
      ['another file', { fileId: '0123456789abcdef01234567' }],
      ['another lane', { lane: 1 }],
      ['another page', { page: 1 }],
    ])(
      'fails with ScoringInputMismatchError when the object holds %s, writing nothing',
      async (_case, overrides) => {
        givenScoringObject(SCORING_KEY, scoringPageOf([ANOMALOUS], overrides));

        const errors = await recordErrorsOf(eventOf(fixtureRecord()));

        expect(errors).toEqual([expect.any(ScoringInputMismatchError)]);
        expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
      },
    );

    it('fails with ScoringInputNotFoundError when the object is missing', async () => {
      const errors = await recordErrorsOf(eventOf(recordWith('gone', { scoringKey: `${SCORING_KEY}.gone` })));

      expect(errors).toEqual([expect.any(ScoringInputNotFoundError)]);
    });

    it('fails alone when its object is another page, the batch’s other messages scored', async () => {
      const otherKey = `staging/${FILE_ID}/scoring/00/00001.json`;
      givenScoringObject(otherKey, scoringPageOf([ANOMALOUS], { page: 0 }));

      const response = await invoke(
        eventOf(fixtureRecord(), recordWith('mismatched', { page: 1, scoringKey: otherKey })),
      );

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'mismatched' }] });
      expect(writtenItems()).toEqual([anomalousItem]);
    });

    it('fails alone when its object is missing, the batch’s other messages scored', async () => {
      const response = await invoke(
        eventOf(recordWith('missing', { scoringKey: `${SCORING_KEY}.gone` }), fixtureRecord()),
      );

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'missing' }] });
      expect(writtenItems()).toEqual([anomalousItem]);
    });

    it('fails alone when its body is not a UsersAggregated event', async () => {
      const bad = { ...fixtureRecord(), messageId: 'bad-message', body: '{"type":"FileStored"}' };

      const response = await invoke(eventOf(fixtureRecord(), bad));

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad-message' }] });
      expect(writtenItems()).toEqual([anomalousItem]);
    });
  });

  it('returns no failures when every message is scored', async () => {
    const response = await invoke();

    expect(response).toEqual({ batchItemFailures: [] });
  });
});
