import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { s3 } from './clients.ts';

/** A streaming S3 object writer (multipart through lib-storage) with backpressure. */
export const openS3Writer = (bucket: string, key: string, contentType: string) => {
  const body = new PassThrough();
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
  });
  const done = upload.done();
  // Keep a rejection from surfacing as unhandled before close() awaits it.
  done.catch(() => undefined);
  return {
    async write(text: string): Promise<void> {
      if (body.write(text)) return;
      // When the upload fails, lib-storage stops reading and destroys the body, which fails the wait for
      // 'drain' with a bare AbortError; report the upload's own error (AccessDenied, SlowDown…) instead.
      await Promise.race([once(body, 'drain'), done]).catch(async (error: unknown) => {
        await done;
        throw error;
      });
    },
    async close(): Promise<void> {
      body.end();
      await done;
    },
  };
};
