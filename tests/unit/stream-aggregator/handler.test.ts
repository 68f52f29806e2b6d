import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/stream-aggregator/index.ts';
import { padSequence } from '../../../functions/stream-aggregator/records.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);

// events/stream-aggregator.json: u-001 at sequence …091 and …093, u-002 at …092.
const SEQ_1 = '4421584500000000017450439091';
const SEQ_2 = '4421584500000000017450439092';
const SEQ_3 = '4421584500000000017450439093';
const U1 = { PK: 'USER#u-001', SK: 'TOTALS' };
const U2 = { PK: 'USER#u-002', SK: 'TOTALS' };

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const totalsUpdates = () =>
  ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.UpdateExpression?.includes('ADD event_count'));

const alertMarks = () =>
  ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.UpdateExpression === 'SET alerted_multiple = :multiple');

const invoke = (event = loadEvent<DynamoDBStreamEvent>('stream-aggregator.json')) =>
  handler(event, lambdaContext('stream-aggregator'));

describe('stream-aggregator', () => {
  beforeEach(() => {
    ddbMock.reset();
    snsMock.reset();
    ddbMock.on(UpdateCommand).resolves({ Attributes: { event_count: 3, alerted_multiple: 0 } });
    snsMock.on(PublishCommand).resolves({ MessageId: 'message-1' });
  });

  describe('running totals', () => {
    it('sends one update per user for the whole batch', async () => {
      const response = await invoke();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(totalsUpdates().map((input) => input.Key)).toEqual(expect.arrayContaining([U1, U2]));
      expect(totalsUpdates()).toHaveLength(2);
    });

    it('adds count, total and sum of squares of all the user’s records in that update', async () => {
      await invoke();

      const u1 = totalsUpdates().find((input) => input.Key?.PK === 'USER#u-001');
      expect(u1?.ExpressionAttributeValues).toMatchObject({
        ':count': 2,
        ':total': 12.5 + 99.99,
        ':squares': 12.5 * 12.5 + 99.99 * 99.99,
      });
    });

    it('moves the high-water mark to the user’s last sequence number, zero-padded to 40 digits', async () => {
      await invoke();

      const u1 = totalsUpdates().find((input) => input.Key?.PK === 'USER#u-001');
      expect(u1?.ExpressionAttributeValues?.[':mark']).toBe(`000000000000${SEQ_3}`);
      expect(u1?.ExpressionAttributeValues?.[':firstSequence']).toBe(padSequence(SEQ_1));
      expect(u1?.ConditionExpression).toContain('seq_hwm < :firstSequence');
    });

    it('records the type of the latest event and the stream time of the last record', async () => {
      await invoke();

      const u1 = totalsUpdates().find((input) => input.Key?.PK === 'USER#u-001');
      expect(u1?.ExpressionAttributeValues).toMatchObject({
        ':lastEventType': 'purchase',
        ':lastEventAt': '2026-03-01T11:30:00.000Z',
        ':lastUpdated': new Date(1772359201 * 1000).toISOString(),
      });
    });
  });

  describe('redelivery', () => {
    it('leaves the totals unchanged when the whole batch was already applied', async () => {
      ddbMock.on(UpdateCommand).rejects(conditionFailed());
      ddbMock
        .on(GetCommand, { Key: U1 })
        .resolves({ Item: { event_count: 10, seq_hwm: padSequence(SEQ_3) } });
      ddbMock.on(GetCommand, { Key: U2 }).resolves({ Item: { event_count: 5, seq_hwm: padSequence(SEQ_2) } });

      const response = await invoke();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(totalsUpdates()).toHaveLength(2);
      expect(ddbMock.commandCalls(GetCommand)).toHaveLength(2);
    });

    it('applies only the records above the stored mark, conditioned on the mark it read', async () => {
      ddbMock
        .on(UpdateCommand, { Key: U1 })
        .rejectsOnce(conditionFailed())
        .resolves({ Attributes: { event_count: 8 } });
      ddbMock.on(GetCommand, { Key: U1 }).resolves({
        Item: { event_count: 7, seq_hwm: padSequence(SEQ_1), last_event_at: '2026-03-01T10:00:00.000Z' },
      });

      await invoke();

      const retry = totalsUpdates().filter((input) => input.Key?.PK === 'USER#u-001')[1];
      expect(retry?.ConditionExpression).toBe('seq_hwm = :readMark');
      expect(retry?.ExpressionAttributeValues).toMatchObject({
        ':readMark': padSequence(SEQ_1),
        ':mark': padSequence(SEQ_3),
        ':count': 1,
        ':total': 99.99,
      });
    });

    it('keeps the stored last event type when the batch’s events are older than it', async () => {
      ddbMock
        .on(UpdateCommand, { Key: U1 })
        .rejectsOnce(conditionFailed())
        .resolves({ Attributes: { event_count: 9 } });
      ddbMock.on(GetCommand, { Key: U1 }).resolves({
        Item: { event_count: 7, seq_hwm: padSequence('17'), last_event_at: '2026-04-01T00:00:00.000Z' },
      });

      await invoke();

      const retry = totalsUpdates().filter((input) => input.Key?.PK === 'USER#u-001')[1];
      expect(retry?.UpdateExpression).not.toContain('last_event_type');
      expect(retry?.ExpressionAttributeValues).toMatchObject({ ':count': 2 });
    });

    it('fails the user’s records when the item keeps changing under the update', async () => {
      ddbMock.on(UpdateCommand, { Key: U1 }).rejects(conditionFailed());
      ddbMock.on(GetCommand, { Key: U1 }).resolves({ Item: { event_count: 1, seq_hwm: padSequence('1') } });

      const response = await invoke();

      expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([SEQ_1, SEQ_3]);
    });
  });

  describe('threshold alerts', () => {
    it('publishes one alert when a user’s count crosses the threshold', async () => {
      ddbMock.on(UpdateCommand, { Key: U1 }).resolves({ Attributes: { event_count: 1001 } });

      await invoke();

      const published = snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input);
      expect(published).toHaveLength(1);
      expect(published[0]?.Subject).toBe('Event count threshold crossed: 1000');
      expect(JSON.parse(published[0]?.Message ?? '')).toEqual({
        type: 'ThresholdCrossed',
        userId: 'u-001',
        threshold: 1000,
        event_count: 1001,
      });
    });

    it('records the alerted multiple after publishing, never lowering it', async () => {
      ddbMock.on(UpdateCommand, { Key: U1 }).resolves({ Attributes: { event_count: 1001 } });

      await invoke();

      expect(alertMarks()).toHaveLength(1);
      expect(alertMarks()[0]?.ExpressionAttributeValues).toEqual({ ':multiple': 1 });
      expect(alertMarks()[0]?.ConditionExpression).toContain('alerted_multiple < :multiple');
    });

    it('publishes one alert per further multiple crossed', async () => {
      ddbMock
        .on(UpdateCommand, { Key: U1 })
        .resolves({ Attributes: { event_count: 3002, alerted_multiple: 1 } });

      await invoke();

      const thresholds = snsMock
        .commandCalls(PublishCommand)
        .map((call) => JSON.parse(call.args[0].input.Message ?? '').threshold);
      expect(thresholds).toEqual([2000, 3000]);
      expect(alertMarks()[0]?.ExpressionAttributeValues).toEqual({ ':multiple': 3 });
    });

    it('does not alert again while the count stays below the next multiple', async () => {
      ddbMock
        .on(UpdateCommand, { Key: U1 })
        .resolves({ Attributes: { event_count: 1999, alerted_multiple: 1 } });

      await invoke();

      expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
      expect(alertMarks()).toHaveLength(0);
    });

    it('publishes an alert still pending from a failed publish when the batch is redelivered', async () => {
      ddbMock.on(UpdateCommand, { Key: U1 }).rejects(conditionFailed());
      ddbMock
        .on(GetCommand, { Key: U1 })
        .resolves({ Item: { event_count: 1002, seq_hwm: padSequence(SEQ_3) } });

      await invoke();

      expect(totalsUpdates().filter((input) => input.Key?.PK === 'USER#u-001')).toHaveLength(1);
      expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
      expect(alertMarks()[0]?.ExpressionAttributeValues).toEqual({ ':multiple': 1 });
    });

    it('fails only the records of the user whose alert could not be published', async () => {
      ddbMock.on(UpdateCommand, { Key: U1 }).resolves({ Attributes: { event_count: 1001 } });
      snsMock.on(PublishCommand).rejects(new Error('SNS unavailable'));

      const response = await invoke();

      expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([SEQ_1, SEQ_3]);
      expect(alertMarks()).toHaveLength(0);
    });
  });

  describe('partial failures', () => {
    it('fails a poison record alone and applies the rest of the batch', async () => {
      const event = loadEvent<DynamoDBStreamEvent>('stream-aggregator.json');
      const poison = event.Records[1]?.dynamodb?.NewImage;
      if (poison) poison.value = { S: 'not a number' };

      const response = await invoke(event);

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: SEQ_2 }] });
      expect(totalsUpdates().map((input) => input.Key)).toEqual([U1]);
    });

    it('fails only the records of the user whose update failed', async () => {
      ddbMock.on(UpdateCommand, { Key: U2 }).rejects(new Error('ProvisionedThroughputExceeded'));

      const response = await invoke();

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: SEQ_2 }] });
    });

    it('throws when every record fails, so Lambda retries and bisects the batch', async () => {
      ddbMock.on(UpdateCommand).rejects(new Error('DynamoDB unavailable'));

      await expect(invoke()).rejects.toBeInstanceOf(FullBatchFailureError);
    });
  });
});
