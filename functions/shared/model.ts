import { z } from 'zod';
import { InvalidTaskInputError } from './errors.ts';

// The workflow's payload contracts. Every task parses its input with these at the boundary, so a change
// to statemachine/ that breaks a contract fails loudly (InvalidTaskInputError) instead of half-working.
// Payloads carry counts and references only, never rows: their size does not grow with the file.

export const FileRefSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  etag: z.string().min(1),
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

export const ChunkTaskSchema = z.object({
  bucket: z.string().min(1),
  fileId: z.string().min(1),
  key: z.string().min(1),
  chunk: z.number().int().nonnegative(),
});
export type ChunkTask = z.infer<typeof ChunkTaskSchema>;

export const AggregateTaskSchema = z.object({
  bucket: z.string().min(1),
  fileId: z.string().min(1),
  chunkCount: z.number().int().positive(),
});
export type AggregateTask = z.infer<typeof AggregateTaskSchema>;

export const TopUserSchema = z.object({ userId: z.string(), eventCount: z.number(), totalValue: z.number() });

export const AggregateSchema = z.object({
  storedRows: z.number().int().nonnegative(),
  users: z.number().int().nonnegative(),
  userDays: z.number().int().nonnegative(),
  aggregatesKey: z.string(),
  topUsers: z.array(TopUserSchema),
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

/** Per user and UTC day: [userId, date, eventCount, totalValue]. Arrays keep partials compact. */
export const GroupSchema = z.tuple([z.string(), z.string(), z.number().int(), z.number()]);
export type Group = z.infer<typeof GroupSchema>;

export const PartialSchema = z.object({
  chunk: z.number().int().nonnegative(),
  stored: z.number().int().nonnegative(),
  groups: z.array(GroupSchema),
});
export type Partial = z.infer<typeof PartialSchema>;

export const AggregatesFileSchema = z.object({
  fileId: z.string(),
  storedRows: z.number().int().nonnegative(),
  groups: z.array(GroupSchema),
});
export type AggregatesFile = z.infer<typeof AggregatesFileSchema>;

/** Published on the pipeline-events topic when a file is stored; consumed by inference. */
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
