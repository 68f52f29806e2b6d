import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { sdkStreamMixin } from '@smithy/core/serde';

/** A GetObject Body as the SDK returns it in Node: a Readable with the transformTo* helpers. */
export const s3Body = (content: string | Uint8Array | Iterable<string | Uint8Array>) => {
  const parts = typeof content === 'string' || content instanceof Uint8Array ? [content] : [...content];
  return sdkStreamMixin(
    Readable.from(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part))),
  );
};

/** The text of a PutObject Body the code under test sent (string, bytes or gzipped bytes). */
export const bodyText = (body: unknown, { gzip = false } = {}): string => {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return (gzip ? gunzipSync(body) : Buffer.from(body)).toString('utf8');
  throw new Error(`Unexpected body type ${typeof body}`);
};
