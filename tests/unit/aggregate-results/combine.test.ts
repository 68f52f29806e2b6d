import { describe, expect, it } from 'vitest';
import {
  combinePartials,
  contributionsOf,
  lanePagesOf,
  PAGE_LIMITS,
  summarise,
} from '../../../functions/aggregate-results/combine.ts';
import { LANE_COUNT, laneOf } from '../../../functions/shared/keys.ts';
import type { Group, UserContribution } from '../../../functions/shared/model.ts';

const FILE_ID = '7dbcd3ab4fa76a0bda11b421';

const group = (userId: string, day: string, count: number, total: number, squares = total * total): Group => [
  userId,
  day,
  count,
  total,
  squares,
];

/** Consecutive ISO dates from 2020-01-01. */
const days = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 10));

/** A contribution of one event per day over `dayCount` days. */
const contribution = (userId: string, dayCount = 1): UserContribution => ({
  userId,
  count: dayCount,
  total: dayCount,
  squares: dayCount,
  days: days(dayCount).map((day): [string, number, number] => [day, 1, 1]),
});

const byUserId = (a: UserContribution, b: UserContribution) =>
  a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0;

/** Contributions of users who all fall in `lane`, in user id order, with the given numbers of days. */
const inLane = (lane: number, dayCounts: number[]): UserContribution[] => {
  const ids: string[] = [];
  for (let n = 0; ids.length < dayCounts.length; n += 1) {
    if (laneOf(`user-${n}`) === lane) ids.push(`user-${n}`);
  }
  return ids.sort().map((userId, i) => contribution(userId, dayCounts[i]));
};
const ones = (count: number): number[] => new Array<number>(count).fill(1);
const idsOf = (users: UserContribution[]): string[] => users.map((user) => user.userId);

describe('combinePartials', () => {
  it('adds counts, totals and squares of the same user and day across chunks', () => {
    const combined = combinePartials([
      {
        chunk: 0,
        stored: 3,
        groups: [
          ['u1', '2026-01-15', 2, 3.5, 6.25],
          ['u2', '2026-01-15', 1, 1, 1],
        ],
      },
      {
        chunk: 1,
        stored: 2,
        groups: [
          ['u1', '2026-01-15', 1, 0.5, 0.25],
          ['u1', '2026-01-16', 1, 7, 49],
        ],
      },
    ]);

    expect(combined.storedRows).toBe(5);
    expect(combined.groups).toEqual([
      ['u1', '2026-01-15', 3, 4, 6.5],
      ['u2', '2026-01-15', 1, 1, 1],
      ['u1', '2026-01-16', 1, 7, 49],
    ]);
  });

  it('gives the same result whatever order the partials arrive in', () => {
    const partials = [
      { chunk: 2, stored: 1, groups: [group('u1', '2026-01-15', 1, 0.1)] },
      { chunk: 0, stored: 1, groups: [group('u1', '2026-01-15', 1, 0.2)] },
      { chunk: 1, stored: 1, groups: [group('u1', '2026-01-15', 1, 0.3)] },
    ];

    expect(combinePartials(partials)).toEqual(combinePartials([...partials].reverse()));
  });

  it('does not change the partials it is given', () => {
    const partial = { chunk: 0, stored: 1, groups: [group('u1', '2026-01-15', 1, 1)] };

    combinePartials([partial, { chunk: 1, stored: 1, groups: [group('u1', '2026-01-15', 1, 1)] }]);

    expect(partial.groups).toEqual([group('u1', '2026-01-15', 1, 1)]);
  });
});

