import { eventIdOf, eventSk, userPk } from '#shared/keys.ts';
import type { EventItem, Group, StagedRow } from '#shared/model.ts';

// Pure transforms of one staged chunk: DynamoDB items, Athena rows per day, per-user/day partials.

export const eventItemOf = (row: StagedRow, fileId: string, sourceKey: string) => {
  const eventId = eventIdOf(fileId, row.r);
  const event: EventItem = {
    userId: row.u,
    eventId,
    eventType: row.t,
    value: row.v,
    timestamp: row.ts,
    fileId,
    sourceKey,
    row: row.r,
  };
  return { PK: userPk(row.u), SK: eventSk(row.ts, eventId), type: 'EVENT', ...event };
};

/** The Athena table's columns (template.yaml, ProcessedEventsTable) in this order. */
export const processedRecordOf = (row: StagedRow, fileId: string, sourceKey: string) => ({
  event_id: eventIdOf(fileId, row.r),
  user_id: row.u,
  event_type: row.t,
  value: row.v,
  event_time: row.ts,
  file_id: fileId,
  source_key: sourceKey,
  row_number: row.r,
});

export const dayOf = (timestamp: string): string => timestamp.slice(0, 10);

export const groupByDay = <T>(rows: StagedRow[], map: (row: StagedRow) => T): Map<string, T[]> => {
  const days = new Map<string, T[]>();
  for (const row of rows) {
    const day = dayOf(row.ts);
    const list = days.get(day);
    if (list) list.push(map(row));
    else days.set(day, [map(row)]);
  }
  return days;
};

/** Per user and day: count, value and squares. */
export const partialGroupsOf = (rows: StagedRow[]): Group[] => {
  const groups = new Map<string, Group>();
  for (const row of rows) {
    const day = dayOf(row.ts);
    const id = `${row.u}\u0000${day}`;
    const group = groups.get(id);
    if (group) {
      group[2] += 1;
      group[3] += row.v;
      group[4] += row.v * row.v;
    } else {
      groups.set(id, [row.u, day, 1, row.v, row.v * row.v]);
    }
  }
  return [...groups.values()];
};
