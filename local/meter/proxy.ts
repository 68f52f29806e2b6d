import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { principalOfAccessKey } from '../aws.ts';
import { seededRandom, streamOf } from '../chaos.ts';
import type { Denial } from '../iam/policy.ts';
import type { AwsCall } from '../iam/requests.ts';
import { DynamoMeter } from './dynamo.ts';
import type { Meter } from './meter.ts';

// A recording proxy in front of the emulator: every AWS request of the offline run passes through it, so
// the meter sees each call's caller, service and operation without the functions knowing. The caller is
// the access key in the SigV4 credential scope (each function's environment gets its own, see aws.ts),
// the service is the scope's service name. A proxy rather than an SDK middleware in the Lambda worker:
// it also sees the state machine's, the event sources' and the user's calls, it needs no hook in bundled
// code, and it is where an emulator boundary belongs (IAM checks and injected faults can sit here too).

const CREDENTIAL = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/;

export interface CallIdentity {
  principal: string;
  service: string;
  /** The access key itself: it also names the calling environment (`fn.<Function>~<n>`), see runtime.ts. */
  accessKeyId: string;
}

export const identityOf = (headers: IncomingMessage['headers']): CallIdentity => {
  const match = CREDENTIAL.exec(String(headers.authorization ?? ''));
  if (match === null) return { principal: 'anonymous', service: 'unknown', accessKeyId: '' };
  const accessKeyId = match[1] ?? '';
  return { principal: principalOfAccessKey(accessKeyId), service: match[3] ?? 'unknown', accessKeyId };
};

/** S3's REST operations by method, sub-resource and headers, as S3's pricing classes them. */
export const s3OperationOf = (method: string, url: URL, headers: IncomingMessage['headers']): string => {
  const [, , ...keyParts] = url.pathname.split('/');
  const hasKey = keyParts.join('/') !== '';
  const q = url.searchParams;
  if (method === 'PUT') {
    if (q.has('partNumber')) return headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
    if (headers['x-amz-copy-source']) return 'CopyObject';
    if (!hasKey) return `PutBucket${[...q.keys()][0] ?? ''}`;
    return 'PutObject';
  }
  if (method === 'POST') {
    if (q.has('uploads')) return 'CreateMultipartUpload';
    if (q.has('uploadId')) return 'CompleteMultipartUpload';
    if (q.has('delete')) return 'DeleteObjects';
    return 'PostObject';
  }
  if (method === 'DELETE')
    return q.has('uploadId') ? 'AbortMultipartUpload' : hasKey ? 'DeleteObject' : 'DeleteBucket';
  if (method === 'HEAD') return hasKey ? 'HeadObject' : 'HeadBucket';
  if (!hasKey)
    return q.get('list-type') === '2'
      ? 'ListObjectsV2'
      : q.size === 0
        ? 'ListObjects'
        : `GetBucket${[...q.keys()][0] ?? ''}`;
  if (q.has('uploadId')) return 'ListParts';
  return 'GetObject';
};

const S3_KEY_MAX_BYTES = 1024;

/** The UTF-8 length of the object key in a path-style S3 URL (`/bucket/key`). */
export const s3KeyBytesOf = (url: URL): number => {
  const [, , ...keyParts] = url.pathname.split('/');
  return Buffer.byteLength(decodeURIComponent(keyParts.join('/')));
};

/** The operation of a JSON-protocol (X-Amz-Target) or query-protocol (Action=) request. */
const rpcOperationOf = (headers: IncomingMessage['headers'], body: Buffer): string => {
  const target = headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').pop() ?? target;
  const action = new URLSearchParams(body.toString()).get('Action');
  return action ?? 'unknown';
};

