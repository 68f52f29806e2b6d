import type { HttpRequest } from '@smithy/types';
import type { AwsCall } from '../../../../local/iam/requests.ts';
import { identityOf, s3OperationOf } from '../../../../local/meter/proxy.ts';

// Requests exactly as the real SDK v3 clients put them on the wire (protocol, body, headers, SigV4 scope),
// captured by a request handler that answers nothing, then described as the proxy would describe them.

class CapturedError extends Error {
  override name = 'CapturedError';
}

const toCall = (request: HttpRequest): AwsCall => {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const url = new URL(request.path, 'http://127.0.0.1:4566');
  for (const [name, value] of Object.entries(request.query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, item ?? '');
  }
  // Through .buffer: the SDK warns when a Uint8Array body is touched with string methods (Buffer.from does).
  const raw: unknown = request.body;
  const body =
    typeof raw === 'string'
      ? Buffer.from(raw)
      : raw instanceof Uint8Array
        ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
        : Buffer.alloc(0);
  const { service } = identityOf(headers);
  const target = headers['x-amz-target'];
  const operation =
    service === 's3'
      ? s3OperationOf(request.method, url, headers)
      : typeof target === 'string'
        ? (target.split('.').pop() ?? target)
        : (new URLSearchParams(body.toString()).get('Action') ?? 'unknown');
  return { service, operation, method: request.method, url, headers, body };
};

/** Client settings whose sends are captured: `await client.send(command).catch(ignoreCaptured)`, then `last()`. */
export const capturing = () => {
  const requests: HttpRequest[] = [];
  const config = {
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:4566',
    credentials: { accessKeyId: 'fn.TestFunction', secretAccessKey: 'offline' },
    forcePathStyle: true,
    maxAttempts: 1,
    requestHandler: {
      handle: async (request: HttpRequest): Promise<never> => {
        requests.push(request);
        throw new CapturedError('captured');
      },
    },
  };
  const last = (): AwsCall => {
    const request = requests.at(-1);
    if (request === undefined) throw new Error('no request was captured');
    return toCall(request);
  };
  return { config, last };
};

export const ignoreCaptured = (error: unknown): void => {
  if (!(error instanceof CapturedError)) throw error;
};
