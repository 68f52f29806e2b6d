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
import { ObjectChangedError, ObjectNotFoundError } from '../../../functions/shared/errors.ts';
import { getJson, getObjectStream, moveObject } from '../../../functions/shared/s3.ts';
import { s3Body } from '../../helpers/s3.ts';

const s3Mock = mockClient(S3Client);
const BUCKET = 'data-bucket';
const noSuchKey = () => new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
const notFound = () => new NotFound({ message: 'Not Found', $metadata: {} });
const preconditionFailed = () =>
  Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
    name: 'PreconditionFailed',
    $metadata: { httpStatusCode: 412 },
  });
const VERSIONED = { versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY', etag: 'abc123' };
const UNVERSIONED = { etag: 'abc123' };

describe('moveObject', () => {
  beforeEach(() => {
    s3Mock.reset();
  });

  it('copies the version the event named to its new key, then deletes that version only', async () => {
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});

    await moveObject(BUCKET, 'uploads/a.csv', VERSIONED, 'archive/a.csv');

    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'archive/a.csv',
      CopySource: `${BUCKET}/uploads/a.csv?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY`,
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'uploads/a.csv',
      VersionId: VERSIONED.versionId,
    });
  });

  it('in a bucket without versioning, copies only while the key still holds the validated ETag', async () => {
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});

    await moveObject(BUCKET, 'uploads/a.csv', UNVERSIONED, 'archive/a.csv');

    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'archive/a.csv',
      CopySource: `${BUCKET}/uploads/a.csv`,
      CopySourceIfMatch: '"abc123"',
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'uploads/a.csv',
    });
  });

  it('fails with ObjectChangedError, deleting nothing, when the key was re-uploaded since the event', async () => {
    s3Mock.on(CopyObjectCommand).rejects(preconditionFailed());

    await expect(moveObject(BUCKET, 'uploads/a.csv', UNVERSIONED, 'archive/a.csv')).rejects.toBeInstanceOf(
      ObjectChangedError,
    );
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('URL-encodes each segment of the copy source but keeps its slashes', async () => {
    s3Mock.on(CopyObjectCommand).resolves({});
    s3Mock.on(DeleteObjectCommand).resolves({});

    await moveObject(
      BUCKET,
      'uploads/my dir/ventes été+1.csv',
      UNVERSIONED,
      'archive/my dir/ventes été+1.csv',
    );

    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input.CopySource).toBe(
      `${BUCKET}/uploads/my%20dir/ventes%20%C3%A9t%C3%A9%2B1.csv`,
    );
  });

  it('succeeds without deleting anything when an earlier attempt already moved the object', async () => {
    s3Mock.on(CopyObjectCommand).rejects(noSuchKey());
    s3Mock.on(HeadObjectCommand, { Bucket: BUCKET, Key: 'archive/a.csv' }).resolves({ ContentLength: 10 });

    await moveObject(BUCKET, 'uploads/a.csv', VERSIONED, 'archive/a.csv');

    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('fails with ObjectNotFoundError when neither the source nor the destination exists', async () => {
    s3Mock.on(CopyObjectCommand).rejects(noSuchKey());
    s3Mock.on(HeadObjectCommand).rejects(notFound());

    await expect(moveObject(BUCKET, 'uploads/a.csv', VERSIONED, 'archive/a.csv')).rejects.toBeInstanceOf(
      ObjectNotFoundError,
    );
  });

  it('lets other copy errors through and keeps the original', async () => {
    s3Mock.on(CopyObjectCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));

    await expect(moveObject(BUCKET, 'uploads/a.csv', VERSIONED, 'archive/a.csv')).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });
});

describe('reading objects', () => {
  beforeEach(() => {
    s3Mock.reset();
  });

  it('turns a missing upload into the caller’s named error', async () => {
    s3Mock.on(GetObjectCommand).rejects(noSuchKey());

    await expect(
      getObjectStream(BUCKET, 'uploads/a.csv', VERSIONED, (m) => new ObjectNotFoundError(m)),
    ).rejects.toThrow(new ObjectNotFoundError(`s3://${BUCKET}/uploads/a.csv does not exist`));
  });

  it('reads the version the event named', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('a,b\n') });

    await getObjectStream(BUCKET, 'uploads/a.csv', VERSIONED, (m) => new ObjectNotFoundError(m));

    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: 'uploads/a.csv',
      VersionId: VERSIONED.versionId,
    });
  });

  it('in a bucket without versioning, reads only the bytes with the event’s ETag', async () => {
    s3Mock.on(GetObjectCommand).rejects(preconditionFailed());

    await expect(
      getObjectStream(BUCKET, 'uploads/a.csv', UNVERSIONED, (m) => new ObjectNotFoundError(m)),
    ).rejects.toBeInstanceOf(ObjectChangedError);
    expect(s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input.IfMatch).toBe('"abc123"');
  });

  it('parses a JSON object with the given schema', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('{"a":1}') });

    const value = await getJson(BUCKET, 'k.json', { parse: (v) => v as { a: number } }, (m) => new Error(m));

    expect(value).toEqual({ a: 1 });
  });
});
