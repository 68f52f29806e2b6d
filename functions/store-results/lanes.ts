import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ddb } from '#shared/clients.ts';
import { mapWithConcurrency } from '#shared/concurrency.ts';
import { LANE_SK, lanePageKeyOf, lanePk } from '#shared/keys.ts';
import type { LaneItem } from '#shared/model.ts';

type HandedPage = Omit<LaneItem, 'lane_seq'>;

/**
 * Hands a file's pages to their lanes: each page is one UpdateItem of its lane's item, whose stream record
 * the stream aggregator applies. Lanes are written in parallel, a lane's pages in page order. A repeat
 * (a retried StoreResults) writes the same pages again; the aggregator recognises an applied page by
 * its APPLIED marker and skips it. Work: one write per page, a few per lane for the largest file.
 */
export const handPagesToLanes = async (
  table: string,
  file: { bucket: string; key: string; fileId: string },
  lanePages: readonly number[],
): Promise<number> => {
  await mapWithConcurrency([...lanePages.entries()], lanePages.length, async ([lane, pages]) => {
    for (let page = 0; page < pages; page += 1) {
      const item: HandedPage = {
        type: 'LANE',
        bucket: file.bucket,
        key: file.key,
        fileId: file.fileId,
        lane,
        page,
        pageKey: lanePageKeyOf(file.fileId, lane, page),
      };
      const names = Object.keys(item).map((name, i) => [`#a${i}`, name] as const);
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { PK: lanePk(lane), SK: LANE_SK },
          // The counter and the page in one write: the lane's records carry their order in lane_seq.
          UpdateExpression: `SET ${names.map(([alias], i) => `${alias} = :v${i}`).join(', ')} ADD lane_seq :one`,
          ExpressionAttributeNames: Object.fromEntries(names),
          ExpressionAttributeValues: {
            ...Object.fromEntries(Object.values(item).map((value, i) => [`:v${i}`, value])),
            ':one': 1,
          },
        }),
      );
    }
  });
  return lanePages.reduce((sum, pages) => sum + pages, 0);
};
