import { createHash } from 'node:crypto';

// Single-table keys and S3 layout: the one place that knows how items and objects are named.

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const pad = (n: number): string => String(n).padStart(5, '0');

/** A file is one version of one object: same bucket, key and ETag → same id, so reruns write the same items. */
export const fileIdOf = (bucket: string, key: string, etag: string): string =>
  sha256(`${bucket}/${key}#${etag.replaceAll('"', '')}`).slice(0, 24);

/** Deterministic per row, so a retried chunk or a rerun overwrites instead of duplicating. */
export const eventIdOf = (fileId: string, rowNumber: number): string =>
  sha256(`${fileId}:${rowNumber}`).slice(0, 20);

/** Step Functions execution names: 1–80 chars of [A-Za-z0-9_-]; readable prefix plus the file id. */
export const executionNameOf = (key: string, fileId: string): string => {
  const base = key.split('/').pop() ?? key;
  const readable = base
    .replace(/\.csv$/i, '')
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 50);
  return `${readable}-${fileId}`;
};

export const userPk = (userId: string): string => `USER#${userId}`;
/** Sort-key prefixes of a user's item collections; the API queries a collection by its prefix. */
export const EVENT_SK_PREFIX = 'EVENT#';
export const SCORE_SK_PREFIX = 'SCORE#';
export const eventSk = (timestamp: string, eventId: string): string =>
  `${EVENT_SK_PREFIX}${timestamp}#${eventId}`;
/** A user's closed days of one month (`DAILY#<yyyy-mm>`), as day buckets: one item per user-month, not per day. */
export const dailySk = (date: string): string => `DAILY#${date.slice(0, 7)}`;
export const TOTALS_SK = 'TOTALS';
export const TOTALS_TYPE = 'TOTALS';
export const DAILY_TYPE = 'DAILY';
export const scoreSk = (fileId: string): string => `${SCORE_SK_PREFIX}${fileId}`;
export const filePk = (key: string): string => `FILE#${key}`;
export const FILE_METADATA_SK = 'METADATA';
export const FILES_GSI1PK = 'FILES';

/**
 * Lanes: every user belongs to one of LANE_COUNT lanes, for good (the count must never change once data
 * is stored). A file's aggregates reach the table as pages, each page written to its lane's one item,
 * `LANE#<nn>`; the table's stream then delivers a lane's pages in the order they were written, since
 * DynamoDB Streams orders the records of one item. So each user's aggregates have a single, ordered
 * writer, and the lane's counter `lane_seq`, raised by the same write that hands over a page, is the
 * user's idempotency guard (no stream sequence number is compared).
 */
export const LANE_COUNT = 16;
export const LANE_PK_PREFIX = 'LANE#';
export const LANE_SK = 'PAGE';
export const laneOf = (userId: string): number =>
  createHash('sha256').update(userId).digest().readUInt32BE(0) % LANE_COUNT;
export const lanePk = (lane: number): string => `${LANE_PK_PREFIX}${String(lane).padStart(2, '0')}`;
/** One file's page of one lane, applied: written after the page, so a re-sent page is recognised. */
export const appliedPageSk = (fileId: string, lane: number, page: number): string =>
  `APPLIED#${fileId}#${String(lane).padStart(2, '0')}#${pad(page)}`;

/** A day's count and value while the day is recent are attributes of the TOTALS item (see totals). */
export const bucketCountAttribute = (date: string): string => `n${date.replaceAll('-', '')}`;
export const bucketValueAttribute = (date: string): string => `v${date.replaceAll('-', '')}`;
/** `n20261101` → `2026-11-01`; anything else is not a bucket. */
export const bucketDateOf = (attribute: string): string | undefined => {
  const match = /^n(\d{4})(\d{2})(\d{2})$/.exec(attribute);
  return match ? `${match[1]}-${match[2]}-${match[3]}` : undefined;
};

