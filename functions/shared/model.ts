import { z } from 'zod';
import { InvalidTaskInputError } from './errors.ts';
import { LANE_COUNT } from './keys.ts';

// The workflow's payload contracts. Every task parses its input with these at the boundary, so a change
// to statemachine/ that breaks a contract fails loudly (InvalidTaskInputError) instead of half-working.
// Payloads carry counts and references only, never rows: their size does not grow with the file.

export const FileRefSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  etag: z.string().min(1),
  /** The object version the event named; absent when the bucket is not versioned (then the ETag pins it). */
  versionId: z.string().min(1).optional(),
  size: z.number().int().nonnegative(),
  /** Object creation time from the S3 event: the event time of rows that carry none. */
  eventTime: z.iso.datetime({ offset: true }),
  fileId: z.string().min(1),
});
export type FileRef = z.infer<typeof FileRefSchema>;

export const RejectSampleSchema = z.object({ row: z.number().int(), reason: z.string() });

export const ValidationSchema = z.object({
  valid: z.boolean(),
  reason: z.string().optional(),
  fileId: z.string(),
  totalRows: z.number().int().nonnegative(),
  validRows: z.number().int().nonnegative(),
  rejectedRows: z.number().int().nonnegative(),
  chunkCount: z.number().int().nonnegative(),
  rejectsKey: z.string().nullable(),
  /** The first few rejections, so a notification can say what was wrong without opening S3. */
  rejectSample: z.array(RejectSampleSchema),
});
export type Validation = z.infer<typeof ValidationSchema>;

// Every task is given the file as the workflow carries it ($.file) and its execution ($$.Execution.Id).
const TaskSchema = z.object({ file: FileRefSchema, executionArn: z.string().min(1) });

export const ValidateTaskSchema = TaskSchema;
export type ValidateTask = z.infer<typeof ValidateTaskSchema>;

/** One Map item: the file and the index of one staged chunk. */
export const ChunkTaskSchema = TaskSchema.extend({ chunk: z.number().int().nonnegative() });
export type ChunkTask = z.infer<typeof ChunkTaskSchema>;

export const AggregateTaskSchema = TaskSchema.extend({ chunkCount: z.number().int().positive() });
export type AggregateTask = z.infer<typeof AggregateTaskSchema>;

export const TopUserSchema = z.object({ userId: z.string(), eventCount: z.number(), totalValue: z.number() });

export const AggregateSchema = z.object({
  storedRows: z.number().int().nonnegative(),
  users: z.number().int().nonnegative(),
  userDays: z.number().int().nonnegative(),
  aggregatesKey: z.string(),
  topUsers: z.array(TopUserSchema),
  /** Pages per lane (LANE_COUNT numbers): the file's aggregates, staged for their lanes. */
  lanePages: z.array(z.number().int().nonnegative()).length(LANE_COUNT),
});
export type Aggregate = z.infer<typeof AggregateSchema>;

export const StoreTaskSchema = z.object({
  file: FileRefSchema,
  validation: ValidationSchema,
  aggregate: AggregateSchema,
  executionArn: z.string().min(1),
});
export type StoreTask = z.infer<typeof StoreTaskSchema>;

export const StepFunctionsErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

export const OutcomeTaskSchema = z.object({
  outcome: z.enum(['REJECTED', 'FAILED']),
  file: FileRefSchema,
  validation: ValidationSchema.optional(),
  error: StepFunctionsErrorSchema.optional(),
  executionArn: z.string().min(1),
});
export type OutcomeTask = z.infer<typeof OutcomeTaskSchema>;

/** One valid row as staged between ValidateData and ProcessRecords (NDJSON, short keys). */
export const StagedRowSchema = z.object({
  r: z.number().int().positive(),
  u: z.string().min(1),
  t: z.string().min(1),
  v: z.number(),
  ts: z.string(),
});
export type StagedRow = z.infer<typeof StagedRowSchema>;

/** A staged chunk's text, as ValidateData writes it: one JSON row a line. */
export const encodeStagedChunk = (rows: readonly StagedRow[]): string =>
  `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`;

