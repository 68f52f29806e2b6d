import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/analytics-api/index.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);

type Fixture = 'api-user-aggregates.json' | 'api-user-events.json' | 'api-file.json' | 'api-user-scores.json';

/** Invokes the API with a fixture, optionally changed, and returns status, headers and parsed body. */
const call = async (fixture: Fixture, change: (event: APIGatewayProxyEvent) => void = () => undefined) => {
  const event = loadEvent<APIGatewayProxyEvent>(fixture);
  change(event);
  const result = await handler(event, lambdaContext('analytics-api'));
  return {
    status: result.statusCode,
    headers: result.headers ?? {},
    body: JSON.parse(result.body ?? 'null'),
  };
};

const withQuery = (query: Record<string, string>) => (event: APIGatewayProxyEvent) => {
  event.queryStringParameters = query;
  event.multiValueQueryStringParameters = Object.fromEntries(
    Object.entries(query).map(([name, value]) => [name, [value]]),
  );
};

const withPath = (path: string) => (event: APIGatewayProxyEvent) => {
  event.path = path;
};

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

const storedEvent = (eventId: string, timestamp: string) => ({
  PK: 'USER#u-001',
  SK: `EVENT#${timestamp}#${eventId}`,
  type: 'EVENT',
  userId: 'u-001',
  eventId,
  eventType: 'purchase',
  value: 42.5,
  timestamp,
  fileId: '5f2c9a0d41e8b7c36a9d0e12',
  sourceKey: 'uploads/2026/03/events.csv',
  row: 7,
});

/** The Query of a user's DAILY# month items, as opposed to the one that reads the newest event. */
const MONTHS_QUERY = { KeyConditionExpression: 'PK = :pk AND SK BETWEEN :from AND :to' };