describe('summarise', () => {
  it('counts distinct users and user-days', () => {
    const summary = summarise([
      group('u1', '2026-01-15', 2, 1),
      group('u1', '2026-01-16', 1, 1),
      group('u2', '2026-01-15', 1, 1),
    ]);

    expect(summary).toMatchObject({ users: 2, userDays: 3 });
  });

  it('ranks top users by event count across days, highest first', () => {
    const { topUsers } = summarise([
      group('u1', '2026-01-15', 2, 10),
      group('u2', '2026-01-15', 5, 1),
      group('u1', '2026-01-16', 4, 5),
      group('u3', '2026-01-15', 1, 100),
    ]);

    expect(topUsers).toEqual([
      { userId: 'u1', eventCount: 6, totalValue: 15 },
      { userId: 'u2', eventCount: 5, totalValue: 1 },
      { userId: 'u3', eventCount: 1, totalValue: 100 },
    ]);
  });

  it('breaks ties in event count by user id, so the ranking is deterministic', () => {
    const { topUsers } = summarise([
      group('carol', '2026-01-15', 3, 0),
      group('alice', '2026-01-15', 3, 0),
      group('bob', '2026-01-15', 3, 0),
    ]);

    expect(topUsers.map((user) => user.userId)).toEqual(['alice', 'bob', 'carol']);
  });

  it('keeps only the top five users', () => {
    const groups: Group[] = Array.from({ length: 8 }, (_, i) => group(`u${i}`, '2026-01-15', i + 1, 0));

    const { topUsers } = summarise(groups);

    expect(topUsers.map((user) => user.userId)).toEqual(['u7', 'u6', 'u5', 'u4', 'u3']);
  });
});

describe('contributionsOf', () => {
  it('sums each user’s count, total and squares over the user’s days', () => {
    const [u1] = contributionsOf([
      group('u1', '2026-01-15', 2, 3, 5),
      group('u1', '2026-01-16', 1, 4, 16),
      group('u1', '2026-01-17', 3, -1, 9),
    ]);

    expect(u1).toMatchObject({ userId: 'u1', count: 6, total: 6, squares: 30 });
  });

  it('lists each user’s days in date order as [day, count, total]', () => {
    const [u1] = contributionsOf([
      group('u1', '2026-01-17', 3, -1),
      group('u1', '2026-01-15', 2, 3),
      group('u1', '2026-01-16', 1, 4),
    ]);

    expect(u1?.days).toEqual([
      ['2026-01-15', 2, 3],
      ['2026-01-16', 1, 4],
      ['2026-01-17', 3, -1],
    ]);
  });

  it('gives one contribution per user, in user id order', () => {
    const contributions = contributionsOf([
      group('carol', '2026-01-15', 1, 1),
      group('alice', '2026-01-15', 1, 1),
      group('carol', '2026-01-16', 1, 1),
      group('bob', '2026-01-15', 1, 1),
    ]);

    expect(contributions.map((user) => user.userId)).toEqual(['alice', 'bob', 'carol']);
  });

  it('does not change the groups it is given', () => {
    const groups = [group('u1', '2026-01-16', 1, 1), group('u1', '2026-01-15', 1, 1)];
    const before = structuredClone(groups);

    contributionsOf(groups);

    expect(groups).toEqual(before);
  });
});

