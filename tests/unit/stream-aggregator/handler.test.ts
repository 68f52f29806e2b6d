import { setTimeout as sleep } from 'node:timers/promises';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { scoringPageKeyOf } from '../../../functions/shared/keys.ts';
import type { LanePage } from '../../../functions/shared/model.ts';
import { handler } from '../../../functions/stream-aggregator/index.ts';
import { padSequence } from '../../../functions/stream-aggregator/records.ts';
import { guardOf } from '../../../functions/stream-aggregator/totals.ts';
import { lambdaContext } from '../../helpers/events.ts';
import { s3Body } from '../../helpers/s3.ts';
import {
  conditionFailed,
  FILE,
  LANE_SEQ,
  laneEvent,
  markerKeyOf,
  pageKeyOf,
  pageOf,
  SEQUENCE_NUMBER,
  totalsKeyOf,
  userOf,
} from './lanes.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
// vitest.config.ts: the unit tests' environment.
const ALERTS_TOPIC = 'arn:aws:sns:us-east-1:123456789012:alerts';
const PIPELINE_EVENTS_TOPIC = 'arn:aws:sns:us-east-1:123456789012:pipeline-events';
const s3Mock = mockClient(S3Client);
const snsMock = mockClient(SNSClient);

// The fixture's pages: u-001 and u-021 in LANE#00 page 0, u-002 in LANE#12 page 0, u-038 in LANE#00 page 1.
const PAGES = [
  pageOf(0, 0, [userOf('u-001'), userOf('u-021')]),
  pageOf(12, 0, [userOf('u-002')]),
  pageOf(0, 1, [userOf('u-038')]),
];

/** Stages `page` as the object of lane `lane`'s page `at`, whatever the page itself says. */
const givenPageAt = (lane: number, at: number, page: LanePage) => {
  s3Mock
    .on(GetObjectCommand, { Bucket: FILE.bucket, Key: pageKeyOf(lane, at) })
    .callsFake(() => ({ Body: s3Body(JSON.stringify(page)) }));
};
const givenPages = (pages: LanePage[]) => {
  for (const page of pages) givenPageAt(page.lane, page.page, page);
};

/** Position of a command input among every DynamoDB call, in the order sent. */
const sentAt = (input: unknown) =>
  ddbMock
    .calls()
    .map((call): unknown => call.args[0].input)
    .indexOf(input);
const totalsAdds = () =>
  ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.ReturnValues === 'ALL_NEW');
const totalsAddOf = (userId: string) => totalsAdds().filter((input) => input.Key?.PK === `USER#${userId}`);
const markers = () => ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input);
const markerOf = (lane: number, page: number) =>
  markers().find((input) => input.Item?.SK === markerKeyOf(lane, page).SK);
const pagesRead = () => s3Mock.commandCalls(GetObjectCommand).map((call) => call.args[0].input.Key);
const alertMarks = () =>
  ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.UpdateExpression === 'SET alerted_multiple = :multiple');
const publishedTo = (topicArn: string) =>
  snsMock
    .commandCalls(PublishCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.TopicArn === topicArn);
const alertsSent = () => publishedTo(ALERTS_TOPIC);
const aggregatedSent = () => publishedTo(PIPELINE_EVENTS_TOPIC);
const scoringWrites = () => s3Mock.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
const failedIds = (response: { batchItemFailures: { itemIdentifier: string }[] }) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier);

/**
 * TOTALS items kept as DynamoDB keeps them: an update applies only while the stored applied_seq is below
 * its guard (as its condition says), else it fails its condition and the aggregator reads the item.
 */
const givenTotalsTable = () => {
  const items = new Map<string, Record<string, unknown>>();
  ddbMock.on(UpdateCommand, { ReturnValues: 'ALL_NEW' }).callsFake((input: UpdateCommandInput) => {
    const pk = String(input.Key?.PK);
    const stored = items.get(pk) ?? {};
    const values = input.ExpressionAttributeValues ?? {};
    const guard = String(values[':seq']);
    if (typeof stored.applied_seq === 'string' && stored.applied_seq >= guard) throw conditionFailed();
    const item = { ...stored, event_count: Number(stored.event_count ?? 0) + Number(values[':count']) };
    items.set(pk, { ...item, applied_seq: guard });
    return { Attributes: items.get(pk) };
  });
  ddbMock
    .on(GetCommand, { Key: { SK: 'TOTALS' } })
    .callsFake((input: { Key?: Record<string, unknown> }) => ({ Item: items.get(String(input.Key?.PK)) }));
  return items;
};

const invoke = (event = laneEvent()) => handler(event, lambdaContext('stream-aggregator'));

