import type { Aggregate, Group, Partial } from '#shared/model.ts';

const TOP_USERS = 5;

/** Merges chunk partials into one group per user and day, in chunk order (stable float sums). */
export const combinePartials = (partials: Partial[]): { storedRows: number; groups: Group[] } => {
  const groups = new Map<string, Group>();
  let storedRows = 0;
  for (const partial of [...partials].sort((a, b) => a.chunk - b.chunk)) {
    storedRows += partial.stored;
    for (const [userId, day, count, total] of partial.groups) {
      const id = `${userId}\u0000${day}`;
      const group = groups.get(id);
      if (group) {
        group[2] += count;
        group[3] += total;
      } else {
        groups.set(id, [userId, day, count, total]);
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
