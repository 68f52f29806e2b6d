/** A stream record that cannot be a lane page (no image, bad attribute): a bug, it blocks its lane. */
export class InvalidStreamRecordError extends Error {
  override name = 'InvalidStreamRecordError';
}

/** The TOTALS item changed under the lane's single writer: something else writes it. */
export class TotalsConflictError extends Error {
  override name = 'TotalsConflictError';
}

/** A threshold alert could not be published; the page is retried to publish it again. */
export class AlertPublishError extends Error {
  override name = 'AlertPublishError';
}

/** A page stopped its lane: this record and the lane's later records wait for its retry. */
export class LaneBlockedError extends Error {
  override name = 'LaneBlockedError';
}

/** A page that is not the one its record names, or holds a user of another lane: a bug, never applied. */
export class LaneMismatchError extends Error {
  override name = 'LaneMismatchError';
}
