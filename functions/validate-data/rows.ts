import type { StagedRow } from '#shared/model.ts';

// Row rules, pure: one CSV record in, a staged row or a reason out.

export const REQUIRED_COLUMNS = ['user_id', 'event_type'] as const;
const MAX_ID_LENGTH = 256;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const EPOCH = /^\d+(\.\d+)?$/;
// ISO 8601 date or date-time; a date-time without an offset is taken as UTC so results never depend on TZ.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
/** Epoch values below this are seconds, from it on milliseconds (1e12 ms is 2001-09-09; 1e12 s is year 33658). */
const EPOCH_MS_FROM = 1e12;

export interface Columns {
  userId: number;
  eventType: number;
  value: number | undefined;
  timestamp: number | undefined;
  count: number;
}

export type HeaderCheck = { ok: true; columns: Columns } | { ok: false; reason: string };

export const checkHeader = (header: string[]): HeaderCheck => {
  const names = header.map((name) => name.trim().toLowerCase());
  const missing = REQUIRED_COLUMNS.filter((column) => !names.includes(column));
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `InvalidHeader: missing column(s) ${missing.join(', ')}; found ${names.join(', ') || '(none)'}`,
    };
  }
  const at = (name: string): number | undefined => {
    const index = names.indexOf(name);
    return index === -1 ? undefined : index;
  };
  return {
    ok: true,
    columns: {
      userId: names.indexOf('user_id'),
      eventType: names.indexOf('event_type'),
      value: at('value'),
      timestamp: at('timestamp'),
      count: names.length,
    },
  };
};

/** Normalises a timestamp cell to ISO 8601 UTC, or returns undefined when it is not one. */
export const parseTimestamp = (text: string): string | undefined => {
  if (EPOCH.test(text)) {
    const n = Number(text);
    const ms = n >= EPOCH_MS_FROM ? n : n * 1000;
    const date = new Date(ms);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }
  const match = ISO.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone] = match;
  const zoned = `${year}-${month}-${day}T${hour}:${minute}:${second}.${fraction.padEnd(3, '0').slice(0, 3)}${normaliseZone(zone)}`;
  const date = new Date(zoned);
  if (Number.isNaN(date.getTime())) return undefined;
  // Date() rolls 2026-02-30 over to March; a real calendar date survives the round trip in its own zone.
  const calendar = new Date(`${year}-${month}-${day}T00:00:00Z`);
  if (Number.isNaN(calendar.getTime()) || calendar.toISOString().slice(0, 10) !== `${year}-${month}-${day}`) {
    return undefined;
  }
  return date.toISOString();
};

const normaliseZone = (zone: string | undefined): string => {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 'Z';
  return zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
};

export type RowCheck = { ok: true; row: StagedRow } | { ok: false; reason: string };

export const checkRow = (
  record: string[],
  rowNumber: number,
  columns: Columns,
  defaultTimestamp: string,
): RowCheck => {
  if (record.length !== columns.count) {
    return { ok: false, reason: `expected ${columns.count} fields, found ${record.length}` };
  }
  const userId = (record[columns.userId] ?? '').trim();
  const eventType = (record[columns.eventType] ?? '').trim();
  if (userId === '') return { ok: false, reason: 'user_id is empty' };
  if (eventType === '') return { ok: false, reason: 'event_type is empty' };
  // A user id with a line break is two rows merged by a stray quote, never a real id (it keys the items).
  if (/[\r\n]/.test(userId)) return { ok: false, reason: 'user_id contains a line break' };
  if (userId.length > MAX_ID_LENGTH) return { ok: false, reason: `user_id longer than ${MAX_ID_LENGTH}` };
  if (eventType.length > MAX_ID_LENGTH)
    return { ok: false, reason: `event_type longer than ${MAX_ID_LENGTH}` };

  const valueText = columns.value === undefined ? '' : (record[columns.value] ?? '').trim();
  let value = 0;
  if (valueText !== '') {
    value = Number(valueText);
    if (!NUMBER.test(valueText) || !Number.isFinite(value)) {
      return { ok: false, reason: `value is not a finite number: ${JSON.stringify(valueText.slice(0, 40))}` };
    }
  }

  const timestampText = columns.timestamp === undefined ? '' : (record[columns.timestamp] ?? '').trim();
  const timestamp = timestampText === '' ? defaultTimestamp : parseTimestamp(timestampText);
  if (timestamp === undefined) {
    return {
      ok: false,
      reason: `timestamp is neither ISO 8601 nor epoch: ${JSON.stringify(timestampText.slice(0, 40))}`,
    };
  }
  return { ok: true, row: { r: rowNumber, u: userId, t: eventType, v: value, ts: timestamp } };
};
