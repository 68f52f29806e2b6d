import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ChunkNotFoundError, ObjectNotFoundError } from '../../../functions/shared/errors.ts';
import { getJson, getObjectStream, moveObject } from '../../../functions/shared/s3.ts';
import { s3Body } from '../../helpers/s3.ts';

const s3Mock = mockClient(S3Client);
const BUCKET = 'data-bucket';
const noSuchKey = () => new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
const notFound = () => new NotFound({ message: 'Not Found', $metadata: {} });

describe('moveObject', () => {
  beforeEach(() => {
    s3Mock.reset();
  });

  it('copies the object to its new key, then deletes the original', async () => {
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});

    await moveObject(BUCKET, 'uploads/a.csv', 'archive/a.csv');

    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'archive/a.csv',
      CopySource: `${BUCKET}/uploads/a.csv`,
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'uploads/a.csv',
    });
  });

  it('URL-encodes each segment of the copy source but keeps its slashes', async () => {
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});

    await moveObject(BUCKET, 'uploads/my dir/ventes été+1.csv', 'archive/my dir/ventes été+1.csv');

    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input.CopySource).toBe(
      `${BUCKET}/uploads/my%20dir/ventes%20%C3%A9t%C3%A9%2B1.csv`,
    );
  });

  it('succeeds without deleting anything when an earlier attempt already moved the object', async () => {
    s3Mock.on(CopyObjectCommand).rejects(noSuchKey());
    s3Mock.on(HeadObjectCommand, { Bucket: BUCKET, Key: 'archive/a.csv' }).resolves({ ContentLength: 10 });

    await moveObject(BUCKET, 'uploads/a.csv', 'archive/a.csv');

    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('fails with ObjectNotFoundError when neither the source nor the destination exists', async () => {
    s3Mock.on(CopyObjectCommand).rejects(noSuchKey());
    s3Mock.on(HeadObjectCommand).rejects(notFound());

    await expect(moveObject(BUCKET, 'uploads/a.csv', 'archive/a.csv')).rejects.toBeInstanceOf(
      ObjectNotFoundError,
    );
  });

  it('lets other copy errors through and keeps the original', async () => {
    s3Mock.on(CopyObjectCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));

    await expect(moveObject(BUCKET, 'uploads/a.csv', 'archive/a.csv')).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });
});

describe('reading objects', () => {
  beforeEach(() => {
    s3Mock.reset();
  });

  it('turns a missing key into the caller’s named error', async () => {
    s3Mock.on(GetObjectCommand).rejects(noSuchKey());

    await expect(
      getObjectStream(BUCKET, 'staging/f/chunks/00000.ndjson', (m) => new ChunkNotFoundError(m)),
    ).rejects.toThrow(new ChunkNotFoundError(`s3://${BUCKET}/staging/f/chunks/00000.ndjson does not exist`));
  });

  it('parses a JSON object with the given schema', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('{"a":1}') });

    const value = await getJson(BUCKET, 'k.json', { parse: (v) => v as { a: number } }, (m) => new Error(m));

    expect(value).toEqual({ a: 1 });
  });
});
