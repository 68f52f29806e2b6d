import { createHash } from 'node:crypto';

// Single-table keys and S3 layout: the one place that knows how items and objects are named.

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

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
export const eventSk = (timestamp: string, eventId: string): string => `EVENT#${timestamp}#${eventId}`;
export const dailySk = (date: string): string => `DAILY#${date}`;
export const TOTALS_SK = 'TOTALS';
export const scoreSk = (fileId: string): string => `SCORE#${fileId}`;
export const filePk = (key: string): string => `FILE#${key}`;
export const FILE_METADATA_SK = 'METADATA';
export const FILES_GSI1PK = 'FILES';
export const dailyGsi1Pk = (date: string): string => `DAILY#${date}`;

export const PREFIX = {
  uploads: 'uploads/',
  staging: 'staging/',
  processed: 'processed/',
  archive: 'archive/',
  rejected: 'rejected/',
} as const;

const pad = (n: number): string => String(n).padStart(5, '0');

export const stagingPrefixOf = (fileId: string): string => `${PREFIX.staging}${fileId}/`;
export const chunkKeyOf = (fileId: string, chunk: number): string =>
  `${stagingPrefixOf(fileId)}chunks/${pad(chunk)}.ndjson`;
export const partialKeyOf = (fileId: string, chunk: number): string =>
  `${stagingPrefixOf(fileId)}partials/${pad(chunk)}.json`;
export const aggregatesKeyOf = (fileId: string): string => `${stagingPrefixOf(fileId)}aggregates.json`;
export const processedKeyOf = (date: string, fileId: string, chunk: number): string =>
  `${PREFIX.processed}dt=${date}/${fileId}-${pad(chunk)}.json.gz`;

/** `uploads/a/b.csv` → `<prefix>a/b.csv`: the original keeps its relative path wherever it goes. */
export const relocate = (uploadKey: string, prefix: string): string =>
  `${prefix}${uploadKey.startsWith(PREFIX.uploads) ? uploadKey.slice(PREFIX.uploads.length) : uploadKey}`;
export const rejectsKeyOf = (uploadKey: string, fileId: string): string =>
  `${relocate(uploadKey, PREFIX.rejected)}.${fileId}.rejects.csv`;
