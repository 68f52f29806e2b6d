import { describe, expect, it } from 'vitest';
import { partialGroupsOf } from '../../../functions/process-records/chunk.ts';
import type { StagedRow } from '../../../functions/shared/model.ts';

const row = (r: number, u: string, t: string, v: number, ts: string): StagedRow => ({ r, u, t, v, ts });

describe('partialGroupsOf', () => {
  it('counts the rows of one user and UTC day and sums their values and squared values', () => {
    const groups = partialGroupsOf([
      row(1, 'u1', 'click', 1.5, '2026-01-15T10:00:00.000Z'),
      row(2, 'u1', 'buy', -2, '2026-01-15T11:00:00.000Z'),
      row(3, 'u1', 'view', 3, '2026-01-15T12:00:00.000Z'),
    ]);

    expect(groups).toEqual([['u1', '2026-01-15', 3, 2.5, 15.25]]);
  });

  it('keeps one group per user and day, splitting at UTC midnight', () => {
    const groups = partialGroupsOf([
      row(1, 'u1', 'click', 1, '2026-01-15T23:59:59.999Z'),
      row(2, 'u1', 'click', 2, '2026-01-16T00:00:00.000Z'),
      row(3, 'u2', 'click', 4, '2026-01-15T08:00:00.000Z'),
    ]);

    expect(groups.map(([userId, day, count]) => [userId, day, count])).toEqual([
      ['u1', '2026-01-15', 1],
      ['u1', '2026-01-16', 1],
      ['u2', '2026-01-15', 1],
    ]);
  });
});
