/** The file's aggregates object is gone (staging/ expired before a redrive, or never written). */
export class AggregatesNotFoundError extends Error {
  override name = 'AggregatesNotFoundError';
}

/** The aggregates object belongs to another file than the event says: a contract bug, never retried into luck. */
export class AggregatesMismatchError extends Error {
  override name = 'AggregatesMismatchError';
}