/** A staged chunk's rows, as ProcessRecords reads them; `key` names the chunk in the error of a corrupt one. */
export const decodeStagedChunk = (text: string, key: string): StagedRow[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line, index) => {
      // A corrupt chunk is a contract bug like a bad row: named, so the Map does not retry it.
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new InvalidTaskInputError(`${key} line ${index + 1}: not JSON`);
      }
      const parsed = StagedRowSchema.safeParse(json);
      if (!parsed.success) throw new InvalidTaskInputError(`${key} line ${index + 1}: not a staged row`);
      return parsed.data;
    });

/** Per user and UTC day: [userId, date, eventCount, totalValue, sumOfSquares]. Arrays keep partials compact. */
export const GroupSchema = z.tuple([z.string(), z.string(), z.number().int(), z.number(), z.number()]);
export type Group = z.infer<typeof GroupSchema>;

/** One user's part of a file, as a lane page carries it: the sums and each day's count and value. */
export const UserContributionSchema = z.object({
  userId: z.string(),
  count: z.number().int().positive(),
  total: z.number(),
  squares: z.number(),
  days: z.array(z.tuple([z.string(), z.number().int().positive(), z.number()])),
});
export type UserContribution = z.infer<typeof UserContributionSchema>;

/** staging/<fileId>/lanes/<lane>/<page>.json: some of a file's users of one lane. */
export const LanePageSchema = z.object({
  fileId: z.string(),
  lane: z.number().int().nonnegative(),
  page: z.number().int().nonnegative(),
  users: z.array(UserContributionSchema),
});
export type LanePage = z.infer<typeof LanePageSchema>;

/** The LANE#<nn> item, rewritten for each page: its stream records are the lane's pages, in order. */
export const LaneItemSchema = z.object({
  type: z.literal('LANE'),
  bucket: z.string(),
  key: z.string(),
  fileId: z.string(),
  lane: z.number().int().nonnegative(),
  page: z.number().int().nonnegative(),
  pageKey: z.string(),
  /**
   * The lane's own counter, raised by the same update that hands over the page. DynamoDB Streams delivers
   * one item's changes in order, so it grows along the lane's records: the users' idempotency guard,
   * needing no promise about stream sequence numbers.
   */
  lane_seq: z.number().int().positive(),
});
export type LaneItem = z.infer<typeof LaneItemSchema>;

export const PartialSchema = z.object({
  chunk: z.number().int().nonnegative(),
  stored: z.number().int().nonnegative(),
  groups: z.array(GroupSchema),
});
export type ChunkPartial = z.infer<typeof PartialSchema>;

export const AggregatesFileSchema = z.object({
  fileId: z.string(),
  storedRows: z.number().int().nonnegative(),
  groups: z.array(GroupSchema),
});
export type AggregatesFile = z.infer<typeof AggregatesFileSchema>;

/** A user's running totals just before a file's events were added: what a score compares against. */
export const HistorySchema = z.object({
  eventCount: z.number().int().nonnegative(),
  totalValue: z.number(),
  sumSquares: z.number(),
});

/**
 * staging/<fileId>/scoring/<lane>/<page>.json, written by the stream aggregator as it applies a page:
 * each user's part of the file and the user's totals just before it. Taken at that one moment, the
 * same on every retry, so a score never depends on when it is computed.
 */
export const ScoringPageSchema = z.object({
  fileId: z.string(),
  key: z.string(),
  lane: z.number().int().nonnegative(),
  page: z.number().int().nonnegative(),
  users: z.array(
    z.object({
      userId: z.string(),
      eventCount: z.number().int().positive(),
      totalValue: z.number(),
      history: HistorySchema,
    }),
  ),
});
export type ScoringPage = z.infer<typeof ScoringPageSchema>;

/** Published on the pipeline-events topic when a page of a file is applied; consumed by inference. */
export const UsersAggregatedEventSchema = z.object({
  type: z.literal('UsersAggregated'),
  fileId: z.string(),
  bucket: z.string(),
  key: z.string(),
  lane: z.number().int().nonnegative(),
  page: z.number().int().nonnegative(),
  scoringKey: z.string(),
  users: z.number().int().nonnegative(),
});
export type UsersAggregatedEvent = z.infer<typeof UsersAggregatedEventSchema>;

