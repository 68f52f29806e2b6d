import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { pendingMultiples, publishPendingAlerts } from '../../../functions/stream-aggregator/alerts.ts';
import { AlertPublishError } from '../../../functions/stream-aggregator/errors.ts';
import { conditionFailed } from './lanes.ts';

const everyMultiple = { threshold: 1000, everyMultiple: true };
const firstOnly = { threshold: 1000, everyMultiple: false };

describe('pendingMultiples', () => {
  it('is empty below the threshold', () => {
    expect(pendingMultiples({ eventCount: 999, alertedMultiple: 0 }, everyMultiple)).toEqual([]);
  });

  it('holds the first multiple once the count reaches the threshold exactly', () => {
    expect(pendingMultiples({ eventCount: 1000, alertedMultiple: 0 }, everyMultiple)).toEqual([1]);
  });

  it('holds every multiple crossed since the last alert', () => {
    expect(pendingMultiples({ eventCount: 4100, alertedMultiple: 1 }, everyMultiple)).toEqual([2, 3, 4]);
  });

  it('is empty once the reached multiple was alerted', () => {
    expect(pendingMultiples({ eventCount: 2500, alertedMultiple: 2 }, everyMultiple)).toEqual([]);
  });

  it('holds only the first crossing when every-multiple is off', () => {
    expect(pendingMultiples({ eventCount: 5000, alertedMultiple: 0 }, firstOnly)).toEqual([1]);
  });

  it('never alerts again after the first crossing when every-multiple is off', () => {
    expect(pendingMultiples({ eventCount: 5000, alertedMultiple: 1 }, firstOnly)).toEqual([]);
  });
});

describe('publishPendingAlerts', () => {
  const ddbMock = mockClient(DynamoDBDocumentClient);
  const snsMock = mockClient(SNSClient);
  const deps = {
    table: 'test-table',
    topicArn: 'arn:aws:sns:us-east-1:123456789012:alerts',
    policy: everyMultiple,
  };
  const thresholds = () =>
    snsMock
      .commandCalls(PublishCommand)
      .map((call) => JSON.parse(call.args[0].input.Message ?? '').threshold);
  const recorded = () =>
    ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input.ExpressionAttributeValues);

  beforeEach(() => {
    ddbMock.reset();
    snsMock.reset();
    ddbMock.on(UpdateCommand).resolves({});
    snsMock.on(PublishCommand).resolves({ MessageId: 'message-1' });
  });

  it('publishes each further multiple crossed in ascending order and records the highest', async () => {
    const published = await publishPendingAlerts(deps, 'u-001', { eventCount: 3002, alertedMultiple: 1 });

    expect(thresholds()).toEqual([2000, 3000]);
    expect(recorded()).toEqual([{ ':multiple': 3 }]);
    expect(published).toBe(2);
  });

  it('publishes and records nothing while the count stays below the next multiple', async () => {
    await publishPendingAlerts(deps, 'u-001', { eventCount: 1999, alertedMultiple: 1 });

    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('records the multiples that went out before a publish failed, then fails with AlertPublishError', async () => {
    snsMock.on(PublishCommand).resolvesOnce({ MessageId: 'message-1' }).rejects(new Error('SNS unavailable'));

    await expect(
      publishPendingAlerts(deps, 'u-001', { eventCount: 3002, alertedMultiple: 0 }),
    ).rejects.toBeInstanceOf(AlertPublishError);
    expect(recorded()).toEqual([{ ':multiple': 1 }]);
  });

  it('takes a multiple already recorded by an overlapping delivery as recorded', async () => {
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    await expect(publishPendingAlerts(deps, 'u-001', { eventCount: 1001, alertedMultiple: 0 })).resolves.toBe(
      1,
    );
  });
});
