import { BadRequestError } from '@aws-lambda-powertools/event-handler/http';
import { z } from 'zod';

// Request parsing: every path and query value is validated here, and every failure is a 400 whose
// message names the parameter and never echoes internals.

export const DEFAULT_DAYS = 30;
export const MAX_DAYS = 366;
export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 100;
const DAY_MS = 86_400_000;

const describeIssues = (error: z.ZodError): string =>
  error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`).join('; ');

/** Parses with a schema or fails the request with 400 and the schema's own messages. */
export const parseInput = <T>(schema: z.ZodType<T>, value: unknown): T => {
  const result = schema.safeParse(value);
  if (!result.success) throw new BadRequestError(describeIssues(result.error));
  return result.data;
};

/** Query string as a plain object (the last value wins for a repeated name). */
export const queryOf = (req: Request): Record<string, string> =>
  Object.fromEntries(new URL(req.url).searchParams);

const UserId = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');
const Day = z.iso.date({ error: 'must be a calendar date YYYY-MM-DD' });
const Instant = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 date-time with Z or an offset' })
  .transform((value) => new Date(value).toISOString());
const Limit = z.coerce
  .number({ error: 'must be a number' })
  .int('must be an integer')
  .min(1, `must be between 1 and ${MAX_LIMIT}`)
  .max(MAX_LIMIT, `must be between 1 and ${MAX_LIMIT}`)
  .default(DEFAULT_LIMIT);
const Cursor = z.string().regex(/^[A-Za-z0-9_-]{1,2048}$/, 'is not a valid cursor');

export const UserPathSchema = z.object({ userId: UserId });
export const FilePathSchema = z.object({
  key: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
});

export const AggregatesQuerySchema = z.object({ from: Day.optional(), to: Day.optional() });

export const EventsQuerySchema = z
  .object({ from: Instant.optional(), to: Instant.optional(), limit: Limit, cursor: Cursor.optional() })
  .refine((query) => query.from === undefined || query.to === undefined || query.from <= query.to, {
    message: 'must not be after to',
    path: ['from'],
  });

export const ScoresQuerySchema = z.object({ limit: Limit, cursor: Cursor.optional() });

const addDays = (day: string, days: number): string =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);

/**
 * The days to report, inclusive. Without bounds: the DEFAULT_DAYS ending today; with one bound: the
 * DEFAULT_DAYS starting or ending there; never more than MAX_DAYS.
 */
export const dayRangeOf = (
  query: { from?: string | undefined; to?: string | undefined },
  now: Date,
): { from: string; to: string } => {
  const to =
    query.to ?? (query.from ? addDays(query.from, DEFAULT_DAYS - 1) : now.toISOString().slice(0, 10));
  const from = query.from ?? addDays(to, -(DEFAULT_DAYS - 1));
  if (from > to) throw new BadRequestError('from: must not be after to');
  const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
  if (days > MAX_DAYS) throw new BadRequestError(`from, to: the range must not exceed ${MAX_DAYS} days`);
  return { from, to };
};

// Cursors are the query's LastEvaluatedKey, base64url-encoded JSON. Coming back they are only trusted
// after parsing, and only if they point into the same query, so a tampered one is a 400, not a 500.
const CursorKeySchema = z.strictObject({ PK: z.string(), SK: z.string() });
export type CursorKey = z.infer<typeof CursorKeySchema>;

export const encodeCursor = (key: Record<string, unknown> | undefined): string | null =>
  key === undefined ? null : Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

export const decodeCursor = (cursor: string, belongs: (key: CursorKey) => boolean): CursorKey => {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequestError('cursor: is not a valid cursor');
  }
  const key = CursorKeySchema.safeParse(json);
  if (!key.success || !belongs(key.data)) throw new BadRequestError('cursor: is not a valid cursor');
  return key.data;
};
