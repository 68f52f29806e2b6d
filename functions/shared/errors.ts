// Error names are part of the Step Functions contract: Retry/Catch match on `name`.

export class MissingConfigError extends Error {
  override name = 'MissingConfigError';
  constructor(variable: string) {
    super(`Missing environment variable ${variable}`);
  }
}

/** The object named by the event is gone (deleted or moved before we read it). */
export class ObjectNotFoundError extends Error {
  override name = 'ObjectNotFoundError';
}

/** The key no longer holds the bytes the event named (re-uploaded mid-run): the newer upload runs on its own. */
export class ObjectChangedError extends Error {
  override name = 'ObjectChangedError';
}

/** A staged chunk or partial aggregate the workflow expects is missing: not transient, never retried. */
export class ChunkNotFoundError extends Error {
  override name = 'ChunkNotFoundError';
}

/** DynamoDB kept returning UnprocessedItems after every backoff; transient, the Map's Retry re-runs the chunk. */
export class UnprocessedItemsError extends Error {
  override name = 'UnprocessedItemsError';
}

/** The input to a task does not have the shape the workflow promises; a bug, never retried. */
export class InvalidTaskInputError extends Error {
  override name = 'InvalidTaskInputError';
}

/** Rows in ≠ rows stored + rows rejected: something was lost; the file fails loudly rather than report wrong counts. */
export class ReconciliationError extends Error {
  override name = 'ReconciliationError';
}