/** Published on the pipeline-events topic when a file is stored (for subscribers of whole files). */
export const FileStoredEventSchema = z.object({
  type: z.literal('FileStored'),
  fileId: z.string(),
  bucket: z.string(),
  key: z.string(),
  aggregatesKey: z.string(),
  storedRows: z.number().int(),
  users: z.number().int(),
});
export type FileStoredEvent = z.infer<typeof FileStoredEventSchema>;

/** Task inputs are trusted only after parsing; a mismatch is a contract bug with a named error. */
export const parseTaskInput = <T>(schema: z.ZodType<T>, input: unknown, task: string): T => {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new InvalidTaskInputError(`${task}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
};

/** What a file ended as: the `status` of its FILE# item. */
export const FILE_STATUSES = ['SUCCEEDED', 'REJECTED', 'FAILED'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

/**
 * The `FILE#<key> | METADATA` item (keys and GSI1 fields aside); written by putFileMetadata
 * (#shared/file-metadata.ts), which builds it from this type, and read by the API, the offline summary and
 * the offline redrive (fileRefOf).
 */
export const FileMetadataSchema = z.object({
  key: z.string(),
  fileId: z.string(),
  status: z.enum(FILE_STATUSES),
  executionArn: z.string().nullable().default(null),
  rows: z.object({ total: z.number(), stored: z.number(), rejected: z.number() }),
  rejectsKey: z.string().nullable().default(null),
  rejectSample: z.array(z.object({ row: z.number(), reason: z.string() })).default([]),
  reason: z.string().nullable().default(null),
  destinationKey: z.string().nullable().default(null),
  uploadedAt: z.string().nullable().default(null),
  completedAt: z.string().nullable().default(null),
  // The object version the file was, with its ETag: what a rerun of a FAILED file starts on again.
  bucket: z.string(),
  etag: z.string(),
  versionId: z.string().optional(),
  size: z.number().int().nonnegative(),
  /** The error a FAILED file caught (Step Functions' Error and Cause). */
  error: StepFunctionsErrorSchema.optional(),
});
export type FileMetadata = z.infer<typeof FileMetadataSchema>;
/** The file reference a FILE# item records, as the workflow's input carried it. */
export const fileRefOf = (item: FileMetadata): FileRef =>
  FileRefSchema.parse({
    bucket: item.bucket,
    key: item.key,
    etag: item.etag,
    versionId: item.versionId,
    size: item.size,
    eventTime: item.uploadedAt,
    fileId: item.fileId,
  });
/** The item as written: what a reader defaults may be left out. */
export type FileMetadataItem = z.input<typeof FileMetadataSchema>;

/**
 * The `USER#<id> | EVENT#<time>#<eventId>` item: one stored row (keys in #shared/keys.ts). Built by
 * ProcessRecords (eventItemOf), read by the API's events route.
 */
export const EventItemSchema = z.object({
  userId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  value: z.number(),
  timestamp: z.string(),
  fileId: z.string(),
  sourceKey: z.string(),
  row: z.number(),
});
export type EventItem = z.infer<typeof EventItemSchema>;

/**
 * The `USER#<id> | TOTALS` item: a user's running totals, with the recent days' buckets (keys.ts,
 * dayBucketsOf). Written by the stream aggregator under its lane's guard (`applied_seq`), read by the API.
 */
export const TotalsItemSchema = z
  .object({
    event_count: z.number().default(0),
    total_value: z.number().default(0),
    sum_squares: z.number().default(0),
    alerted_multiple: z.number().int().nonnegative().default(0),
    applied_seq: z.string().optional(),
    last_updated: z.string().nullable().default(null),
  })
  .loose();
export type TotalsItem = z.infer<typeof TotalsItemSchema>;

/**
 * The `USER#<id> | SCORE#<fileId>` item: one anomalous user of one file. Written by inference
 * (scoreItemOf), read by the API's scores route.
 */
export const ScoreItemSchema = z.object({
  userId: z.string(),
  fileId: z.string(),
  sourceKey: z.string(),
  score: z.number(),
  zScore: z.number().nullable(),
  label: z.string(),
  model: z.string(),
  eventCount: z.number(),
  meanValue: z.number(),
  computedAt: z.string(),
});
export type ScoreItem = z.infer<typeof ScoreItemSchema>;