describe('lanePagesOf', () => {
  it('returns LANE_COUNT lanes, an empty one for each lane without users', () => {
    const user = 'u1';

    const lanes = lanePagesOf(FILE_ID, [contribution(user)]);

    expect(lanes).toHaveLength(LANE_COUNT);
    expect(lanes.map((pages) => pages.length)).toEqual(
      Array.from({ length: LANE_COUNT }, (_, lane) => (lane === laneOf(user) ? 1 : 0)),
    );
  });

  it('puts every user in the lane laneOf gives', () => {
    const contributions = Array.from({ length: 200 }, (_, n) => contribution(`user-${n}`)).sort(byUserId);

    const lanes = lanePagesOf(FILE_ID, contributions);

    for (const [lane, pages] of lanes.entries()) {
      for (const page of pages) {
        expect(page.lane).toBe(lane);
        for (const user of page.users) expect(laneOf(user.userId)).toBe(lane);
      }
    }
    expect(lanes.flat().flatMap((page) => page.users)).toHaveLength(200);
  });

  it('numbers a lane’s pages 0, 1, 2… and names the file and lane on each', () => {
    const users = inLane(3, ones(2 * PAGE_LIMITS.users + 1));

    const pages = lanePagesOf(FILE_ID, users)[3] ?? [];

    expect(pages.map(({ fileId, lane, page }) => ({ fileId, lane, page }))).toEqual([
      { fileId: FILE_ID, lane: 3, page: 0 },
      { fileId: FILE_ID, lane: 3, page: 1 },
      { fileId: FILE_ID, lane: 3, page: 2 },
    ]);
  });

  it('keeps the users of a lane in the order given', () => {
    const users = inLane(5, ones(4));

    const pages = lanePagesOf(FILE_ID, users)[5] ?? [];

    expect(pages).toEqual([{ fileId: FILE_ID, lane: 5, page: 0, users }]);
  });

  it('fills a page with up to PAGE_LIMITS.users users', () => {
    const users = inLane(0, ones(PAGE_LIMITS.users));

    const pages = lanePagesOf(FILE_ID, users)[0] ?? [];

    expect(pages.map((page) => page.users.length)).toEqual([PAGE_LIMITS.users]);
  });

  it('starts a new page after PAGE_LIMITS.users users', () => {
    const users = inLane(0, ones(PAGE_LIMITS.users + 1));

    const pages = lanePagesOf(FILE_ID, users)[0] ?? [];

    expect(pages.map((page) => idsOf(page.users))).toEqual([
      idsOf(users.slice(0, PAGE_LIMITS.users)),
      idsOf(users.slice(PAGE_LIMITS.users)),
    ]);
  });

  it('fills a page with up to PAGE_LIMITS.userDays user-days', () => {
    const half = PAGE_LIMITS.userDays / 2;
    const users = inLane(7, [half, half]);

    const pages = lanePagesOf(FILE_ID, users)[7] ?? [];

    expect(pages.map((page) => idsOf(page.users))).toEqual([idsOf(users)]);
  });

  it('starts a new page for the user whose days would take the page past PAGE_LIMITS.userDays', () => {
    const half = PAGE_LIMITS.userDays / 2;
    const users = inLane(7, [half, half, 1]);
    const [a, b, c] = idsOf(users);

    const pages = lanePagesOf(FILE_ID, users)[7] ?? [];

    expect(pages.map((page) => idsOf(page.users))).toEqual([[a, b], [c]]);
  });

  it('counts the user-days of each page afresh, not of the whole lane', () => {
    const users = inLane(11, [4000, 4000, 500, 500]);
    const [a, b, c, d] = idsOf(users);

    const pages = lanePagesOf(FILE_ID, users)[11] ?? [];

    expect(pages.map((page) => idsOf(page.users))).toEqual([[a], [b, c, d]]);
  });

  it('gives a user with more than PAGE_LIMITS.userDays days a page of its own, and no empty page', () => {
    const users = inLane(9, [1, PAGE_LIMITS.userDays + 1, 1]);
    const [small, big, after] = idsOf(users);

    const pages = lanePagesOf(FILE_ID, users)[9] ?? [];

    expect(pages.map((page) => idsOf(page.users))).toEqual([[small], [big], [after]]);
  });

  it('pages each lane on its own, so a full lane does not move another lane’s users', () => {
    const full = inLane(2, ones(PAGE_LIMITS.users + 1));
    const other = inLane(4, [1]);

    const lanes = lanePagesOf(FILE_ID, [...full, ...other].sort(byUserId));

    expect(lanes[2]?.map((page) => page.users.length)).toEqual([PAGE_LIMITS.users, 1]);
    expect(lanes[4]).toEqual([{ fileId: FILE_ID, lane: 4, page: 0, users: other }]);
  });

  it('gives the same pages for the same contributions', () => {
    const contributions = Array.from({ length: 3000 }, (_, n) => contribution(`user-${n}`, 1 + (n % 7))).sort(
      byUserId,
    );

    const first = lanePagesOf(FILE_ID, structuredClone(contributions));
    const second = lanePagesOf(FILE_ID, structuredClone(contributions));

    expect(second).toEqual(first);
  });
});
