import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { s3 } from './clients.ts';
import { ObjectNotFoundError } from './errors.ts';

const isNotFound = (error: unknown): boolean =>
  error instanceof NoSuchKey ||
  (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound'));

/** Streams an object; a missing key becomes the caller's named error so the workflow can tell it apart. */
export const getObjectStream = async (
  bucket: string,
  key: string,
  notFound: (message: string) => Error,
): Promise<Readable> => {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return response.Body as Readable;
  } catch (error) {
    if (isNotFound(error)) throw notFound(`s3://${bucket}/${key} does not exist`);
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

export const getJson = async <T>(
  bucket: string,
  key: string,
  schema: { parse: (value: unknown) => T },
  notFound: (message: string) => Error,
): Promise<T> => schema.parse(JSON.parse(await getObjectText(bucket, key, notFound)));

/**
 * Copy then delete. Safe to repeat: when the source is already gone but the destination exists, an earlier
 * attempt finished the move. S3 has no rename, so this is the move.
 */
export const moveObject = async (bucket: string, from: string, to: string): Promise<void> => {
  try {
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: to,
        CopySource: `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
      }),
    );
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: to })).catch((missing: unknown) => {
      if (isNotFound(missing)) {
        throw new ObjectNotFoundError(`Neither s3://${bucket}/${from} nor s3://${bucket}/${to} exists`);
      }
      throw missing;
    });
    return;
  }
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
};
