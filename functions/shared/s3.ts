import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { s3 } from './clients.ts';
import { ObjectChangedError, ObjectNotFoundError } from './errors.ts';

const isNotFound = (error: unknown): boolean =>
  error instanceof NoSuchKey ||
  (error instanceof Error && ['NoSuchKey', 'NoSuchVersion', 'NotFound'].includes(error.name));
const isPreconditionFailed = (error: unknown): boolean =>
  error instanceof Error &&
  (error.name === 'PreconditionFailed' ||
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412);

/**
 * The bytes an upload's run works on: the version its event named, or, in a bucket without versioning,
 * whatever the key holds as long as its ETag still matches. Either way a re-upload to the same key mid-run
 * is never read, archived or deleted in place of the object that was validated.
 */
export interface ObjectVersion {
  versionId?: string | undefined;
  etag: string;
}
const changed = (bucket: string, key: string, version: ObjectVersion) =>
  new ObjectChangedError(
    `s3://${bucket}/${key} no longer holds the upload this run was started for (ETag ${version.etag}); a newer upload runs on its own`,
  );

/**
 * Streams one version of an upload; a missing key becomes the caller's named error so the workflow can tell
 * it apart, and a key that now holds other bytes an ObjectChangedError.
 */
export const getObjectStream = async (
  bucket: string,
  key: string,
  version: ObjectVersion,
  notFound: (message: string) => Error,
): Promise<Readable> => {
  try {
    const response = await s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(version.versionId ? { VersionId: version.versionId } : { IfMatch: `"${version.etag}"` }),
      }),
    );
    return response.Body as Readable;
  } catch (error) {
    if (isNotFound(error)) throw notFound(`s3://${bucket}/${key} does not exist`);
    if (isPreconditionFailed(error)) throw changed(bucket, key, version);
    throw error;
  }
};

export const getObjectText = async (
  bucket: string,
  key: string,
  notFound: (message: string) => Error,
): Promise<string> => {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await response.Body?.transformToString('utf-8')) ?? '';
  } catch (error) {
    if (isNotFound(error)) throw notFound(`s3://${bucket}/${key} does not exist`);
    throw error;
  }
};

export const putObject = async (
  bucket: string,
  key: string,
  body: string | Uint8Array,
  contentType: string,
): Promise<void> => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
};

/** Whether a key holds an object (HEAD: with s3:ListBucket a missing key is a 404, not a 403). */
export const objectExists = async (bucket: string, key: string): Promise<boolean> => {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
};

/** Every key under a prefix, page by page (1,000 keys a request). */
export const listKeys = async (bucket: string, prefix: string): Promise<string[]> => {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
};

export const getJson = async <T>(
  bucket: string,
  key: string,
  schema: { parse: (value: unknown) => T },
  notFound: (message: string) => Error,
): Promise<T> => schema.parse(JSON.parse(await getObjectText(bucket, key, notFound)));

/**
 * Copy then delete, of one version of an upload. Safe to repeat: when the source is already gone but the
 * destination exists, an earlier attempt finished the move. S3 has no rename, so this is the move. With a
 * version id the delete removes that version only: a newer upload to the same key stays where it is.
 */
export const moveObject = async (
  bucket: string,
  from: string,
  version: ObjectVersion,
  to: string,
): Promise<void> => {
  const source = `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
  try {
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: to,
        ...(version.versionId
          ? { CopySource: `${source}?versionId=${encodeURIComponent(version.versionId)}` }
          : { CopySource: source, CopySourceIfMatch: `"${version.etag}"` }),
      }),
    );
  } catch (error) {
    if (isPreconditionFailed(error)) throw changed(bucket, from, version);
    if (!isNotFound(error)) throw error;
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: to })).catch((missing: unknown) => {
      if (isNotFound(missing)) {
        throw new ObjectNotFoundError(`Neither s3://${bucket}/${from} nor s3://${bucket}/${to} exists`);
      }
      throw missing;
    });
    return;
  }
  await s3.send(
    new DeleteObjectCommand({
      Bucket: bucket,
      Key: from,
      ...(version.versionId ? { VersionId: version.versionId } : {}),
    }),
  );
};
