import type { StagedRow } from '#shared/model.ts';
import { excerpt, firstUnprintable, printable } from '#shared/text.ts';

// Row rules, pure: one CSV record in, a staged row or a reason out. The README's CSV rules state them.

export const REQUIRED_COLUMNS = ['user_id', 'event_type'] as const;
const KNOWN_COLUMNS = [...REQUIRED_COLUMNS, 'value', 'timestamp'];
/** Characters, not bytes: 256 four-byte characters still keep `USER#<id>` far below DynamoDB's 2,048-byte key limit. */
const MAX_ID_LENGTH = 256;
/** Path segments a URL normalises away: such a user's totals could never be read through the API. */
const DOT_SEGMENTS = new Set(['.', '..']);
/**
 * Values are kept exactly as written within these bounds: beyond 1e15 a JavaScript number no longer holds every
 * integer (2^53 ≈ 9.007e15) and the DynamoDB marshaller refuses it; below 1e-15 sums of squares (kept for the
 * variance) drift toward DynamoDB's smallest number, 1e-130.
 */
const MAX_ABS_VALUE = 1e15;
const MIN_ABS_VALUE = 1e-15;
/** The last instant with a four-digit year: event keys and DAILY#<yyyy-mm> sort as text only while years have four digits. */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
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
    const found = names.length === 0 ? '(none)' : printable(names.join(', '), 200);
    return { ok: false, reason: `InvalidHeader: missing column(s) ${missing.join(', ')}; found ${found}` };
  }
  // Which of two same-named columns holds the data is anyone's guess; taking the first would be a silent choice.
  const twice = KNOWN_COLUMNS.filter((column) => names.indexOf(column) !== names.lastIndexOf(column));
  if (twice.length > 0) {
    return { ok: false, reason: `InvalidHeader: column(s) ${twice.join(', ')} appear more than once` };
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
    return ms <= LATEST ? new Date(ms).toISOString() : undefined;
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

/**
 * An id as stored: NFC, so a name typed with a precomposed é and one with e + combining accent are one user.
 * Returns a reason when the id cannot be one.
 */
const checkId = (
  column: string,
  text: string,
  keyed: boolean,
): { ok: true; id: string } | { ok: false; reason: string } => {
  const id = text.trim().normalize('NFC');
  if (id === '') return { ok: false, reason: `${column} is empty` };
  // A line break in a user id is two rows merged by a stray quote, never a real id (it keys the items).
  if (keyed && /[\r\n]/.test(id)) return { ok: false, reason: `${column} contains a line break` };
  // Invisible characters make two ids that look alike different users, and reach terminals and URLs raw.
  // A quoted line break or tab inside an event type is data, kept as written.
  const hidden = firstUnprintable(keyed ? id : id.replace(/[\t\r\n]/g, ' '));
  if (hidden !== undefined) {
    return { ok: false, reason: `${column} contains the invisible or control character ${hidden}` };
  }
  if ([...id].length > MAX_ID_LENGTH)
    return { ok: false, reason: `${column} longer than ${MAX_ID_LENGTH} characters` };
  return { ok: true, id };
};

const checkValue = (text: string): { ok: true; value: number } | { ok: false; reason: string } => {
  if (text === '') return { ok: true, value: 0 };
  const value = Number(text);
  if (!NUMBER.test(text) || !Number.isFinite(value)) {
    return { ok: false, reason: `value is not a finite number: ${excerpt(text)}` };
  }
  const size = Math.abs(value);
  if (size > MAX_ABS_VALUE || (size !== 0 && size < MIN_ABS_VALUE)) {
    return { ok: false, reason: `value ${excerpt(text)} is outside ±1e15 or nearer zero than 1e-15` };
  }
  return { ok: true, value };
};

export const checkRow = (
  record: string[],
  rowNumber: number,
  columns: Columns,
  defaultTimestamp: string,
): RowCheck => {
  if (record.length !== columns.count) {
    return { ok: false, reason: `expected ${columns.count} fields, found ${record.length}` };
  }
  const userId = checkId('user_id', record[columns.userId] ?? '', true);
  if (!userId.ok) return userId;
  if (DOT_SEGMENTS.has(userId.id)) {
    return {
      ok: false,
      reason: `user_id ${excerpt(userId.id)} is a URL path segment the API could not address`,
    };
  }
  const eventType = checkId('event_type', record[columns.eventType] ?? '', false);
  if (!eventType.ok) return eventType;
  const value = checkValue(columns.value === undefined ? '' : (record[columns.value] ?? '').trim());
  if (!value.ok) return value;

  const timestampText = columns.timestamp === undefined ? '' : (record[columns.timestamp] ?? '').trim();
  const timestamp = timestampText === '' ? defaultTimestamp : parseTimestamp(timestampText);
  if (timestamp === undefined) {
    return {
      ok: false,
      reason: `timestamp is not ISO 8601 or epoch (up to year 9999): ${excerpt(timestampText)}`,
    };
  }
  return { ok: true, row: { r: rowNumber, u: userId.id, t: eventType.id, v: value.value, ts: timestamp } };
};
