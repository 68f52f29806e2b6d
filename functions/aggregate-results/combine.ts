import { LANE_COUNT, laneOf } from '#shared/keys.ts';
import type { Aggregate, ChunkPartial, Group, LanePage, UserContribution } from '#shared/model.ts';

const TOP_USERS = 5;
/** A page is what one lane applies in one go: bounded, so no invocation grows with the file. */
export const PAGE_LIMITS = { users: 1000, userDays: 5000 };

/** Merges chunk partials into one group per user and day, in chunk order (stable float sums). */
export const combinePartials = (partials: ChunkPartial[]): { storedRows: number; groups: Group[] } => {
  const groups = new Map<string, Group>();
  let storedRows = 0;
  for (const partial of [...partials].sort((a, b) => a.chunk - b.chunk)) {
    storedRows += partial.stored;
    for (const [userId, day, count, total, squares] of partial.groups) {
      const id = `${userId}\u0000${day}`;
      const group = groups.get(id);
      if (group) {
        group[2] += count;
        group[3] += total;
        group[4] += squares;
      } else {
        groups.set(id, [userId, day, count, total, squares]);
      }
    }
  }
  return { storedRows, groups: [...groups.values()] };
};

export const summarise = (groups: Group[]): Pick<Aggregate, 'users' | 'userDays' | 'topUsers'> => {
  const users = new Map<string, { userId: string; eventCount: number; totalValue: number }>();
  for (const [userId, , count, total] of groups) {
    const user = users.get(userId) ?? { userId, eventCount: 0, totalValue: 0 };
    user.eventCount += count;
    user.totalValue += total;
    users.set(userId, user);
  }
  const topUsers = [...users.values()]
    .sort((a, b) => b.eventCount - a.eventCount || a.userId.localeCompare(b.userId))
    .slice(0, TOP_USERS);
  return { users: users.size, userDays: groups.length, topUsers };
};

/** Each user's part of the file: sums over the user's days and the days in date order. */
export const contributionsOf = (groups: Group[]): UserContribution[] => {
  const users = new Map<string, UserContribution>();
  for (const [userId, day, count, total, squares] of groups) {
    const user = users.get(userId);
    if (user) {
      user.count += count;
      user.total += total;
      user.squares += squares;
      user.days.push([day, count, total]);
    } else {
      users.set(userId, { userId, count, total, squares, days: [[day, count, total]] });
    }
  }
  for (const user of users.values()) user.days.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [...users.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
};

/**
 * The file's contributions cut into pages per lane, in user order: the same file always gives the same
 * pages, so a retried or rerun AggregateResults rewrites the same objects.
 */
export const lanePagesOf = (fileId: string, contributions: UserContribution[]): LanePage[][] => {
  const lanes: LanePage[][] = Array.from({ length: LANE_COUNT }, () => []);
  const daysInLastPage = new Array<number>(LANE_COUNT).fill(0);
  for (const user of contributions) {
    const lane = laneOf(user.userId);
    const pages = lanes[lane] ?? [];
    let page = pages.at(-1);
    const days = daysInLastPage[lane] ?? 0;
    if (
      page === undefined ||
      page.users.length >= PAGE_LIMITS.users ||
      (page.users.length > 0 && days + user.days.length > PAGE_LIMITS.userDays)
    ) {
      page = { fileId, lane, page: pages.length, users: [] };
      pages.push(page);
      daysInLastPage[lane] = 0;
    }
    page.users.push(user);
    daysInLastPage[lane] = (daysInLastPage[lane] ?? 0) + user.days.length;
  }
  return lanes;
};
