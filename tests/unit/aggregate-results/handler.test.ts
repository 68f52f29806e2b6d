import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { PAGE_LIMITS } from '../../../functions/aggregate-results/combine.ts';
import { handler } from '../../../functions/aggregate-results/index.ts';
import {
  aggregatesKeyOf,
  LANE_COUNT,
  laneOf,
  lanePageKeyOf,
  partialKeyOf,
} from '../../../functions/shared/keys.ts';
import type {
  AggregatesFile,
  AggregateTask,
  ChunkPartial,
  Group,
  LanePage,
} from '../../../functions/shared/model.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';
import { bodyText, s3Body } from '../../helpers/s3.ts';

type AggregateEvent = AggregateTask;

const s3Mock = mockClient(S3Client);
const context = lambdaContext('aggregate-results');

/** A group of `count` events of its day, each worth `total / count`. */
const group = (userId: string, day: string, count: number, total: number): Group => [
  userId,
  day,
  count,
  total,
  (total * total) / count,
];

/** Pages per lane for a file whose few users are the given ones: one page in each of their lanes. */
const lanePagesFor = (...userIds: string[]): number[] =>
  Array.from({ length: LANE_COUNT }, (_, lane) =>
    userIds.some((userId) => laneOf(userId) === lane) ? 1 : 0,
  );

const LANE = 6;

/** The first `count` user ids of the form `user-<n>` that fall in `lane`. */
const usersInLane = (lane: number, count: number): string[] => {
  const users: string[] = [];
  for (let n = 0; users.length < count; n += 1) if (laneOf(`user-${n}`) === lane) users.push(`user-${n}`);
  return users;
};

/** A partial of two users of `lane` with more than half of PAGE_LIMITS.userDays days each: two pages. */
const twoPagesOfLane = (lane: number): { partial: ChunkPartial; users: string[] } => {
  const users = usersInLane(lane, 2);
  const dates = Array.from({ length: PAGE_LIMITS.userDays / 2 + 1 }, (_, i) =>
    new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 10),
  );
  const groups = users.flatMap((userId) => dates.map((date) => group(userId, date, 1, 1)));
  return { partial: { chunk: 0, stored: groups.length, groups }, users };
};

const givenPartials = (event: AggregateEvent, partials: ChunkPartial[]) => {
  for (const partial of partials) {
    s3Mock
      .on(GetObjectCommand, {
        Bucket: event.file.bucket,
        Key: partialKeyOf(event.file.fileId, partial.chunk),
      })
      .callsFake(() => ({ Body: s3Body(JSON.stringify(partial)) }));
  }
};

const puts = () =>
  new Map(s3Mock.commandCalls(PutObjectCommand).map(({ args: [{ input }] }) => [input.Key, input]));

