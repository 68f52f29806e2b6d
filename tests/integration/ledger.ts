import { expect } from 'vitest';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import { dailyAggregates, eventItems, item, take } from './support.ts';

/** One CSV row as the suites write it: user_id, event_type, value, timestamp. */
export type Row = [string, string, number, string];

let fileSerial = 0;
/** A file of `perUser` rows for each user, integer values, spread over `days` days from 2026-11-01. */
export const rowsFor = (users: string[], perUser: number, days = 1): Row[] => {
  fileSerial += 1;
  const serial = fileSerial;
  return users.flatMap((userId, u) =>
    Array.from({ length: perUser }, (_, i): Row => {
      const at = new Date(Date.UTC(2026, 10, 1 + (i % days), serial % 24, u % 60, i % 60));
      return [userId, i % 3 === 0 ? 'purchase' : 'view', ((u + i + serial) % 7) + 1, at.toISOString()];
    }),
  );
};

/**
 * Everything a suite uploaded and saw stored, kept apart from the pipeline: the independent side of every
 * comparison. Per user, the table's EVENT# items, the TOTALS item, the daily aggregates the API serves and
 * the alerts (one per crossing of each multiple of the threshold) must all agree with it.
 */
export class Ledger {
  private readonly users = new Map<
    string,
    { count: number; total: number; days: Map<string, [number, number]> }
  >();
  private readonly alertsSeen = new Map<string, number[]>();

  private readonly pipeline: OfflinePipeline;
  private readonly alertsQueue: string;
  private readonly threshold: number;

  constructor(pipeline: OfflinePipeline, alertsQueue: string, threshold: number) {
    this.pipeline = pipeline;
    this.alertsQueue = alertsQueue;
    this.threshold = threshold;
  }

  /** Rows the pipeline is expected to store (rejected rows are not recorded). */
  record(rows: Row[]): void {
    for (const [userId, , value, timestamp] of rows) {
      const user = this.users.get(userId) ?? { count: 0, total: 0, days: new Map() };
      const day = timestamp.slice(0, 10);
      const [count, total] = user.days.get(day) ?? [0, 0];
      user.days.set(day, [count + 1, total + value]);
      user.count += 1;
      user.total += value;
      this.users.set(userId, user);
    }
  }

  /** Every named user: table, TOTALS, API daily aggregates and alerts all agree with what was recorded. */
  async expectExact(users: string[]): Promise<void> {
    const { pipeline } = this;
    await pipeline.waitIdle(300_000);
    for (const message of await take(pipeline, this.alertsQueue)) {
      if (message.MessageAttributes?.type?.StringValue !== 'ThresholdCrossed') continue;
      const alert = JSON.parse(String(message.Body)) as { userId: string; threshold: number };
      const list = this.alertsSeen.get(alert.userId) ?? [];
      if (!list.includes(alert.threshold)) list.push(alert.threshold);
      this.alertsSeen.set(alert.userId, list);
    }
    for (const userId of users) {
      const expected = this.users.get(userId);
      if (expected === undefined) throw new Error(`${userId} was never uploaded`);
      const events = await eventItems(pipeline, userId);
      const stored = { count: events.length, total: events.reduce((sum, e) => sum + Number(e.value), 0) };
      const totals = await item(pipeline, `USER#${userId}`, 'TOTALS');
      const daily = await dailyAggregates(pipeline, userId);

      expect(stored, `${userId}: stored events`).toEqual({ count: expected.count, total: expected.total });
      expect(totals, `${userId}: TOTALS`).toMatchObject({
        event_count: expected.count,
        total_value: expected.total,
      });
      expect(
        daily.map((day) => [day.date, day.event_count, day.total_value]),
        `${userId}: daily aggregates`,
      ).toEqual(
        [...expected.days].sort(([a], [b]) => (a < b ? -1 : 1)).map(([date, [n, v]]) => [date, n, v]),
      );
      const crossings = Array.from(
        { length: Math.floor(expected.count / this.threshold) },
        (_, i) => (i + 1) * this.threshold,
      );
      expect(
        [...(this.alertsSeen.get(userId) ?? [])].sort((a, b) => a - b),
        `${userId}: alerts`,
      ).toEqual(crossings);
    }
  }
}
