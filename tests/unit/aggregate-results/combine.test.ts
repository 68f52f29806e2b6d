import { describe, expect, it } from 'vitest';
import { combinePartials, summarise } from '../../../functions/aggregate-results/combine.ts';
import type { Group } from '../../../functions/shared/model.ts';

describe('combinePartials', () => {
  it('adds counts and totals of the same user and day across chunks', () => {
    const combined = combinePartials([
      {
        chunk: 0,
        stored: 3,
        groups: [
          ['u1', '2026-01-15', 2, 3.5],
          ['u2', '2026-01-15', 1, 1],
        ],
      },
      {
        chunk: 1,
        stored: 2,
        groups: [
          ['u1', '2026-01-15', 1, 0.5],
          ['u1', '2026-01-16', 1, 7],
        ],
      },
    ]);

    expect(combined.storedRows).toBe(5);
    expect(combined.groups).toEqual([
      ['u1', '2026-01-15', 3, 4],
      ['u2', '2026-01-15', 1, 1],
      ['u1', '2026-01-16', 1, 7],
    ]);
  });

  it('gives the same result whatever order the partials arrive in', () => {
    const partials = [
      { chunk: 2, stored: 1, groups: [['u1', '2026-01-15', 1, 0.1]] as Group[] },
      { chunk: 0, stored: 1, groups: [['u1', '2026-01-15', 1, 0.2]] as Group[] },
      { chunk: 1, stored: 1, groups: [['u1', '2026-01-15', 1, 0.3]] as Group[] },
    ];

    expect(combinePartials(partials)).toEqual(combinePartials([...partials].reverse()));
  });

  it('does not change the partials it is given', () => {
    const partial = { chunk: 0, stored: 1, groups: [['u1', '2026-01-15', 1, 1]] as Group[] };

    combinePartials([partial, { chunk: 1, stored: 1, groups: [['u1', '2026-01-15', 1, 1]] }]);

    expect(partial.groups).toEqual([['u1', '2026-01-15', 1, 1]]);
  });
});

describe('summarise', () => {
  it('counts distinct users and user-days', () => {
    const summary = summarise([
      ['u1', '2026-01-15', 2, 1],
      ['u1', '2026-01-16', 1, 1],
      ['u2', '2026-01-15', 1, 1],
    ]);

    expect(summary).toMatchObject({ users: 2, userDays: 3 });
  });

  it('ranks top users by event count across days, highest first', () => {
    const { topUsers } = summarise([
      ['u1', '2026-01-15', 2, 10],
      ['u2', '2026-01-15', 5, 1],
      ['u1', '2026-01-16', 4, 5],
      ['u3', '2026-01-15', 1, 100],
    ]);

    expect(topUsers).toEqual([
      { userId: 'u1', eventCount: 6, totalValue: 15 },
      { userId: 'u2', eventCount: 5, totalValue: 1 },
      { userId: 'u3', eventCount: 1, totalValue: 100 },
    ]);
  });

  it('breaks ties in event count by user id, so the ranking is deterministic', () => {
    const { topUsers } = summarise([
      ['carol', '2026-01-15', 3, 0],
      ['alice', '2026-01-15', 3, 0],
      ['bob', '2026-01-15', 3, 0],
    ]);

    expect(topUsers.map((user) => user.userId)).toEqual(['alice', 'bob', 'carol']);
  });

  it('keeps only the top five users', () => {
    const groups: Group[] = Array.from({ length: 8 }, (_, i) => [`u${i}`, '2026-01-15', i + 1, 0]);

    const { topUsers } = summarise(groups);

    expect(topUsers.map((user) => user.userId)).toEqual(['u7', 'u6', 'u5', 'u4', 'u3']);
  });
});
