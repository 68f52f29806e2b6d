/** A stream record that cannot be an event insert (no image, bad attribute): it fails alone, for good. */
export class InvalidStreamRecordError extends Error {
  override name = 'InvalidStreamRecordError';
}

/** The TOTALS item kept changing under the conditional update; the user's records are retried. */
export class TotalsConflictError extends Error {
  override name = 'TotalsConflictError';
}

/** A threshold alert could not be published; the user's records are retried to publish it again. */
export class AlertPublishError extends Error {
  override name = 'AlertPublishError';
}