/** The day buckets an item holds (TOTALS' recent days, a DAILY# month's closed days): date → count, value. */
export const dayBucketsOf = (
  item: Record<string, unknown>,
): Map<string, { count: number; value: number }> => {
  const buckets = new Map<string, { count: number; value: number }>();
  for (const [attribute, count] of Object.entries(item)) {
    const date = bucketDateOf(attribute);
    if (date === undefined || typeof count !== 'number') continue;
    const value = item[bucketValueAttribute(date)];
    buckets.set(date, { count, value: typeof value === 'number' ? value : 0 });
  }
  return buckets;
};

export const PREFIX = {
  uploads: 'uploads/',
  staging: 'staging/',
  processed: 'processed/',
  archive: 'archive/',
  rejected: 'rejected/',
} as const;

export const stagingPrefixOf = (fileId: string): string => `${PREFIX.staging}${fileId}/`;
export const chunkKeyOf = (fileId: string, chunk: number): string =>
  `${stagingPrefixOf(fileId)}chunks/${pad(chunk)}.ndjson`;
export const partialKeyOf = (fileId: string, chunk: number): string =>
  `${stagingPrefixOf(fileId)}partials/${pad(chunk)}.json`;
/**
 * staging/<fileId>/stored/<chunk>.<rows>: an empty object written once a chunk's events are in the table. A
 * failed file lists them (one ListObjectsV2) to say how many rows it had already stored.
 */
export const storedMarkerPrefixOf = (fileId: string): string => `${stagingPrefixOf(fileId)}stored/`;
export const storedMarkerKeyOf = (fileId: string, chunk: number, rows: number): string =>
  `${storedMarkerPrefixOf(fileId)}${pad(chunk)}.${rows}`;
export const storedRowsOfMarker = (key: string): number => Number(key.slice(key.lastIndexOf('.') + 1)) || 0;
export const aggregatesKeyOf = (fileId: string): string => `${stagingPrefixOf(fileId)}aggregates.json`;
export const lanePageKeyOf = (fileId: string, lane: number, page: number): string =>
  `${stagingPrefixOf(fileId)}lanes/${String(lane).padStart(2, '0')}/${pad(page)}.json`;
export const scoringPageKeyOf = (fileId: string, lane: number, page: number): string =>
  `${stagingPrefixOf(fileId)}scoring/${String(lane).padStart(2, '0')}/${pad(page)}.json`;
export const processedKeyOf = (date: string, fileId: string, chunk: number): string =>
  `${PREFIX.processed}dt=${date}/${fileId}-${pad(chunk)}.json.gz`;

/** S3's key limit, in UTF-8 bytes. */
export const S3_KEY_MAX_BYTES = 1024;

/**
 * `key + suffix`, or, when that would pass S3's 1,024-byte limit, the key's start, a hash of the whole key and
 * the suffix: still unique, still readable, and an upload with a name at the limit still has somewhere to go.
 */
const fitKey = (key: string, suffix = ''): string => {
  if (Buffer.byteLength(key + suffix) <= S3_KEY_MAX_BYTES) return key + suffix;
  const marker = `~${sha256(key).slice(0, 16)}`;
  const budget = S3_KEY_MAX_BYTES - Buffer.byteLength(marker + suffix);
  // Cut at a byte budget, then drop a character the cut split (the decoder leaves it as U+FFFD).
  const head = new TextDecoder().decode(Buffer.from(key).subarray(0, budget)).replace(/\uFFFD+$/, '');
  return `${head}${marker}${suffix}`;
};

const relativeOf = (uploadKey: string): string =>
  uploadKey.startsWith(PREFIX.uploads) ? uploadKey.slice(PREFIX.uploads.length) : uploadKey;

/** `uploads/a/b.csv` → `<prefix>a/b.csv`: the original keeps its relative path wherever it goes. */
export const relocate = (uploadKey: string, prefix: string): string =>
  fitKey(`${prefix}${relativeOf(uploadKey)}`);
export const rejectsKeyOf = (uploadKey: string, fileId: string): string =>
  fitKey(`${PREFIX.rejected}${relativeOf(uploadKey)}`, `.${fileId}.rejects.csv`);