describe('stream-aggregator handler', () => {
  beforeEach(() => {
    ddbMock.reset();
    s3Mock.reset();
    snsMock.reset();
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
    // ALL_NEW of a user seen for the first time: the update's own sums, at its guard.
    ddbMock.on(UpdateCommand).callsFake((input) => ({
      Attributes: {
        event_count: input.ExpressionAttributeValues?.[':count'],
        total_value: input.ExpressionAttributeValues?.[':total'],
        sum_squares: input.ExpressionAttributeValues?.[':squares'],
        applied_seq: input.ExpressionAttributeValues?.[':seq'],
      },
    }));
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    givenPages(PAGES);
    s3Mock.on(PutObjectCommand).resolves({});
    snsMock.on(PublishCommand).resolves({ MessageId: 'message-1' });
  });

  describe('pages', () => {
    it('applies every page of the batch and fails no record', async () => {
      const response = await invoke();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(pagesRead().sort()).toEqual([pageKeyOf(0, 0), pageKeyOf(0, 1), pageKeyOf(12, 0)]);
    });

    it('updates each user of a page once, guarded by its record’s lane_seq', async () => {
      await invoke();

      const guards = Object.fromEntries(
        totalsAdds().map((input) => [input.Key?.PK, input.ExpressionAttributeValues?.[':seq']]),
      );
      expect(totalsAdds()).toHaveLength(4);
      expect(guards).toEqual({
        'USER#u-001': guardOf(padSequence(LANE_SEQ.lane0Page0), 0),
        'USER#u-021': guardOf(padSequence(LANE_SEQ.lane0Page0), 0),
        'USER#u-002': guardOf(padSequence(LANE_SEQ.lane12Page0), 0),
        'USER#u-038': guardOf(padSequence(LANE_SEQ.lane0Page1), 0),
      });
    });

    it('applies a page whose SequenceNumber is below an earlier page’s of its lane, by its higher lane_seq', async () => {
      // LANE#00 hands u-001 in both pages; the stream numbers the second record below the first.
      const event = laneEvent();
      const [first, , second] = event.Records;
      if (first?.dynamodb) first.dynamodb.SequenceNumber = SEQUENCE_NUMBER.lane0Page1;
      if (second?.dynamodb) second.dynamodb.SequenceNumber = SEQUENCE_NUMBER.lane0Page0;
      givenPages([pageOf(0, 0, [userOf('u-001')]), pageOf(0, 1, [userOf('u-001')])]);
      const totals = givenTotalsTable();

      const response = await invoke(event);

      expect(failedIds(response)).toEqual([]);
      expect(totals.get('USER#u-001')).toEqual({
        event_count: 4,
        applied_seq: guardOf(padSequence(LANE_SEQ.lane0Page1), 0),
      });
    });

    it('applies a lane’s pages in stream order: a page only after the one before is marked', async () => {
      await invoke();

      const page0Marked = sentAt(markerOf(0, 0));
      const page1Started = sentAt(
        ddbMock.commandCalls(GetCommand, { Key: markerKeyOf(0, 1) })[0]?.args[0].input,
      );
      expect(page0Marked).toBeGreaterThanOrEqual(0);
      expect(page1Started).toBeGreaterThan(page0Marked);
      expect(pagesRead().filter((key) => key?.includes('/lanes/00/'))).toEqual([
        pageKeyOf(0, 0),
        pageKeyOf(0, 1),
      ]);
    });

    it('writes a page’s APPLIED marker once, after all of its users', async () => {
      await invoke();

      const users = ['u-001', 'u-021'].map((id) => sentAt(totalsAddOf(id)[0]));
      expect(markers().filter((input) => input.Item?.SK === markerKeyOf(0, 0).SK)).toHaveLength(1);
      expect(markerOf(0, 0)).toEqual({
        TableName: 'test-table',
        Item: {
          ...markerKeyOf(0, 0),
          type: 'APPLIED',
          fileId: FILE.fileId,
          lane: 0,
          page: 0,
          users: 2,
          sequence: padSequence(LANE_SEQ.lane0Page0),
          appliedAt: new Date(1772359201 * 1000).toISOString(),
        },
        ConditionExpression: 'attribute_not_exists(PK)',
      });
      expect(Math.min(...users)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...users)).toBeLessThan(sentAt(markerOf(0, 0)));
    });

    it('checks a page’s APPLIED marker with a consistent read', async () => {
      await invoke();

      expect(ddbMock.commandCalls(GetCommand).map((call) => call.args[0].input)).toContainEqual({
        TableName: 'test-table',
        Key: markerKeyOf(12, 0),
        ConsistentRead: true,
      });
    });

    it('skips a page whose APPLIED marker exists: no page read, no user update, no new marker', async () => {
      ddbMock
        .on(GetCommand, { Key: markerKeyOf(0, 0) })
        .resolves({ Item: { ...markerKeyOf(0, 0), type: 'APPLIED' } });

      const response = await invoke();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(pagesRead()).not.toContain(pageKeyOf(0, 0));
      expect([...totalsAddOf('u-001'), ...totalsAddOf('u-021')]).toEqual([]);
      expect(markerOf(0, 0)).toBeUndefined();
      expect(totalsAddOf('u-038')).toHaveLength(1);
    });

    it('takes a marker written meanwhile by an overlapping delivery as done', async () => {
      ddbMock.on(PutCommand).rejects(conditionFailed());

      const response = await invoke();

      expect(response).toEqual({ batchItemFailures: [] });
    });
  });

  describe('failures', () => {
    it('fails a failed page and every later page of its lane, and nothing in other lanes', async () => {
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-001') })
        .rejects(new Error('ProvisionedThroughputExceeded'));

      const response = await invoke();

      expect(failedIds(response)).toEqual([SEQUENCE_NUMBER.lane0Page0, SEQUENCE_NUMBER.lane0Page1]);
      expect(pagesRead()).not.toContain(pageKeyOf(0, 1));
      expect(totalsAddOf('u-038')).toEqual([]);
      expect(markers().map((input) => input.Item?.SK)).toEqual([markerKeyOf(12, 0).SK]);
    });

    it('fails a page only after the page’s other users have settled', async () => {
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-001') })
        .rejects(new Error('ProvisionedThroughputExceeded'));
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-021'), ReturnValues: 'ALL_NEW' })
        .callsFake(async () => {
          await sleep(20);
          return { Attributes: { event_count: 1001 } };
        });

      await invoke();

      expect(alertsSent()).toHaveLength(1);
      expect(alertMarks().map((input) => input.Key)).toEqual([totalsKeyOf('u-021')]);
    });

    it('fails a page that cannot be read, with the rest of its lane', async () => {
      s3Mock
        .on(GetObjectCommand, { Key: pageKeyOf(12, 0) })
        .rejects(new NoSuchKey({ message: 'gone', $metadata: {} }));

      const response = await invoke();

      expect(failedIds(response)).toEqual([SEQUENCE_NUMBER.lane12Page0]);
    });

    it('fails a page whose object is another page, with the rest of its lane, applying the other lanes', async () => {
      givenPageAt(0, 0, { ...pageOf(0, 0, [userOf('u-001'), userOf('u-021')]), page: 1 });

      const response = await invoke();

      expect(failedIds(response)).toEqual([SEQUENCE_NUMBER.lane0Page0, SEQUENCE_NUMBER.lane0Page1]);
      expect([...totalsAddOf('u-001'), ...totalsAddOf('u-021'), ...totalsAddOf('u-038')]).toEqual([]);
      expect(markers().map((input) => input.Item?.SK)).toEqual([markerKeyOf(12, 0).SK]);
    });

    it('fails a record that is not a lane page alone, applying the other lanes', async () => {
      const event = laneEvent();
      const record = event.Records[1];
      if (record?.dynamodb) delete record.dynamodb.NewImage;

      const response = await invoke(event);

      expect(failedIds(response)).toEqual([SEQUENCE_NUMBER.lane12Page0]);
      expect(markers()).toHaveLength(2);
    });

    it('throws when every record fails, so Lambda retries the batch', async () => {
      ddbMock.on(GetCommand).rejects(new Error('DynamoDB unavailable'));

      await expect(invoke()).rejects.toBeInstanceOf(FullBatchFailureError);
    });
  });

  describe('threshold alerts', () => {
    const crossed = alertsSent;

    it('publishes one alert when a user’s count crosses ALERT_THRESHOLD', async () => {
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-002') })
        .resolves({ Attributes: { event_count: 1001 } });

      await invoke();

      expect(crossed()).toHaveLength(1);
      expect(crossed()[0]?.Subject).toBe('Event count threshold crossed: 1000');
      expect(JSON.parse(crossed()[0]?.Message ?? '')).toEqual({
        type: 'ThresholdCrossed',
        userId: 'u-002',
        threshold: 1000,
        event_count: 1001,
      });
    });

    it('records the alert with a conditional update that never lowers alerted_multiple', async () => {
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-002') })
        .resolves({ Attributes: { event_count: 1001 } });

      await invoke();

      expect(alertMarks()).toEqual([
        {
          TableName: 'test-table',
          Key: totalsKeyOf('u-002'),
          UpdateExpression: 'SET alerted_multiple = :multiple',
          ConditionExpression:
            'attribute_exists(PK) AND (attribute_not_exists(alerted_multiple) OR alerted_multiple < :multiple)',
          ExpressionAttributeValues: { ':multiple': 1 },
        },
      ]);
    });

    it('publishes an alert still pending when a page is redelivered, without adding again', async () => {
      const guard = guardOf(padSequence(LANE_SEQ.lane12Page0), 0);
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-002'), ReturnValues: 'ALL_NEW' })
        .rejects(conditionFailed());
      ddbMock
        .on(GetCommand, { Key: totalsKeyOf('u-002') })
        .resolves({ Item: { event_count: 1002, alerted_multiple: 0, applied_seq: guard } });

      await invoke();

      expect(totalsAddOf('u-002')).toHaveLength(1);
      expect(crossed()).toHaveLength(1);
      expect(alertMarks().map((input) => input.ExpressionAttributeValues)).toEqual([{ ':multiple': 1 }]);
    });

    it('fails the page whose alert was not published, with the rest of its lane', async () => {
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-001') })
        .resolves({ Attributes: { event_count: 1001 } });
      snsMock.on(PublishCommand, { TopicArn: ALERTS_TOPIC }).rejects(new Error('SNS unavailable'));

      const response = await invoke();

      expect(failedIds(response)).toEqual([SEQUENCE_NUMBER.lane0Page0, SEQUENCE_NUMBER.lane0Page1]);
      expect(alertMarks()).toEqual([]);
      expect(markerOf(0, 0)).toBeUndefined();
    });
  });
  describe('scoring input for inference', () => {
    it('writes each applied page’s scoring input to S3 as JSON under the page’s scoring key', async () => {
      await invoke();

      const written = scoringWrites().find((input) => input.Key === scoringPageKeyOf(FILE.fileId, 12, 0));
      expect(scoringWrites()).toHaveLength(3);
      expect(written).toEqual({
        Bucket: FILE.bucket,
        Key: `staging/${FILE.fileId}/scoring/12/00000.json`,
        Body: expect.any(String),
        ContentType: 'application/json',
      });
      expect(JSON.parse(String(written?.Body))).toEqual({
        fileId: FILE.fileId,
        key: FILE.key,
        lane: 12,
        page: 0,
        users: [
          {
            userId: 'u-002',
            eventCount: 2,
            totalValue: 10,
            history: { eventCount: 0, totalValue: 0, sumSquares: 0 },
          },
        ],
      });
    });

    it('publishes one UsersAggregated message per applied page to the pipeline-events topic', async () => {
      await invoke();

      const sent = aggregatedSent().find((input) => input.Message?.includes('"lane":12'));
      expect(aggregatedSent()).toHaveLength(3);
      expect(sent).toEqual({
        TopicArn: PIPELINE_EVENTS_TOPIC,
        Message: expect.any(String),
        MessageAttributes: { type: { DataType: 'String', StringValue: 'UsersAggregated' } },
      });
      expect(JSON.parse(sent?.Message ?? '')).toEqual({
        type: 'UsersAggregated',
        fileId: FILE.fileId,
        bucket: FILE.bucket,
        key: FILE.key,
        lane: 12,
        page: 0,
        scoringKey: scoringPageKeyOf(FILE.fileId, 12, 0),
        users: 1,
      });
    });

    it('writes and publishes nothing for a page skipped by its marker', async () => {
      ddbMock
        .on(GetCommand, { Key: markerKeyOf(12, 0) })
        .resolves({ Item: { ...markerKeyOf(12, 0), type: 'APPLIED' } });

      await invoke();

      expect(scoringWrites().map((input) => input.Key)).not.toContain(scoringPageKeyOf(FILE.fileId, 12, 0));
      expect(aggregatedSent().map((input) => JSON.parse(input.Message ?? '').lane)).toEqual([0, 0]);
    });

    it('fails a page whose message was not published, unmarked, with the rest of its lane', async () => {
      snsMock.on(PublishCommand, { TopicArn: PIPELINE_EVENTS_TOPIC }).callsFake((input) => {
        if (JSON.parse(input.Message).lane === 0) throw new Error('SNS unavailable');
        return { MessageId: 'message-2' };
      });

      const response = await invoke();

      expect(failedIds(response)).toEqual([SEQUENCE_NUMBER.lane0Page0, SEQUENCE_NUMBER.lane0Page1]);
      expect(markers().map((input) => input.Item?.SK)).toEqual([markerKeyOf(12, 0).SK]);
      expect(pagesRead()).not.toContain(pageKeyOf(0, 1));
    });
  });
});
