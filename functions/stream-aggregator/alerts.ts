import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PublishCommand, type PublishCommandInput } from '@aws-sdk/client-sns';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ddb, sns } from '#shared/clients.ts';
import { TOTALS_SK, userPk } from '#shared/keys.ts';
import { AlertPublishError } from './errors.ts';
import type { TotalsState } from './totals.ts';

/*
 * One alert per crossing, surviving a failed publish.
 *
 * The TOTALS item keeps `alerted_multiple`, the highest multiple of the threshold already alerted. After the
 * exactly-once update, every multiple in (alerted_multiple, floor(event_count / threshold)] is published in
 * ascending order, then `alerted_multiple` is raised with a condition that never lowers it. The crossings
 * therefore follow from the counts before and after the update, never from individual events.
 *
 * A publish that fails leaves `alerted_multiple` at the last multiple that went out and fails the user's
 * records; their redelivery changes no counts (high-water mark) but finds the multiple still pending and
 * publishes it. Residual window, at least once: if the function dies, or the conditional update of
 * `alerted_multiple` fails, after SNS accepted a message, the redelivery publishes that crossing again.
 * SNS standard topics cannot deduplicate, so a duplicate alert in that window is accepted over a lost one.
 */

export interface AlertPolicy {
  threshold: number;
  /** Alert at every multiple of the threshold, not only the first crossing. */
  everyMultiple: boolean;
}

export interface AlertDeps {
  table: string;
  topicArn: string;
  policy: AlertPolicy;
}

/** Multiples of the threshold reached and not yet alerted, ascending. */
export const pendingMultiples = (state: TotalsState, policy: AlertPolicy): number[] => {
  const reached = Math.floor(state.eventCount / policy.threshold);
  const target = policy.everyMultiple ? reached : Math.min(reached, 1);
  const multiples: number[] = [];
  for (let multiple = state.alertedMultiple + 1; multiple <= target; multiple += 1) multiples.push(multiple);
  return multiples;
};

export const alertMessageOf = (
  topicArn: string,
  userId: string,
  crossed: number,
  eventCount: number,
): PublishCommandInput => ({
  TopicArn: topicArn,
  // The user id stays out of the subject: SNS subjects are limited to 100 printable ASCII characters.
  Subject: `Event count threshold crossed: ${crossed}`,
  Message: JSON.stringify({ type: 'ThresholdCrossed', userId, threshold: crossed, event_count: eventCount }),
  MessageAttributes: { type: { DataType: 'String', StringValue: 'ThresholdCrossed' } },
});

const markAlerted = async (deps: AlertDeps, userId: string, multiple: number): Promise<void> => {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: deps.table,
        Key: { PK: userPk(userId), SK: TOTALS_SK },
        UpdateExpression: 'SET alerted_multiple = :multiple',
        ConditionExpression:
          'attribute_exists(PK) AND (attribute_not_exists(alerted_multiple) OR alerted_multiple < :multiple)',
        ExpressionAttributeValues: { ':multiple': multiple },
      }),
    );
  } catch (error) {
    // Already at or above this multiple: an overlapping delivery recorded it first.
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
};

/** Publishes the pending crossings of one user and records them; returns how many were published. */
export const publishPendingAlerts = async (
  deps: AlertDeps,
  userId: string,
  state: TotalsState,
): Promise<number> => {
  const multiples = pendingMultiples(state, deps.policy);
  let alerted = state.alertedMultiple;
  let failure: unknown;
  for (const multiple of multiples) {
    try {
      await sns.send(
        new PublishCommand(
          alertMessageOf(deps.topicArn, userId, multiple * deps.policy.threshold, state.eventCount),
        ),
      );
      alerted = multiple;
    } catch (error) {
      failure = error;
      break;
    }
  }
  if (alerted > state.alertedMultiple) await markAlerted(deps, userId, alerted);
  if (failure !== undefined) {
    throw new AlertPublishError(`Threshold alert for user ${userId} was not published`, { cause: failure });
  }
  return alerted - state.alertedMultiple;
};
