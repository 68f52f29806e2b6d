import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Columns,
  checkHeader,
  checkRow,
  parseTimestamp,
} from '../../../functions/validate-data/rows.ts';

const DEFAULT_TS = '2026-01-15T09:30:00.000Z';

const columnsOf = (header: string[]): Columns => {
  const check = checkHeader(header);
  if (!check.ok) throw new Error(check.reason);
  return check.columns;
};

const FULL = columnsOf(['user_id', 'event_type', 'value', 'timestamp']);

const rowOf = (record: string[], columns: Columns = FULL) => {
  const check = checkRow(record, 1, columns, DEFAULT_TS);
  if (!check.ok) throw new Error(`expected a valid row, got: ${check.reason}`);
  return check.row;
};

const reasonOf = (record: string[], columns: Columns = FULL): string => {
  const check = checkRow(record, 1, columns, DEFAULT_TS);
  if (check.ok) throw new Error(`expected a rejection, got ${JSON.stringify(check.row)}`);
  return check.reason;
};

describe('checkHeader', () => {
  it('finds the columns in any order, ignoring case and surrounding spaces', () => {
    const check = checkHeader([' Timestamp ', 'VALUE', 'event_type', ' user_id']);

    expect(check).toEqual({
      ok: true,
      columns: { userId: 3, eventType: 2, value: 1, timestamp: 0, count: 4 },
    });
  });

  it('accepts a header without the optional value and timestamp columns', () => {
    expect(checkHeader(['user_id', 'event_type'])).toMatchObject({
      ok: true,
      columns: { value: undefined, timestamp: undefined, count: 2 },
    });
  });

  it('names the missing required columns', () => {
    const check = checkHeader(['user', 'value']);

    expect(check).toEqual({
      ok: false,
      reason: 'InvalidHeader: missing column(s) user_id, event_type; found user, value',
    });
  });
});

describe('checkRow', () => {
  it('stages a complete row with short keys', () => {
    expect(checkRow(['u1', 'click', '2.5', '2026-01-15T10:00:00Z'], 7, FULL, DEFAULT_TS)).toEqual({
      ok: true,
      row: { r: 7, u: 'u1', t: 'click', v: 2.5, ts: '2026-01-15T10:00:00.000Z' },
    });
  });

  it('trims spaces around every cell', () => {
    expect(rowOf(['  u1 ', ' click\t', ' 3 ', ' 2026-01-15 '])).toMatchObject({
      u: 'u1',
      t: 'click',
      v: 3,
      ts: '2026-01-15T00:00:00.000Z',
    });
  });

  it('rejects a row with the wrong number of fields', () => {
    expect(reasonOf(['u1', 'click', '1'])).toBe('expected 4 fields, found 3');
  });

  it('rejects an empty user_id', () => {
    expect(reasonOf(['  ', 'click', '1', ''])).toBe('user_id is empty');
  });

  it('rejects an empty event_type', () => {
    expect(reasonOf(['u1', '', '1', ''])).toBe('event_type is empty');
  });

  it('rejects a user_id with a line break (two rows merged by a stray quote)', () => {
    expect(reasonOf(['u1\nu2', 'click', '1', ''])).toBe('user_id contains a line break');
  });

  it('accepts a line break in a column it does not check', () => {
    const columns = columnsOf(['user_id', 'event_type', 'note']);
    expect(rowOf(['u1', 'click', 'two\nlines'], columns).u).toBe('u1');
  });

  it('rejects a user_id longer than 256 characters', () => {
    expect(reasonOf(['u'.repeat(257), 'click', '1', ''])).toBe('user_id longer than 256');
  });

  describe('value', () => {
    it('is 0 when the cell is empty', () => {
      expect(rowOf(['u1', 'click', '', '']).v).toBe(0);
    });

    it('is 0 when the column is absent', () => {
      expect(rowOf(['u1', 'click'], columnsOf(['user_id', 'event_type'])).v).toBe(0);
    });

    it.each([
      ['-12', -12],
      ['+3.5', 3.5],
      ['.5', 0.5],
      ['7.', 7],
      ['1e3', 1000],
      ['2.5E-2', 0.025],
    ])('accepts the number %s', (text, expected) => {
      expect(rowOf(['u1', 'click', text, '']).v).toBe(expected);
    });

    it.each(['abc', 'NaN', 'Infinity', '-Infinity', '1e400', '0x10', '1,5', '1_000', '12abc', '--1'])(
      'rejects %s as not a finite number',
      (text) => {
        expect(reasonOf(['u1', 'click', text, ''])).toMatch(/^value is not a finite number: /);
      },
    );
  });

  describe('timestamp', () => {
    it("is the object's event time when the cell is empty", () => {
      expect(rowOf(['u1', 'click', '1', '']).ts).toBe(DEFAULT_TS);
    });

    it("is the object's event time when the column is absent", () => {
      expect(rowOf(['u1', 'click', '1'], columnsOf(['user_id', 'event_type', 'value'])).ts).toBe(DEFAULT_TS);
    });

    it('rejects a timestamp that is not a date', () => {
      expect(reasonOf(['u1', 'click', '1', 'yesterday'])).toBe(
        'timestamp is neither ISO 8601 nor epoch: "yesterday"',
      );
    });
  });
});