const readBody = async (stream: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

export interface Upstream {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A BatchWriteItem answer with the withheld requests added to its UnprocessedItems. */
const withUnprocessed = (upstream: Upstream, withheld: Record<string, unknown[]>): Upstream => {
  if (upstream.status !== 200) return upstream;
  const output = JSON.parse(upstream.body.toString()) as { UnprocessedItems?: Record<string, unknown[]> };
  const merged = { ...(output.UnprocessedItems ?? {}) };
  for (const [table, writes] of Object.entries(withheld))
    merged[table] = [...(merged[table] ?? []), ...writes];
  const headers = { ...upstream.headers };
  // The body changed, so the emulator's checksum of it no longer holds (the SDK verifies it).
  delete headers['x-amz-crc32'];
  return { ...upstream, headers, body: Buffer.from(JSON.stringify({ ...output, UnprocessedItems: merged })) };
};

/**
 * A fault the proxy injects in place of the emulator's answer, for tests of retries and partial progress.
 * Which calls meet it: those matching service, operation and (optionally) caller, after the first `after`,
 * at most `times`, each with probability `rate` (drawn from the proxy's seeded stream; 1 when absent).
 * What they meet: an error as AWS sends it; for BatchWriteItem, a share of the items written and the rest
 * returned as UnprocessedItems (all of them throttled when none is left, as DynamoDB does); or the calling
 * function's environment killed, before the call reaches AWS or after AWS applied it and before its
 * answer arrives (Lambda reports either as Runtime.ExitError).
 */
export type ProxyFault = {
  service: string;
  operation: string;
  principal?: string;
  after?: number;
  times: number;
  rate?: number;
} & (
  | { status: number; code: string; message?: string }
  | { unprocessedShare: number }
  | { kill: 'before' | 'after' }
);

/** What the injected faults did, by kind, for a suite's line of figures. */
export interface FaultFigures {
  errors: number;
  unprocessedItems: number;
  kills: number;
}

/**
 * An error as the service's protocol sends it: S3 and the query protocol (SNS) in XML, the JSON protocols
 * (DynamoDB, SQS, Step Functions, EventBridge, …) with `__type`, so the SDK raises the named exception.
 */
export const errorResponse = (
  service: string,
  requestHeaders: IncomingMessage['headers'],
  code: string,
  message: string,
) => {
  const escaped = message.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  if (service === 's3') {
    return {
      headers: { 'content-type': 'application/xml' },
      body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${escaped}</Message></Error>`,
    };
  }
  if (String(requestHeaders['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    return {
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${escaped}</Message></Error><RequestId>offline</RequestId></ErrorResponse>`,
    };
  }
  return {
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': code },
    body: JSON.stringify({ __type: code, message }),
  };
};

/** How each service answers a caller its role does not allow. */
const ACCESS_DENIED: Record<string, { status: number; code: string }> = {
  s3: { status: 403, code: 'AccessDenied' },
  dynamodb: { status: 400, code: 'AccessDeniedException' },
  sns: { status: 403, code: 'AuthorizationError' },
  sqs: { status: 403, code: 'AccessDenied' },
};

/** What the proxy asks before forwarding a call: the caller's role allows it, or why not. */
export interface CallAuthorizer {
  checkCall(principal: string, call: AwsCall): Denial | undefined;
  messageOf(principal: string, denial: Denial): string;
}

export interface ProxyOptions {
  /** The emulator's URL: where every service goes unless routed elsewhere. */
  upstream: string;
  meter: Meter;
}

export class MeteringProxy {
  private readonly upstream: URL;
  private readonly routes = new Map<string, URL>();
  private readonly agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private readonly meter: Meter;
  private readonly dynamo: DynamoMeter;
  private readonly faults: (ProxyFault & { seen: number })[] = [];
  private random: () => number = seededRandom(1);
  private killer?: (accessKeyId: string) => void;
  readonly faultFigures: FaultFigures = { errors: 0, unprocessedItems: 0, kills: 0 };
  private authorizer?: CallAuthorizer;
  private server?: Server;

  constructor(options: ProxyOptions) {
    this.upstream = new URL(options.upstream);
    this.meter = options.meter;
    this.dynamo = new DynamoMeter(options.meter, (target, body) => this.send('dynamodb', target, body));
  }

  injectFault(fault: ProxyFault): void {
    this.faults.push({ ...fault, seen: 0 });
  }

  /** Seeds the draws of faults with a `rate`: the same seed and the same calls give the same faults. */
  seedFaults(seed: number): void {
    this.random = streamOf(seed, 'proxy');
  }

  /** How a `kill` fault ends the calling environment (the runtime's, given the caller's access key). */
  onKill(killer: (accessKeyId: string) => void): void {
    this.killer = killer;
  }

  clearFaults(): void {
    this.faults.splice(0);
  }

  /** From now on every call is checked against its caller's role before it reaches the emulator. */
  authorize(authorizer: CallAuthorizer): void {
    this.authorizer = authorizer;
  }

  /** The fault this call meets, if any: counted per fault, so `after` skips the first matching calls. */
  private takeFault(principal: string, service: string, operation: string): ProxyFault | undefined {
    for (const fault of this.faults) {
      if (fault.times <= 0 || fault.service !== service || fault.operation !== operation) continue;
      if (fault.principal !== undefined && fault.principal !== principal) continue;
      fault.seen += 1;
      if (fault.seen <= (fault.after ?? 0)) continue;
      if (fault.rate !== undefined && this.random() >= fault.rate) continue;
      fault.times -= 1;
      return fault;
    }
    return undefined;
  }

  /** Sends a service (SigV4 scope name, e.g. `states`) somewhere other than the emulator. */
  route(service: string, url: string): void {
    this.routes.set(service, new URL(url));
  }

  async listen(port = 0): Promise<string> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
        response.end(`metering proxy: ${(error as Error).message}`);
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`;
  }

  private targetOf(service: string): URL {
    return this.routes.get(service) ?? this.upstream;
  }

  private forwardHeaders(headers: IncomingMessage['headers'], target: URL, bodyLength?: number) {
    const forwarded: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || name === 'expect' || name === 'connection') continue;
      forwarded[name] = value;
    }
    forwarded.host = target.host;
    if (bodyLength !== undefined) {
      delete forwarded['transfer-encoding'];
      forwarded['content-length'] = String(bodyLength);
    }
    return forwarded;
  }

  /** A buffered request to a service's upstream, as the proxy's own (unmetered) call. */
  private send(
    service: string,
    headers: IncomingMessage['headers'] & { method?: string; path?: string },
    body: Buffer,
  ): Promise<Upstream> {
    const target = this.targetOf(service);
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          agent: this.agent,
          host: target.hostname,
          port: target.port,
          method: headers.method ?? 'POST',
          path: headers.path ?? '/',
          headers: this.forwardHeaders(headers, target, body.length),
        },
        (response) => {
          readBody(response).then(
            (responseBody) =>
              resolve({ status: response.statusCode ?? 502, headers: response.headers, body: responseBody }),
            reject,
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { principal, service, accessKeyId } = identityOf(request.headers);
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://proxy');
    // S3 bodies are streamed (objects can be large); every other service's request is small and buffered.
    const body = service === 's3' ? undefined : await readBody(request);
    const operation =
      body === undefined
        ? s3OperationOf(method, url, request.headers)
        : rpcOperationOf(request.headers, body);
    const reply = (status: number, code: string, message: string) => {
      if (body === undefined) request.resume();
      const { headers, body: errorBody } = errorResponse(service, request.headers, code, message);
      response.writeHead(status, headers);
      response.end(errorBody);
      return errorBody.length;
    };

    // moto stores keys of any length; S3 refuses one over 1,024 bytes, and so does the emulator boundary.
    if (service === 's3' && s3KeyBytesOf(url) > S3_KEY_MAX_BYTES) {
      reply(400, 'KeyTooLongError', 'Your key is too long');
      return;
    }

    const call = { service, operation, method, url, headers: request.headers, body: body ?? Buffer.alloc(0) };
    const denial = this.authorizer?.checkCall(principal, call);
    if (denial !== undefined && this.authorizer !== undefined) {
      // Not metered: AWS does not bill a request it refuses.
      const { status, code } = ACCESS_DENIED[service] ?? { status: 400, code: 'AccessDeniedException' };
      reply(status, code, this.authorizer.messageOf(principal, denial));
      return;
    }

    const fault = this.faults.length > 0 ? this.takeFault(principal, service, operation) : undefined;
    let killAfter: (() => void) | undefined;
    if (fault !== undefined && 'kill' in fault) {
      const killer = this.killer;
      if (killer === undefined) throw new Error('a kill fault needs onKill: no runtime to kill in');
      this.faultFigures.kills += 1;
      // The caller never hears back: its environment is gone, and with it the connection (the timer only
      // frees the socket should a caller outlive its kill).
      const hangUp = () => {
        killer(accessKeyId);
        setTimeout(() => response.destroy(), 10_000).unref();
      };
      if (fault.kill === 'before') {
        // AWS never sees the call.
        if (body === undefined) request.resume();
        hangUp();
        return;
      }
      killAfter = hangUp;
    } else if (fault !== undefined && 'status' in fault) {
      this.faultFigures.errors += 1;
      const responseBytes = reply(
        fault.status,
        fault.code,
        fault.message ?? 'injected by the offline runtime',
      );
      this.meter.request({
        principal,
        service,
        operation,
        status: fault.status,
        requestBytes: body?.length ?? 0,
        responseBytes,
      });
      return;
    }

    if (fault !== undefined && 'unprocessedShare' in fault && body !== undefined) {
      const split = this.withhold(body, fault.unprocessedShare);
      if (split.kept === 0) {
        this.faultFigures.errors += 1;
        reply(
          400,
          'ProvisionedThroughputExceededException',
          'The level of configured provisioned throughput for the table was exceeded (injected by the offline runtime)',
        );
        return;
      }
      this.faultFigures.unprocessedItems += split.withheld;
      await this.forwardBuffered(principal, service, operation, method, request, split.body, response, {
        withheld: split.unprocessed,
      });
      return;
    }

    if (body === undefined) {
      await this.stream(
        request,
        response,
        (status, requestBytes, responseBytes) =>
          this.meter.request({ principal, service, operation, status, requestBytes, responseBytes }),
        killAfter,
      );
      return;
    }
    await this.forwardBuffered(principal, service, operation, method, request, body, response, { killAfter });
  }

  private async forwardBuffered(
    principal: string,
    service: string,
    operation: string,
    method: string,
    request: IncomingMessage,
    body: Buffer,
    response: ServerResponse,
    fault: { withheld?: Record<string, unknown[]>; killAfter?: () => void } = {},
  ): Promise<void> {
    const { withheld, killAfter } = fault;
    const headers = { ...request.headers, method, path: request.url ?? '/' };
    const answered =
      service === 'dynamodb'
        ? await this.dynamo.handle(principal, operation, headers, body)
        : await this.send(service, headers, body);
    const upstream = withheld === undefined ? answered : withUnprocessed(answered, withheld);
    this.meter.request({
      principal,
      service,
      operation,
      status: upstream.status,
      requestBytes: body.length,
      responseBytes: upstream.body.length,
      ...(service === 'events' ? { requestBody: body } : {}),
      // Lambda long-polls an idle queue in AWS too, but at its own pace: empty receives are counted apart.
      ...(operation === 'ReceiveMessage' && !upstream.body.includes('MessageId') ? { empty: true } : {}),
    });
    if (killAfter !== undefined) {
      // Applied by AWS, never answered: the caller's environment dies first.
      killAfter();
      return;
    }
    const outHeaders = { ...upstream.headers, 'content-length': String(upstream.body.length) };
    delete outHeaders['transfer-encoding'];
    response.writeHead(upstream.status, outHeaders);
    response.end(upstream.body);
  }

  /**
   * Splits a BatchWriteItem's requests: each is withheld with probability `share`. What is kept goes to
   * the emulator; what is withheld comes back to the caller as UnprocessedItems, unwritten.
   */
  private withhold(body: Buffer, share: number) {
    const input = JSON.parse(body.toString()) as { RequestItems: Record<string, unknown[]> };
    const kept: Record<string, unknown[]> = {};
    const unprocessed: Record<string, unknown[]> = {};
    let keptCount = 0;
    let withheldCount = 0;
    for (const [table, writes] of Object.entries(input.RequestItems)) {
      for (const write of writes) {
        const into = this.random() < share ? unprocessed : kept;
        into[table] = [...(into[table] ?? []), write];
        if (into === kept) keptCount += 1;
        else withheldCount += 1;
      }
    }
    return {
      body: Buffer.from(JSON.stringify({ ...input, RequestItems: kept })),
      unprocessed,
      kept: keptCount,
      withheld: withheldCount,
    };
  }

  /** Streams a request and its response through unchanged (S3 objects can be large), counting bytes. */
  private stream(
    request: IncomingMessage,
    response: ServerResponse,
    done: (status: number, requestBytes: number, responseBytes: number) => void,
    killAfter?: () => void,
  ): Promise<void> {
    const target = this.upstream;
    return new Promise((resolve, reject) => {
      let requestBytes = 0;
      let responseBytes = 0;
      const upstream = httpRequest(
        {
          agent: this.agent,
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: this.forwardHeaders(request.headers, target),
        },
        (upstreamResponse) => {
          if (killAfter !== undefined) {
            // Applied by S3, never answered: the caller's environment dies first.
            upstreamResponse.resume();
            upstreamResponse.on('end', () => {
              done(upstreamResponse.statusCode ?? 502, requestBytes, 0);
              killAfter();
              resolve();
            });
            return;
          }
          response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.on('data', (chunk: Buffer) => {
            responseBytes += chunk.length;
          });
          upstreamResponse.pipe(response);
          upstreamResponse.on('end', () => {
            done(upstreamResponse.statusCode ?? 502, requestBytes, responseBytes);
            resolve();
          });
          upstreamResponse.on('error', reject);
        },
      );
      upstream.on('error', reject);
      request.on('data', (chunk: Buffer) => {
        requestBytes += chunk.length;
      });
      request.pipe(upstream);
    });
  }

  dynamoStorage(): { items: number; bytes: number } {
    return this.dynamo.storage();
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
