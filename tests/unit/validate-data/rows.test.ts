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

  it('rejects a header that names a known column twice, since either could hold the data', () => {
    expect(checkHeader(['user_id', 'event_type', 'value', 'VALUE'])).toEqual({
      ok: false,
      reason: 'InvalidHeader: column(s) value appear more than once',
    });
  });

  it('accepts an unknown column named twice', () => {
    expect(checkHeader(['user_id', 'event_type', 'note', 'note']).ok).toBe(true);
  });

  it('quotes a hostile header in its reason bounded and with control characters escaped', () => {
    const check = checkHeader([`\u001b[31m${'x'.repeat(500_000)}`]);

    expect(check.ok).toBe(false);
    const reason = check.ok ? '' : check.reason;
    expect(reason).toMatch(
      /^InvalidHeader: missing column\(s\) user_id, event_type; found \\u\{001B\}\[31mxxx/,
    );
    expect(reason.length).toBeLessThan(300);
    expect(reason).not.toMatch(/\p{Cc}/u);
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

  it.each([
    ['NUL', 'u\u00001', 'U+0000'],
    ['an escape sequence', 'u\u001b[2J', 'U+001B'],
    ['a tab', 'u\t1', 'U+0009'],
    ['a zero-width space', 'alice\u200b', 'U+200B'],
    ['a right-to-left override', 'u\u202e1', 'U+202E'],
    ['a C1 control', 'u\u00851', 'U+0085'],
  ])('rejects a user_id holding %s, which would make look-alike users', (_case, id, code) => {
    expect(reasonOf([id, 'click', '1', ''])).toBe(
      `user_id contains the invisible or control character ${code}`,
    );
  });

  it('rejects an event_type holding a control character', () => {
    expect(reasonOf(['u1', 'cl\u0007ick', '1', ''])).toBe(
      'event_type contains the invisible or control character U+0007',
    );
  });

  it('stores ids in NFC, so a decomposed é and a precomposed é are one user', () => {
    expect(rowOf(['rene\u0301', 'click', '1', '']).u).toBe('ren\u00e9');
  });

  it.each(['.', '..'])('rejects the user_id %s, which a URL path cannot address', (id) => {
    expect(reasonOf([id, 'click', '1', ''])).toBe(
      `user_id "${id}" is a URL path segment the API could not address`,
    );
  });

  it('accepts ids with #, /, % and non-ASCII letters', () => {
    expect(rowOf(['a#b/c%20d', 'click', '1', '']).u).toBe('a#b/c%20d');
    expect(rowOf(['用户😀', 'click', '1', '']).u).toBe('用户😀');
  });

  it('counts a user_id length in characters, so 256 emoji pass', () => {
    expect(rowOf(['😀'.repeat(256), 'click', '1', '']).u).toHaveLength(512);
    expect(reasonOf(['😀'.repeat(257), 'click', '1', ''])).toBe('user_id longer than 256 characters');
  });

  it('rejects a user_id longer than 256 characters', () => {
    expect(reasonOf(['u'.repeat(257), 'click', '1', ''])).toBe('user_id longer than 256 characters');
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

    it.each([
      ['1e15', 1e15],
      ['-1000000000000000', -1e15],
      ['1e-15', 1e-15],
      ['0.0', 0],
    ])('accepts %s at the bounds', (text, expected) => {
      expect(rowOf(['u1', 'click', text, '']).v).toBe(expected);
    });

    it.each(['1e16', '9007199254740993', '-2e15', '1e200', '1e-16', '-5e-300'])(
      'rejects %s, which DynamoDB and JavaScript could not keep exactly',
      (text) => {
        expect(reasonOf(['u1', 'click', text, ''])).toBe(
          `value "${text}" is outside ±1e15 or nearer zero than 1e-15`,
        );
      },
    );

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
        'timestamp is not ISO 8601 or epoch (up to year 9999): "yesterday"',
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
    ['the last millisecond of year 9999', '253402300799999', '9999-12-31T23:59:59.999Z'],
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
    ['epoch seconds past year 9999', '999999999999'],
    ['epoch milliseconds past year 9999', '253402300800000'],
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
