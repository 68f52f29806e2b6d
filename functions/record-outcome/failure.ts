import { printable, REASON_MAX_CHARS } from '#shared/text.ts';

// What a FAILED file's record says: the error in words (not a bare name), and what the file had already done,
// so nobody mistakes "FAILED, 0 stored" for "nothing happened" while its events sit in the table.

export interface StepFunctionsError {
  Error: string;
  Cause?: string | undefined;
}

/** The human part of a Cause: a Lambda error's `errorMessage`, or the Cause text itself. */
export const causeMessageOf = (cause: string | undefined): string | undefined => {
  if (cause === undefined || cause.trim() === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (typeof parsed === 'object' && parsed !== null && 'errorMessage' in parsed) {
      return String((parsed as { errorMessage: unknown }).errorMessage);
    }
  } catch {
    // Not JSON: States.* errors carry plain text.
  }
  return cause;
};

export interface StoredSoFar {
  chunks: number;
  rows: number;
}

export const failureReasonOf = (
  error: StepFunctionsError | undefined,
  stored: StoredSoFar,
  chunkCount: number | undefined,
): string => {
  const name = error?.Error ?? 'UnknownError';
  const message = causeMessageOf(error?.Cause);
  const what = printable(message === undefined ? name : `${name}: ${message}`, 300);
  const done =
    stored.chunks === 0
      ? 'no rows were stored'
      : `${stored.chunks} of ${chunkCount ?? '?'} chunks (${stored.rows} rows) were stored in the table before it, not yet counted in totals`;
  return printable(`${what}; ${done}; the upload stays in uploads/ for a redrive`, REASON_MAX_CHARS);
};

/** The error as the FILE# item keeps it: the name whole, the Cause bounded (it can carry a whole stack trace). */
export const recordedErrorOf = (error: StepFunctionsError | undefined): StepFunctionsError | undefined =>
  error === undefined
    ? undefined
    : {
        Error: printable(error.Error, 200),
        ...(error.Cause === undefined ? {} : { Cause: printable(error.Cause, 4_000) }),
      };
