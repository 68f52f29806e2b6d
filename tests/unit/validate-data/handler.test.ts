import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { parse } from 'csv-parse/sync';
import { beforeEach, describe, expect, it } from 'vitest';
import { chunkKeyOf, rejectsKeyOf } from '../../../functions/shared/keys.ts';
import type { FileRef, StagedRow } from '../../../functions/shared/model.ts';
import { handler } from '../../../functions/validate-data/index.ts';
import { lambdaContext, loadEvent } from '../../helpers/events.ts';
import { bodyText, s3Body } from '../../helpers/s3.ts';

interface ValidateEvent {
  file: FileRef;
  executionArn: string;
}

const s3Mock = mockClient(S3Client);
const context = lambdaContext('validate-data');

const putBodies = (): Map<string, { body: string; contentType: string | undefined }> =>
  new Map(
    s3Mock
      .commandCalls(PutObjectCommand)
      .map(({ args: [{ input }] }) => [
        input.Key ?? '',
        { body: bodyText(input.Body), contentType: input.ContentType },
      ]),
  );

describe('validate-data handler', () => {
  beforeEach(() => {
    s3Mock.reset();
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag"' });
  });

  it('streams the uploaded object, stages its valid rows and writes its rejected rows', async () => {
    const event = loadEvent<ValidateEvent>('validate-data.json');
    const { file } = event;
    s3Mock.on(GetObjectCommand, { Bucket: file.bucket, Key: file.key }).resolves({
      Body: s3Body([
        'user_id,event_type,value,timestamp\r\n',
        'u1,click,1.5,2026-01-15T10:00:00Z\r\nu2,vi',
        'ew,,\r\nu3,click,oops,\r\n',
      ]),
    });

    const validation = await handler(event, context);

    expect(validation).toEqual({
      valid: false,
      reason: 'TooManyRejectedRows: 1 of 3 rows (33.3%) rejected; limit 10.0%',
      fileId: file.fileId,
      totalRows: 3,
      validRows: 2,
      rejectedRows: 1,
      chunkCount: 0,
      rejectsKey: rejectsKeyOf(file.key, file.fileId),
      rejectSample: [{ row: 3, reason: 'value is not a finite number: "oops"' }],
    });
    const puts = putBodies();
    expect(puts.get(rejectsKeyOf(file.key, file.fileId))?.contentType).toBe('text/csv');
    expect(parse(puts.get(rejectsKeyOf(file.key, file.fileId))?.body ?? '', { columns: true })).toEqual([
      { row: '3', line: '4', reason: 'value is not a finite number: "oops"', raw: 'u3,click,oops,' },
    ]);
  });

  it('stages valid rows as NDJSON under the file’s staging prefix and reports the chunk count', async () => {
    const event = loadEvent<ValidateEvent>('validate-data.json');
    const { file } = event;
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('user_id,event_type\nu1,click\nu2,view\n') });

    const validation = await handler(event, context);

    expect(validation).toMatchObject({ valid: true, chunkCount: 1, validRows: 2, rejectsKey: null });
    const staged = putBodies().get(chunkKeyOf(file.fileId, 0));
    expect(staged?.contentType).toBe('application/x-ndjson');
    expect(
      staged?.body
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as StagedRow),
    ).toEqual([
      { r: 1, u: 'u1', t: 'click', v: 0, ts: '2026-01-15T09:30:00.000Z' },
      { r: 2, u: 'u2', t: 'view', v: 0, ts: '2026-01-15T09:30:00.000Z' },
    ]);
  });

  it("gives rows without a timestamp the object's event time in the same format as parsed ones", async () => {
    const event = loadEvent<ValidateEvent>('validate-data.json');
    event.file.eventTime = '2026-01-15T09:30:00Z';
    s3Mock
      .on(GetObjectCommand)
      .resolves({ Body: s3Body('user_id,event_type,timestamp\nu1,a,\nu2,b,2026-01-15T09:30:00Z\n') });

    await handler(event, context);

    const staged = putBodies().get(chunkKeyOf(event.file.fileId, 0))?.body ?? '';
    const timestamps = staged
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as StagedRow).ts);
    expect(timestamps).toEqual(['2026-01-15T09:30:00.000Z', '2026-01-15T09:30:00.000Z']);
  });

  it('streams a rejects file larger than one part to S3 as a multipart upload', async () => {
    const event = loadEvent<ValidateEvent>('validate-data.json');
    const garbage = 'x'.repeat(100);
    const rows = Array.from({ length: 40_000 }, (_, i) => `u${i},click,${garbage},\n`).join('');
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(`user_id,event_type,value,timestamp\n${rows}`) });
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3Mock
      .on(UploadPartCommand)
      .callsFake(({ PartNumber }: { PartNumber: number }) => ({ ETag: `"p${PartNumber}"` }));
    s3Mock.on(CompleteMultipartUploadCommand).resolves({});

    const validation = await handler(event, context);

    expect(validation).toMatchObject({ valid: false, rejectedRows: 40_000 });
    const parts = s3Mock
      .commandCalls(UploadPartCommand)
      .map(({ args: [{ input }] }) => input)
      .sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((part) => part.Key === rejectsKeyOf(event.file.key, event.file.fileId))).toBe(true);
    const text = Buffer.concat(parts.map((part) => part.Body as Uint8Array)).toString('utf8');
    expect(parse(text, { columns: true })).toHaveLength(40_000);
    expect(
      s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.MultipartUpload?.Parts,
    ).toHaveLength(parts.length);
  });

  it('fails with ObjectNotFoundError when the upload is gone', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    await expect(handler(loadEvent('validate-data.json'), context)).rejects.toMatchObject({
      name: 'ObjectNotFoundError',
    });
  });

  it('fails with InvalidTaskInputError when the task input is not a file reference', async () => {
    const event = loadEvent<ValidateEvent>('validate-data.json');
    const broken = { ...event, file: { ...event.file, size: 'large' } };

    await expect(handler(broken, context)).rejects.toMatchObject({ name: 'InvalidTaskInputError' });
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});
