import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mapWithConcurrency } from '../functions/shared/concurrency.ts';
import { FILE_METADATA_SK, filePk } from '../functions/shared/keys.ts';
import {
  AggregatesFileSchema,
  type FileMetadata,
  FileMetadataSchema,
  type FileStatus,
} from '../functions/shared/model.ts';
import { printable } from '../functions/shared/text.ts';
import type { OfflinePipeline, Uploaded } from './pipeline.ts';
import type { ExecutionRecord } from './stepfunctions.ts';

/** How a file of this run ended: its FILE# status, or TIMED_OUT when the run stopped waiting for it. */
export type RunOutcome = FileStatus | 'TIMED_OUT';

export interface FileReport {
  key: string;
  status: RunOutcome;
  rows: { total: number; stored: number; rejected: number };
  executionArn: string | null;
  executionStatus: string | null;
  durationMs: number | null;
  reason?: string;
  rejectsKey: string | null;
  rejectSample: { row: number; reason: string }[];
  destinationKey: string | null;
  topUsers: { userId: string; eventCount: number; totalValue: number }[];
  maxStatePayloadBytes: number | null;
  retries: number;
}

interface ExecutionOutput {
  aggregate?: { topUsers?: FileReport['topUsers']; aggregatesKey?: string };
}

export const fileReport = async (
  pipeline: OfflinePipeline,
  upload: Uploaded,
  execution: ExecutionRecord | undefined,
): Promise<FileReport> => {
  const { Item } = await pipeline.clients.ddb.send(
    new GetCommand({ TableName: pipeline.table, Key: { PK: filePk(upload.key), SK: FILE_METADATA_SK } }),
  );
  // No FILE# item yet: the execution has not recorded an outcome (still running, or stopped before it could).
  const metadata: Partial<FileMetadata> = Item === undefined ? {} : FileMetadataSchema.parse(Item);
  const output = execution?.output ? (JSON.parse(execution.output) as ExecutionOutput) : {};
  let status: RunOutcome = 'TIMED_OUT';
  if (metadata.status === 'SUCCEEDED' && execution?.status === 'SUCCEEDED') status = 'SUCCEEDED';
  else if (metadata.status === 'REJECTED' && execution?.status === 'SUCCEEDED') status = 'REJECTED';
  else if (
    execution?.status === 'FAILED' ||
    execution?.status === 'ABORTED' ||
    metadata.status === 'FAILED'
  ) {
    status = 'FAILED';
  }
  return {
    key: upload.key,
    status,
    rows: metadata.rows ?? { total: 0, stored: 0, rejected: 0 },
    executionArn: execution?.executionArn ?? null,
    executionStatus: execution?.status ?? null,
    durationMs: execution?.stopDate ? execution.stopDate.getTime() - execution.startDate.getTime() : null,
    // A terminal error (States.DataLimitExceeded, an abort) ends the execution before RecordFailure writes FILE#.
    ...(typeof metadata.reason === 'string'
      ? { reason: metadata.reason }
      : execution?.error !== undefined
        ? { reason: `${execution.error}: ${execution.cause ?? ''}` }
        : {}),
    rejectsKey: metadata.rejectsKey ?? null,
    rejectSample: metadata.rejectSample ?? [],
    destinationKey: metadata.destinationKey ?? null,
    topUsers: output.aggregate?.topUsers ?? [],
    maxStatePayloadBytes: execution?.maxPayloadBytes ?? null,
    retries: execution?.retries ?? 0,
  };
};

/** The user ids a stored file contributed to, from its aggregates object. */
export const usersOf = async (pipeline: OfflinePipeline, execution: ExecutionRecord): Promise<string[]> => {
  const output = execution.output ? (JSON.parse(execution.output) as ExecutionOutput) : {};
  const key = output.aggregate?.aggregatesKey;
  if (!key) return [];
  const object = await pipeline.clients.s3.send(new GetObjectCommand({ Bucket: pipeline.bucket, Key: key }));
  const file = AggregatesFileSchema.parse(JSON.parse((await object.Body?.transformToString()) ?? '{}'));
  return [...new Set(file.groups.map(([userId]) => userId))];
};

export interface UserTotals {
  event_count: number;
  total_value: number;
}

/** A user whose totals could not be read: said per user, so one bad id never hides the others' results. */
export interface UnreadTotals {
  error: string;
}

const TOTALS_READS_IN_FLIGHT = 8;

/** Running totals per user, read back through the analytics API as a client would. */
export const userTotals = async (
  apiUrl: string,
  userIds: string[],
): Promise<Record<string, UserTotals | UnreadTotals>> => {
  const sorted = [...userIds].sort();
  const read = async (userId: string): Promise<UserTotals | UnreadTotals> => {
    const path = `/users/${encodeURIComponent(userId)}/aggregates`;
    try {
      const response = await fetch(`${apiUrl}${path}`);
      if (!response.ok) return { error: `GET ${path} answered ${response.status}` };
      const body = (await response.json()) as { totals?: Partial<UserTotals> | null };
      return { event_count: body.totals?.event_count ?? 0, total_value: body.totals?.total_value ?? 0 };
    } catch (error) {
      return { error: `GET ${path} failed: ${(error as Error).message}` };
    }
  };
  const totals = await mapWithConcurrency(sorted, TOTALS_READS_IN_FLIGHT, read);
  return Object.fromEntries(
    sorted.map((userId, index) => [userId, totals[index] as UserTotals | UnreadTotals]),
  );
};

/** One user's line of the terminal summary; ids come from the data, so they are escaped. */
export const formatUserTotals = (userId: string, totals: UserTotals | UnreadTotals): string =>
  'error' in totals
    ? `  ${printable(userId, 80)}: not read (${printable(totals.error, 200)})`
    : `  ${printable(userId, 80)}: ${totals.event_count} events, value ${totals.total_value.toLocaleString('en-US', { maximumFractionDigits: 2 })}`;

const number = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** The terminal summary of one file. Everything that comes from the data (names, ids, reasons) is escaped and
 * bounded: a file must not be able to recolour or rewrite the user's terminal. */
export const formatReport = (report: FileReport, bucket: string): string => {
  const lines = [
    `${printable(report.key, 300)}  ${report.status}  ${number(report.rows.total)} rows: ${number(report.rows.stored)} stored, ` +
      `${number(report.rows.rejected)} rejected  (${report.durationMs === null ? '?' : (report.durationMs / 1000).toFixed(1)} s)`,
  ];
  if (report.reason) lines.push(`  reason: ${printable(report.reason, 500)}`);
  for (const sample of report.rejectSample)
    lines.push(`  rejected row ${sample.row}: ${printable(sample.reason, 300)}`);
  if (report.rejectsKey) lines.push(`  rejects file: s3://${bucket}/${printable(report.rejectsKey, 400)}`);
  if (report.destinationKey)
    lines.push(`  original now at: s3://${bucket}/${printable(report.destinationKey, 400)}`);
  if (report.topUsers.length > 0) {
    const top = report.topUsers
      .map((u) => `${printable(u.userId, 80)} ${u.eventCount} (${number(u.totalValue)})`)
      .join(', ');
    lines.push(`  top users: ${top}`);
  }
  if (report.maxStatePayloadBytes !== null) {
    lines.push(
      `  largest state payload: ${number(report.maxStatePayloadBytes)} bytes; retries: ${report.retries}`,
    );
  }
  return lines.join('\n');
};
