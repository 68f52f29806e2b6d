import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../../functions/aggregate-results/index.ts';
import { aggregatesKeyOf, partialKeyOf } from '../../../functions/shared/keys.ts';
import type { AggregatesFile, AggregateTask, Partial } from '../../../functions/shared/model.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';
import { bodyText, s3Body } from '../../helpers/s3.ts';

type AggregateEvent = AggregateTask & { executionArn: string };

const s3Mock = mockClient(S3Client);
const context = lambdaContext('aggregate-results');

const givenPartials = (event: AggregateEvent, partials: Partial[]) => {
  for (const partial of partials) {
    s3Mock
      .on(GetObjectCommand, { Bucket: event.bucket, Key: partialKeyOf(event.fileId, partial.chunk) })
      .callsFake(() => ({ Body: s3Body(JSON.stringify(partial)) }));
  }
};

describe('aggregate-results handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    s3Mock.on(PutObjectCommand).resolves({});
  });

  it('combines every chunk’s partial and returns counts, the aggregates key and the top users', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 2 };
    givenPartials(event, [
      {
        chunk: 0,
        stored: 3,
        groups: [
          ['u1', '2026-01-15', 2, 3],
          ['u2', '2026-01-15', 1, 1],
        ],
      },
      {
        chunk: 1,
        stored: 2,
        groups: [
          ['u2', '2026-01-15', 1, 1],
          ['u2', '2026-01-16', 1, 2],
        ],
      },
    ]);

    const aggregate = await handler(event, context);

    expect(aggregate).toEqual({
      storedRows: 5,
      users: 2,
      userDays: 3,
      aggregatesKey: aggregatesKeyOf(event.fileId),
      topUsers: [
        { userId: 'u2', eventCount: 3, totalValue: 4 },
        { userId: 'u1', eventCount: 2, totalValue: 3 },
      ],
    });
  });

  it('writes the combined groups to the aggregates file for StoreResults', async () => {
    const event = loadEvent<AggregateEvent>('aggregate-results.json');
    givenPartials(event, [{ chunk: 0, stored: 2, groups: [['u1', '2026-01-15', 2, 3]] }]);

    await handler(event, context);

    const put = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put?.Key).toBe(aggregatesKeyOf(event.fileId));
    expect(put?.ContentType).toBe('application/json');
    expect(JSON.parse(bodyText(put?.Body)) as AggregatesFile).toEqual({
      fileId: event.fileId,
      storedRows: 2,
      groups: [['u1', '2026-01-15', 2, 3]],
    });
  });

  it('reads the partial of every chunk, also past one batch of concurrent reads', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 40 };
    givenPartials(
      event,
      Array.from({ length: 40 }, (_, chunk) => ({ chunk, stored: 1, groups: [['u1', '2026-01-15', 1, 1]] })),
    );

    const aggregate = await handler(event, context);

    const keys = s3Mock.commandCalls(GetObjectCommand).map((call) => call.args[0].input.Key);
    expect(new Set(keys)).toEqual(
      new Set(Array.from({ length: 40 }, (_, i) => partialKeyOf(event.fileId, i))),
    );
    expect(aggregate.storedRows).toBe(40);
  });

  it('fails with ChunkNotFoundError when a chunk’s partial is missing, rather than under-count', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 3 };
    givenPartials(event, [
      { chunk: 0, stored: 1, groups: [['u1', '2026-01-15', 1, 1]] },
      { chunk: 2, stored: 1, groups: [['u1', '2026-01-15', 1, 1]] },
    ]);

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'ChunkNotFoundError' });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('fails with InvalidTaskInputError when there are no chunks to aggregate', async () => {
    const event = { ...loadEvent<AggregateEvent>('aggregate-results.json'), chunkCount: 0 };

    await expect(handler(event, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
  });
});
