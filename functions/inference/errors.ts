/** A page's scoring input is gone (staging/ expired before a redelivery, or never written). */
export class ScoringInputNotFoundError extends Error {
  override name = 'ScoringInputNotFoundError';
}

/** The scoring input belongs to another file or page than the event says: a contract bug, never retried into luck. */
export class ScoringInputMismatchError extends Error {
  override name = 'ScoringInputMismatchError';
}