describe('aggregate-results handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    s3Mock.on(PutObjectCommand).resolves({});
  });

  it('combines every chunk’s partial and returns counts, the aggregates key and the top users', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 2 };
    givenPartials(event, [
      {
        chunk: 0,
        stored: 3,
        groups: [group('u1', '2026-01-15', 2, 3), group('u2', '2026-01-15', 1, 1)],
      },
      {
        chunk: 1,
        stored: 2,
        groups: [group('u2', '2026-01-15', 1, 1), group('u2', '2026-01-16', 1, 2)],
      },
    ]);

    const aggregate = await handler(event, context);

    expect(aggregate).toEqual({
      storedRows: 5,
      users: 2,
      userDays: 3,
      aggregatesKey: aggregatesKeyOf(event.file.fileId),
      topUsers: [
        { userId: 'u2', eventCount: 3, totalValue: 4 },
        { userId: 'u1', eventCount: 2, totalValue: 3 },
      ],
      lanePages: lanePagesFor('u1', 'u2'),
    });
  });

  it('writes the combined groups to the aggregates file for StoreResults', async () => {
    const event = loadEvent<AggregateEvent>('aggregate-results.json');
    givenPartials(event, [{ chunk: 0, stored: 2, groups: [group('u1', '2026-01-15', 2, 3)] }]);

    await handler(event, context);

    const put = puts().get(aggregatesKeyOf(event.file.fileId));
    expect(put?.ContentType).toBe('application/json');
    expect(JSON.parse(bodyText(put?.Body)) as AggregatesFile).toEqual({
      fileId: event.file.fileId,
      storedRows: 2,
      groups: [group('u1', '2026-01-15', 2, 3)],
    });
  });

  it('reads the partial of every chunk, also past one batch of concurrent reads', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 40 };
    givenPartials(
      event,
      Array.from({ length: 40 }, (_, chunk) => ({
        chunk,
        stored: 1,
        groups: [group('u1', '2026-01-15', 1, 1)],
      })),
    );

    const aggregate = await handler(event, context);

    const keys = s3Mock.commandCalls(GetObjectCommand).map((call) => call.args[0].input.Key);
    expect(new Set(keys)).toEqual(
      new Set(Array.from({ length: 40 }, (_, i) => partialKeyOf(event.file.fileId, i))),
    );
    expect(aggregate.storedRows).toBe(40);
  });

  it('writes each lane page as JSON at its lanePageKeyOf key', async () => {
    const event = loadEvent<AggregateEvent>('aggregate-results.json');
    givenPartials(event, [
      {
        chunk: 0,
        stored: 4,
        groups: [
          ['u1', '2026-01-16', 1, 2, 4],
          ['u1', '2026-01-15', 2, 3, 5],
          ['u2', '2026-01-15', 1, 1, 1],
        ],
      },
    ]);

    await handler(event, context);

    const put = puts().get(lanePageKeyOf(event.file.fileId, laneOf('u1'), 0));
    expect(put?.ContentType).toBe('application/json');
    expect(JSON.parse(bodyText(put?.Body)) as LanePage).toEqual({
      fileId: event.file.fileId,
      lane: laneOf('u1'),
      page: 0,
      users: [
        {
          userId: 'u1',
          count: 3,
          total: 5,
          squares: 9,
          days: [
            ['2026-01-15', 2, 3],
            ['2026-01-16', 1, 2],
          ],
        },
      ],
    });
  });

  it('writes one object per lane page besides the aggregates file, and nothing for empty lanes', async () => {
    const event = loadEvent<AggregateEvent>('aggregate-results.json');
    givenPartials(event, [
      { chunk: 0, stored: 2, groups: [group('u1', '2026-01-15', 1, 1), group('u2', '2026-01-15', 1, 1)] },
    ]);

    await handler(event, context);

    const keys = s3Mock.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key);
    expect(keys.sort()).toEqual(
      [
        aggregatesKeyOf(event.file.fileId),
        lanePageKeyOf(event.file.fileId, laneOf('u1'), 0),
        lanePageKeyOf(event.file.fileId, laneOf('u2'), 0),
      ].sort(),
    );
  });

  it('writes each page of a lane that needs more than one at its own key', async () => {
    const event = loadEvent<AggregateEvent>('aggregate-results.json');
    const { partial, users } = twoPagesOfLane(LANE);
    givenPartials(event, [partial]);

    await handler(event, context);

    const pages = [0, 1].map(
      (page) =>
        JSON.parse(bodyText(puts().get(lanePageKeyOf(event.file.fileId, LANE, page))?.Body)) as LanePage,
    );
    expect(pages.map((page) => page.users.map((user) => user.userId))).toEqual(users.map((user) => [user]));
  });

  it('returns the number of pages of every lane, for StoreResults to hand over', async () => {
    const event = loadEvent<AggregateEvent>('aggregate-results.json');
    const { partial } = twoPagesOfLane(LANE);
    givenPartials(event, [partial]);

    const aggregate = await handler(event, context);

    expect(aggregate.lanePages).toEqual(
      Array.from({ length: LANE_COUNT }, (_, lane) => (lane === LANE ? 2 : 0)),
    );
  });

  it('writes the same page objects when the same partials are aggregated again', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 2 };
    givenPartials(event, [
      {
        chunk: 0,
        stored: 3,
        groups: [group('u1', '2026-01-15', 2, 0.3), group('u2', '2026-01-15', 1, 0.1)],
      },
      {
        chunk: 1,
        stored: 2,
        groups: [group('u2', '2026-01-16', 1, 0.2), group('u1', '2026-01-15', 1, 0.7)],
      },
    ]);
    await handler(event, context);
    const first = [...puts()].map(([key, input]) => [key, bodyText(input.Body)]);
    s3Mock.resetHistory();

    await handler({ ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 2 }, context);

    expect([...puts()].map(([key, input]) => [key, bodyText(input.Body)])).toEqual(first);
  });

  it('fails with ChunkNotFoundError when a chunk’s partial is missing, rather than under-count', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 3 };
    givenPartials(event, [
      { chunk: 0, stored: 1, groups: [group('u1', '2026-01-15', 1, 1)] },
      { chunk: 2, stored: 1, groups: [group('u1', '2026-01-15', 1, 1)] },
    ]);

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'ChunkNotFoundError' });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('fails with InvalidTaskInputError when there are no chunks to aggregate', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 0 };

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });
});