describe('analytics-api', () => {
  beforeEach(() => {
    ddbMock.reset();
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({ Items: [] });
  });

  describe('GET /users/{userId}/aggregates', () => {
    it('returns the stored totals and daily aggregates as JSON', async () => {
      ddbMock.on(GetCommand).resolves({
        Item: {
          PK: 'USER#u-001',
          SK: 'TOTALS',
          event_count: 1200,
          total_value: 15000.5,
          sum_squares: 400000,
          applied_seq: '0000000000004421584500000000017450439093#0000',
          last_updated: '2026-03-01T11:30:00.000Z',
        },
      });
      ddbMock.on(QueryCommand, MONTHS_QUERY).resolves({
        // One month item, its closed days as buckets; 02-28 is outside the range asked for.
        Items: [
          {
            PK: 'USER#u-001',
            SK: 'DAILY#2026-03',
            type: 'DAILY',
            applied_seq: '0000000000004421584500000000017450439093#0000',
            n20260301: 2,
            v20260301: 112.49,
            n20260302: 1,
            v20260302: 30,
          },
        ],
      });

      // The newest EVENT# item: where the latest event type comes from.
      ddbMock
        .on(QueryCommand, { ScanIndexForward: false, Limit: 1 })
        .resolves({ Items: [storedEvent('e-9', '2026-03-02T09:00:00.000Z')] });

      const response = await call('api-user-aggregates.json');

      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.body).toEqual({
        userId: 'u-001',
        totals: {
          event_count: 1200,
          total_value: 15000.5,
          last_event_type: 'purchase',
          last_updated: '2026-03-01T11:30:00.000Z',
        },
        daily: [
          { date: '2026-03-01', event_count: 2, total_value: 112.49 },
          { date: '2026-03-02', event_count: 1, total_value: 30 },
        ],
      });
    });

    it('adds the recent days kept on the TOTALS item to the daily items, within the range', async () => {
      ddbMock.on(GetCommand).resolves({
        Item: {
          PK: 'USER#u-001',
          SK: 'TOTALS',
          event_count: 10,
          total_value: 100,
          // Buckets: 2026-03-02 is also half in its DAILY# month (closing in progress), 03-31 only here,
          // 04-01 is outside the range.
          n20260302: 3,
          v20260302: 7.5,
          n20260331: 4,
          v20260331: 40,
          n20260401: 1,
          v20260401: 1,
        },
      });
      ddbMock.on(QueryCommand, MONTHS_QUERY).resolves({
        Items: [
          { PK: 'USER#u-001', SK: 'DAILY#2026-03', n20260301: 2, v20260301: 20, n20260302: 1, v20260302: 30 },
        ],
      });

      const response = await call('api-user-aggregates.json');

      expect(response.body.daily).toEqual([
        { date: '2026-03-01', event_count: 2, total_value: 20 },
        { date: '2026-03-02', event_count: 4, total_value: 37.5 },
        { date: '2026-03-31', event_count: 4, total_value: 40 },
      ]);
      expect(response.body.totals).toEqual({
        event_count: 10,
        total_value: 100,
        last_event_type: null,
        last_updated: null,
      });
    });

    it('queries the month items of the days between from and to', async () => {
      await call('api-user-aggregates.json');

      expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.ExpressionAttributeValues).toEqual({
        ':pk': 'USER#u-001',
        ':from': 'DAILY#2026-03',
        ':to': 'DAILY#2026-03',
      });
    });

    it('leaves out the days of a month item outside the range', async () => {
      ddbMock.on(QueryCommand, MONTHS_QUERY).resolves({
        Items: [
          { PK: 'USER#u-001', SK: 'DAILY#2026-03', n20260301: 2, v20260301: 20, n20260401: 5, v20260401: 5 },
        ],
      });

      const response = await call('api-user-aggregates.json');

      expect(response.body.daily).toEqual([{ date: '2026-03-01', event_count: 2, total_value: 20 }]);
    });

    it('returns null totals for a user without a TOTALS item', async () => {
      const response = await call('api-user-aggregates.json');

      expect(response.body).toEqual({ userId: 'u-001', totals: null, daily: [] });
    });

    it('rejects a date that is not on the calendar with 400', async () => {
      const response = await call('api-user-aggregates.json', withQuery({ from: '2026-02-30' }));

      expect(response.status).toBe(400);
      expect(response.body.message).toContain('from');
    });

    it('rejects a range longer than 366 days with 400', async () => {
      const response = await call(
        'api-user-aggregates.json',
        withQuery({ from: '2025-01-01', to: '2026-03-01' }),
      );

      expect(response.status).toBe(400);
      expect(response.body.message).toContain('366 days');
    });
  });

  describe('GET /users/{userId}/events', () => {
    it('returns a page of events and an opaque cursor for the next one', async () => {
      const last = storedEvent('9c1b7a3e5d2f8e4a6b02', '2026-03-01T11:30:00.000Z');
      ddbMock.on(QueryCommand).resolves({
        Items: [storedEvent('4d8e2f1a9b3c7e6d5a01', '2026-03-01T10:00:00.000Z'), last],
        LastEvaluatedKey: { PK: last.PK, SK: last.SK },
      });

      const response = await call('api-user-events.json');

      expect(response.status).toBe(200);
      expect(response.body.items[0]).toEqual({
        eventId: '4d8e2f1a9b3c7e6d5a01',
        eventType: 'purchase',
        value: 42.5,
        timestamp: '2026-03-01T10:00:00.000Z',
        fileId: '5f2c9a0d41e8b7c36a9d0e12',
        row: 7,
      });
      expect(response.body.nextCursor).toBe(cursorOf({ PK: last.PK, SK: last.SK }));
    });

    it('queries the time range with the requested limit', async () => {
      await call('api-user-events.json');

      expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
        Limit: 2,
        ExpressionAttributeValues: {
          ':pk': 'USER#u-001',
          ':lower': 'EVENT#2026-03-01T00:00:00.000Z',
          ':upper': 'EVENT#2026-03-31T23:59:59.000Z\uffff',
        },
      });
    });

    it('continues after the key the cursor carries', async () => {
      const key = { PK: 'USER#u-001', SK: 'EVENT#2026-03-01T11:30:00.000Z#9c1b7a3e5d2f8e4a6b02' };

      await call('api-user-events.json', withQuery({ limit: '2', cursor: cursorOf(key) }));

      expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.ExclusiveStartKey).toEqual(key);
    });

    it('returns a null cursor on the last page', async () => {
      const response = await call('api-user-events.json');

      expect(response.body).toEqual({ items: [], nextCursor: null });
    });

    it('uses 25 events a page when no limit is given', async () => {
      await call('api-user-events.json', withQuery({}));

      expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.Limit).toBe(25);
    });

    it.each(['0', '101', '2.5', 'ten'])('rejects limit=%s with 400', async (limit) => {
      const response = await call('api-user-events.json', withQuery({ limit }));

      expect(response.status).toBe(400);
      expect(response.body.message).toContain('limit');
    });

    it('rejects a cursor that is not base64url JSON with 400', async () => {
      const response = await call('api-user-events.json', withQuery({ cursor: 'bm90LWpzb24' }));

      expect(response.status).toBe(400);
      expect(response.body.message).toContain('cursor');
      expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(0);
    });

    it('rejects a cursor that points into another user’s events with 400', async () => {
      const foreign = cursorOf({ PK: 'USER#u-002', SK: 'EVENT#2026-03-01T10:00:00.000Z#x' });

      const response = await call('api-user-events.json', withQuery({ cursor: foreign }));

      expect(response.status).toBe(400);
    });

    it('rejects a from after to with 400', async () => {
      const response = await call(
        'api-user-events.json',
        withQuery({ from: '2026-04-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }),
      );

      expect(response.status).toBe(400);
    });
  });

  describe('GET /files/{key+}', () => {
    it('returns the recorded outcome of a key that contains slashes', async () => {
      ddbMock.on(GetCommand, { Key: { PK: 'FILE#uploads/2026/03/events.csv', SK: 'METADATA' } }).resolves({
        Item: {
          PK: 'FILE#uploads/2026/03/events.csv',
          SK: 'METADATA',
          type: 'FILE',
          key: 'uploads/2026/03/events.csv',
          bucket: 'csv-analytics-databucket-1a2b3c4d5e6f',
          fileId: '5f2c9a0d41e8b7c36a9d0e12',
          status: 'REJECTED',
          executionArn: 'arn:aws:states:us-east-1:123456789012:execution:pipeline:events-5f2c',
          uploadedAt: '2026-03-01T09:59:58Z',
          completedAt: '2026-03-01T10:00:10.000Z',
          rows: { total: 10, stored: 0, rejected: 4 },
          rejectsKey: 'rejected/2026/03/events.csv.5f2c9a0d41e8b7c36a9d0e12.rejects.csv',
          rejectSample: [{ row: 3, reason: 'value is not a number' }],
          destinationKey: 'rejected/2026/03/events.csv',
          reason: '4 of 10 rows rejected',
          error: { Error: 'Lambda.Unknown', Cause: 'stack trace …' },
        },
      });

      const response = await call('api-file.json');

      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        key: 'uploads/2026/03/events.csv',
        fileId: '5f2c9a0d41e8b7c36a9d0e12',
        status: 'REJECTED',
        rows: { total: 10, stored: 0, rejected: 4 },
        rejectsKey: 'rejected/2026/03/events.csv.5f2c9a0d41e8b7c36a9d0e12.rejects.csv',
        rejectSample: [{ row: 3, reason: 'value is not a number' }],
        reason: '4 of 10 rows rejected',
        destinationKey: 'rejected/2026/03/events.csv',
        uploadedAt: '2026-03-01T09:59:58Z',
        completedAt: '2026-03-01T10:00:10.000Z',
      });
    });

    it('decodes an escaped key', async () => {
      await call('api-file.json', withPath('/files/uploads/2026/march%20events.csv'));

      expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input.Key).toEqual({
        PK: 'FILE#uploads/2026/march events.csv',
        SK: 'METADATA',
      });
    });

    it('returns 404 for a key with no recorded outcome', async () => {
      const response = await call('api-file.json');

      expect(response.status).toBe(404);
      expect(response.body.error).toBe('NotFoundError');
    });
  });

  describe('GET /users/{userId}/scores', () => {
    it('returns the user’s scores with the requested limit', async () => {
      ddbMock.on(QueryCommand).resolves({
        Items: [
          {
            PK: 'USER#u-001',
            SK: 'SCORE#5f2c9a0d41e8b7c36a9d0e12',
            type: 'SCORE',
            userId: 'u-001',
            fileId: '5f2c9a0d41e8b7c36a9d0e12',
            sourceKey: 'uploads/2026/03/events.csv',
            score: 0.9545,
            zScore: 2,
            label: 'unusual',
            model: 'zscore-v1',
            eventCount: 4,
            meanValue: 12,
            computedAt: '2026-03-01T10:01:00.000Z',
          },
        ],
      });

      const response = await call('api-user-scores.json');

      expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.Limit).toBe(10);
      expect(response.body).toEqual({
        userId: 'u-001',
        items: [
          {
            fileId: '5f2c9a0d41e8b7c36a9d0e12',
            score: 0.9545,
            zScore: 2,
            label: 'unusual',
            model: 'zscore-v1',
            eventCount: 4,
            meanValue: 12,
            computedAt: '2026-03-01T10:01:00.000Z',
          },
        ],
        nextCursor: null,
      });
    });
  });

  describe('errors', () => {
    it('returns 404 for an unknown route', async () => {
      const response = await call('api-user-scores.json', withPath('/users/u-001/friends'));

      expect(response.status).toBe(404);
    });

    it('returns a generic 500 without internals when DynamoDB fails', async () => {
      ddbMock
        .on(QueryCommand)
        .rejects(new Error('Requested resource not found: Table: test-table not found'));

      const response = await call('api-user-scores.json');

      expect(response.status).toBe(500);
      expect(response.body).toEqual({
        statusCode: 500,
        error: 'InternalServerError',
        message: 'Internal server error',
      });
    });

    it('returns 400 for a path that does not decode', async () => {
      const response = await call('api-file.json', withPath('/files/uploads/%E0%A4%A.csv'));

      expect(response.status).toBe(400);
    });
  });
});