describe('parseTimestamp', () => {
  it.each([
    ['ISO 8601 in UTC', '2026-01-15T10:20:30Z', '2026-01-15T10:20:30.000Z'],
    ['ISO 8601 with milliseconds', '2026-01-15T10:20:30.123Z', '2026-01-15T10:20:30.123Z'],
    ['ISO 8601 with nanoseconds, truncated', '2026-01-15T10:20:30.123456789Z', '2026-01-15T10:20:30.123Z'],
    ['ISO 8601 with a positive offset', '2026-01-15T10:20:30+02:00', '2026-01-15T08:20:30.000Z'],
    ['ISO 8601 with a negative offset', '2026-01-15T22:20:30-05:00', '2026-01-16T03:20:30.000Z'],
    ['ISO 8601 with a colon-less offset', '2026-01-15T10:20:30+0530', '2026-01-15T04:50:30.000Z'],
    ['ISO 8601 without offset, taken as UTC', '2026-01-15T10:20:30', '2026-01-15T10:20:30.000Z'],
    ['ISO 8601 without seconds', '2026-01-15T10:20', '2026-01-15T10:20:00.000Z'],
    ['a space instead of T', '2026-01-15 10:20:30', '2026-01-15T10:20:30.000Z'],
    ['a lowercase z', '2026-01-15t10:20:30z', '2026-01-15T10:20:30.000Z'],
    ['a date only, taken as UTC midnight', '2026-01-15', '2026-01-15T00:00:00.000Z'],
    ['a leap day', '2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['epoch seconds', '1768472430', '2026-01-15T10:20:30.000Z'],
    ['epoch seconds with a fraction', '1768472430.5', '2026-01-15T10:20:30.500Z'],
    ['epoch milliseconds', '1768472430123', '2026-01-15T10:20:30.123Z'],
    ['epoch zero', '0', '1970-01-01T00:00:00.000Z'],
  ])('reads %s', (_case, text, expected) => {
    expect(parseTimestamp(text)).toBe(expected);
  });

  it.each([
    ['February 30th', '2026-02-30'],
    ['February 29th of a common year', '2026-02-29'],
    ['April 31st', '2026-04-31T10:00:00Z'],
    ['month 13', '2026-13-01'],
    ['day 0', '2026-01-00'],
    ['hour 25', '2026-01-15T25:00:00Z'],
    ['minute 60', '2026-01-15T10:60:00Z'],
    ['an offset beyond ±23:59', '2026-01-15T10:00:00+99:00'],
    ['a US date', '01/15/2026'],
    ['a two-digit year', '26-01-15'],
    ['words', 'tomorrow'],
    ['a negative epoch', '-1'],
    ['an epoch too large for a Date', '99999999999999999999'],
    ['a trailing garbage character', '2026-01-15T10:00:00Zx'],
  ])('rejects %s', (_case, text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  describe('in a process far from UTC', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('still reads a date-time without offset as UTC', () => {
      vi.stubEnv('TZ', 'Pacific/Kiritimati');

      expect(parseTimestamp('2026-01-15T10:20:30')).toBe('2026-01-15T10:20:30.000Z');
    });
  });
});
