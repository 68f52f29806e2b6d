import { type BatchWriteOptions, batchPutAll } from '#shared/dynamo.ts';
import { scoreSk, userPk } from '#shared/keys.ts';
import type { ScoreItem, ScoringPage, UsersAggregatedEvent } from '#shared/model.ts';
import { ScoringInputMismatchError } from './errors.ts';
import type { Score, Scorer } from './scorer.ts';

export interface InferenceDeps {
  table: string;
  scorer: Scorer;
  readScoring: (bucket: string, key: string) => Promise<ScoringPage>;
  write: BatchWriteOptions;
  now: () => Date;
}

interface ScoreItemParts {
  score: Score;
  eventCount: number;
  event: UsersAggregatedEvent;
  model: string;
  computedAt: string;
}

/** The SCORE# item (#shared/model.ts, ScoreItemSchema) with its keys. */
const scoreItemOf = ({
  score,
  eventCount,
  event,
  model,
  computedAt,
}: ScoreItemParts): ScoreItem & { PK: string; SK: string; type: 'SCORE' } => ({
  PK: userPk(score.userId),
  SK: scoreSk(event.fileId),
  type: 'SCORE',
  userId: score.userId,
  fileId: event.fileId,
  sourceKey: event.key,
  score: score.score,
  zScore: score.zScore,
  label: score.label,
  model,
  eventCount,
  meanValue: score.meanValue,
  computedAt,
});

/**
 * Scores the users of one applied page against their totals just before the file (the scoring input
 * the stream aggregator wrote as it applied the page), and stores a SCORE#<fileId> item for each user
 * found anomalous: the scores a reader acts on, not one item per user per file. The input is fixed at
 * apply time and the keys depend only on user and file, so a redelivered message writes the same scores
 * to the same items (only `computedAt` tells the deliveries apart).
 */
export const scorePage = async (
  deps: InferenceDeps,
  event: UsersAggregatedEvent,
): Promise<{ users: number; anomalous: number }> => {
  const page = await deps.readScoring(event.bucket, event.scoringKey);
  if (page.fileId !== event.fileId || page.lane !== event.lane || page.page !== event.page) {
    throw new ScoringInputMismatchError(
      `${event.scoringKey} holds page ${page.page} of lane ${page.lane} of file ${page.fileId}, ` +
        `not page ${event.page} of lane ${event.lane} of file ${event.fileId}`,
    );
  }
  if (page.users.length === 0) return { users: 0, anomalous: 0 };

  const scores = await deps.scorer.score(page.users);
  const computedAt = deps.now().toISOString();
  // Only users of this page: a remote scorer's answer is not trusted to add any.
  const counts = new Map(page.users.map((user) => [user.userId, user.eventCount]));
  const items = scores.flatMap((score) => {
    const eventCount = counts.get(score.userId);
    return eventCount !== undefined && score.label === 'anomalous'
      ? [scoreItemOf({ score, eventCount, event, model: deps.scorer.model, computedAt })]
      : [];
  });
  await batchPutAll(deps.table, items, deps.write);
  return { users: scores.length, anomalous: items.length };
};
