import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { scoringPageKeyOf } from '../../../functions/shared/keys.ts';
import type { LanePage, ScoringPage, UsersAggregatedEvent } from '../../../functions/shared/model.ts';
import { type AggregatorDeps, aggregateBatch } from '../../../functions/stream-aggregator/aggregate.ts';
import { LaneBlockedError, LaneMismatchError } from '../../../functions/stream-aggregator/errors.ts';
import { padSequence } from '../../../functions/stream-aggregator/records.ts';
import { guardOf } from '../../../functions/stream-aggregator/totals.ts';
import {
  conditionFailed,
  FILE,
  LANE_SEQ,
  laneEvent,
  markerKeyOf,
  pageKeyOf,
  pageOf,
  totalsKeyOf,
  userOf,
} from './lanes.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);

// The fixture's pages: u-001 and u-021 in LANE#00 page 0, u-002 in LANE#12 page 0, u-038 in LANE#00 page 1.
const PAGE_0_0 = pageOf(0, 0, [userOf('u-001'), userOf('u-021')]);
const PAGE_12_0 = pageOf(12, 0, [userOf('u-002')]);
const PAGE_0_1 = pageOf(0, 1, [userOf('u-038')]);

type Deps = AggregatorDeps & {
  read: string[];
  scoring: { bucket: string; key: string; page: ScoringPage }[];
  published: UsersAggregatedEvent[];
};

/** What the aggregator did, in order: totals updates, scoring writes, publishes and markers. */
let log: string[] = [];

/** Deps whose staged objects are `objects` (by key), the fixture's pages unless told otherwise. */
const depsWith = (objects: Record<string, LanePage> = {}): Deps => {
  const staged: Record<string, LanePage> = {
    [pageKeyOf(0, 0)]: PAGE_0_0,
    [pageKeyOf(12, 0)]: PAGE_12_0,
    [pageKeyOf(0, 1)]: PAGE_0_1,
    ...objects,
  };
  const read: string[] = [];
  const scoring: Deps['scoring'] = [];
  const published: UsersAggregatedEvent[] = [];
  return {
    table: 'test-table',
    topicArn: 'arn:aws:sns:us-east-1:123456789012:alerts',
    policy: { threshold: 1000, everyMultiple: true },
    userConcurrency: 16,
    read,
    scoring,
    published,
    readPage: async (_bucket, key) => {
      read.push(key);
      const page = staged[key];
      if (page === undefined) throw new Error(`no object ${key}`);
      return page;
    },
    writeScoring: async (bucket, key, page) => {
      log.push(`scoring ${key}`);
      scoring.push({ bucket, key, page: structuredClone(page) });
    },
    publishAggregated: async (event) => {
      log.push(`publish ${event.scoringKey}`);
      published.push(structuredClone(event));
    },
  };
};

const scoringKeyOf = (lane: number, page: number) => scoringPageKeyOf(FILE.fileId, lane, page);
const scoringOf = (deps: Deps, lane: number, page: number) =>
  deps.scoring.find((written) => written.key === scoringKeyOf(lane, page));

const totalsAdds = () =>
  ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.ReturnValues === 'ALL_NEW')
    .map((input) => input.Key?.PK);
const markers = () => ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input.Item?.SK);

/** The fixture's records, by name, and the batch's failure of each. */
const run = async (deps: AggregatorDeps) => {
  const records = laneEvent().Records;
  const [lane0Page0, lane12Page0, lane0Page1] = records;
  const outcome = await aggregateBatch(records, deps);
  const failureOf = (record: DynamoDBRecord | undefined) =>
    record === undefined ? undefined : outcome.failures.get(record);
  return {
    outcome,
    lane0Page0: failureOf(lane0Page0),
    lane12Page0: failureOf(lane12Page0),
    lane0Page1: failureOf(lane0Page1),
  };
};

