import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ddb } from '#shared/clients.ts';
import { mapWithConcurrency } from '#shared/concurrency.ts';
import { dailyGsi1Pk, dailySk, userPk } from '#shared/keys.ts';
import type { Group } from '#shared/model.ts';

const CONCURRENCY = 16;

/**
 * Adds one file's contribution to each user's daily aggregate, at most once: the item keeps the set of file
 * ids already counted, and the update is conditional on this file not being in it. A retried or rerun
 * StoreResults finds its id there and changes nothing.
 */
export const applyDailyAggregates = async (
  table: string,
  fileId: string,
  groups: Group[],
): Promise<{ applied: number; alreadyApplied: number }> => {
  let applied = 0;
  let alreadyApplied = 0;
  const apply = async ([userId, day, count, total]: Group): Promise<void> => {
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { PK: userPk(userId), SK: dailySk(day) },
          UpdateExpression:
            'SET #type = :type, userId = :userId, #date = :date, GSI1PK = :gsi1pk, GSI1SK = :gsi1sk ' +
            'ADD event_count :count, total_value :total, files :files',
          ConditionExpression: 'attribute_not_exists(files) OR NOT contains(files, :fileId)',
          ExpressionAttributeNames: { '#type': 'type', '#date': 'date' },
          ExpressionAttributeValues: {
            ':type': 'DAILY',
            ':userId': userId,
            ':date': day,
            ':gsi1pk': dailyGsi1Pk(day),
            ':gsi1sk': userPk(userId),
            ':count': count,
            ':total': total,
            ':files': new Set([fileId]),
            ':fileId': fileId,
          },
        }),
      );
      applied += 1;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      alreadyApplied += 1;
    }
  };
  await mapWithConcurrency(groups, CONCURRENCY, apply);
  return { applied, alreadyApplied };
};