describe('aggregateBatch', () => {
  beforeEach(() => {
    log = [];
    ddbMock.reset();
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(PutCommand).callsFake((input) => {
      log.push(`marker ${input.Item?.SK}`);
      return {};
    });
    // ALL_NEW of a user seen for the first time: the update's own sums, at its guard.
    ddbMock.on(UpdateCommand).callsFake((input) => {
      const values = input.ExpressionAttributeValues ?? {};
      log.push(`totals ${input.Key?.PK}`);
      return {
        Attributes: {
          event_count: values[':count'],
          total_value: values[':total'],
          sum_squares: values[':squares'],
          applied_seq: values[':seq'],
        },
      };
    });
  });

  it('applies every page of the fixture and fails no record', async () => {
    const { outcome } = await run(depsWith());

    expect(outcome.failures.size).toBe(0);
    expect(outcome.pages).toBe(3);
  });

  describe('a page object that is not the page its record names', () => {
    it.each([
      ['names another file', { ...PAGE_0_0, fileId: '0123456789abcdef01234567' }],
      ['names another lane', { ...PAGE_0_0, lane: 12 }],
      ['names another page', { ...PAGE_0_0, page: 1 }],
      ['holds a user of another lane', { ...PAGE_0_0, users: [...PAGE_0_0.users, userOf('u-002')] }],
    ])('fails with LaneMismatchError when it %s, applying none of its users', async (_case, object) => {
      const { lane0Page0 } = await run(depsWith({ [pageKeyOf(0, 0)]: object }));

      expect(lane0Page0).toBeInstanceOf(LaneMismatchError);
      expect(totalsAdds()).not.toContain('USER#u-001');
      expect(totalsAdds()).not.toContain('USER#u-021');
      expect(markers()).not.toContain(markerKeyOf(0, 0).SK);
    });

    it('blocks the later records of its lane, unread, with the mismatch as the cause', async () => {
      const deps = depsWith({ [pageKeyOf(0, 0)]: { ...PAGE_0_0, page: 1 } });

      const { lane0Page0, lane0Page1 } = await run(deps);

      expect(lane0Page1).toBeInstanceOf(LaneBlockedError);
      expect(lane0Page1?.cause).toBe(lane0Page0);
      expect(deps.read).not.toContain(pageKeyOf(0, 1));
      expect(totalsAdds()).not.toContain('USER#u-038');
    });

    it('lets the other lanes apply', async () => {
      const { outcome, lane12Page0 } = await run(
        depsWith({ [pageKeyOf(0, 0)]: { ...PAGE_0_0, fileId: '0123456789abcdef01234567' } }),
      );

      expect(lane12Page0).toBeUndefined();
      expect(outcome.pages).toBe(1);
      expect(totalsAdds()).toEqual(['USER#u-002']);
      expect(markers()).toEqual([markerKeyOf(12, 0).SK]);
    });
  });
  describe('the scoring input of an applied page', () => {
    it('is written to the page’s scoring key, a user seen for the first time with an empty history', async () => {
      const deps = depsWith();

      await run(deps);

      expect(scoringOf(deps, 12, 0)).toEqual({
        bucket: FILE.bucket,
        key: `staging/${FILE.fileId}/scoring/12/00000.json`,
        page: {
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
        },
      });
    });

    it('gives each user, in page order, its totals just before the file', async () => {
      // u-001 had 100 events of mean 10 and variance 4 before the file; u-021 none.
      ddbMock.on(UpdateCommand, { Key: totalsKeyOf('u-001'), ReturnValues: 'ALL_NEW' }).resolves({
        Attributes: {
          event_count: 102,
          total_value: 1_010,
          sum_squares: 10_458,
          applied_seq: guardOf(padSequence(LANE_SEQ.lane0Page0), 0),
        },
      });
      const deps = depsWith();

      await run(deps);

      expect(scoringOf(deps, 0, 0)?.page.users).toEqual([
        {
          userId: 'u-001',
          eventCount: 2,
          totalValue: 10,
          history: { eventCount: 100, totalValue: 1_000, sumSquares: 10_400 },
        },
        {
          userId: 'u-021',
          eventCount: 2,
          totalValue: 10,
          history: { eventCount: 0, totalValue: 0, sumSquares: 0 },
        },
      ]);
    });

    it('on a redelivery, takes the history from the totals read back when the user’s update is skipped', async () => {
      // The page's users were applied by an earlier delivery that stopped before the marker.
      ddbMock
        .on(UpdateCommand, { Key: totalsKeyOf('u-002'), ReturnValues: 'ALL_NEW' })
        .rejects(conditionFailed());
      ddbMock.on(GetCommand, { Key: totalsKeyOf('u-002') }).resolves({
        Item: {
          ...totalsKeyOf('u-002'),
          event_count: 32,
          total_value: 310,
          sum_squares: 3_258,
          applied_seq: guardOf(padSequence(LANE_SEQ.lane12Page0), 0),
        },
      });
      const deps = depsWith();

      const { lane12Page0 } = await run(deps);

      expect(lane12Page0).toBeUndefined();
      expect(
        ddbMock.commandCalls(GetCommand, { Key: totalsKeyOf('u-002'), ConsistentRead: true }),
      ).toHaveLength(1);
      expect(scoringOf(deps, 12, 0)?.page.users).toEqual([
        {
          userId: 'u-002',
          eventCount: 2,
          totalValue: 10,
          history: { eventCount: 30, totalValue: 300, sumSquares: 3_200 },
        },
      ]);
    });

    it('is written and announced after the page’s users and before its marker', async () => {
      await run(depsWith());

      const page = (entry: string) =>
        entry === 'totals USER#u-002' || entry.includes('/scoring/12/') || entry.endsWith('#12#00000');
      expect(log.filter(page)).toEqual([
        'totals USER#u-002',
        `scoring ${scoringKeyOf(12, 0)}`,
        `publish ${scoringKeyOf(12, 0)}`,
        `marker ${markerKeyOf(12, 0).SK}`,
      ]);
    });

    it('is announced once per applied page with a UsersAggregated event naming it', async () => {
      const deps = depsWith();

      await run(deps);

      const event = (lane: number, page: number, users: number): UsersAggregatedEvent => ({
        type: 'UsersAggregated',
        fileId: FILE.fileId,
        bucket: FILE.bucket,
        key: FILE.key,
        lane,
        page,
        scoringKey: scoringKeyOf(lane, page),
        users,
      });
      expect(deps.published.toSorted((a, b) => a.scoringKey.localeCompare(b.scoringKey))).toEqual([
        event(0, 0, 2),
        event(0, 1, 1),
        event(12, 0, 1),
      ]);
    });

    it('is neither written nor announced for a page skipped by its marker', async () => {
      ddbMock
        .on(GetCommand, { Key: markerKeyOf(0, 0) })
        .resolves({ Item: { ...markerKeyOf(0, 0), type: 'APPLIED' } });
      const deps = depsWith();

      const { outcome } = await run(deps);

      expect(outcome.skippedPages).toBe(1);
      expect(deps.scoring.map((written) => written.key).sort()).toEqual([
        scoringKeyOf(0, 1),
        scoringKeyOf(12, 0),
      ]);
      expect(deps.published.map((event) => event.scoringKey).sort()).toEqual([
        scoringKeyOf(0, 1),
        scoringKeyOf(12, 0),
      ]);
    });

    it('fails its page unmarked when it cannot be announced, blocking the page’s lane', async () => {
      const unavailable = new Error('SNS unavailable');
      const deps = depsWith();
      const publish = deps.publishAggregated;
      deps.publishAggregated = async (event) => {
        if (event.lane === 0) throw unavailable;
        await publish(event);
      };

      const { lane0Page0, lane0Page1, lane12Page0 } = await run(deps);

      expect(lane0Page0).toBe(unavailable);
      expect(lane0Page1).toBeInstanceOf(LaneBlockedError);
      expect(lane0Page1?.cause).toBe(unavailable);
      expect(lane12Page0).toBeUndefined();
      expect(deps.read).not.toContain(pageKeyOf(0, 1));
      expect(markers()).toEqual([markerKeyOf(12, 0).SK]);
    });

    it('fails its page unmarked and unannounced when it cannot be written', async () => {
      const denied = new Error('AccessDenied');
      const deps = depsWith();
      deps.writeScoring = async () => {
        throw denied;
      };

      const { outcome, lane12Page0 } = await run(deps);

      expect(lane12Page0).toBe(denied);
      expect(outcome.failures.size).toBe(3);
      expect(deps.published).toEqual([]);
      expect(markers()).toEqual([]);
    });
  });
});
