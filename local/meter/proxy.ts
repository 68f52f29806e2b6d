import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { principalOfAccessKey } from '../aws.ts';
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
}

export const identityOf = (headers: IncomingMessage['headers']): CallIdentity => {
  const match = CREDENTIAL.exec(String(headers.authorization ?? ''));
  if (match === null) return { principal: 'anonymous', service: 'unknown' };
  return { principal: principalOfAccessKey(match[1] ?? ''), service: match[3] ?? 'unknown' };
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

/**
 * A fault the proxy answers in place of the emulator, for tests of retries and partial progress: the
 * matching calls after the first `after` get the error, `times` times, as AWS would send it.
 */
export interface ProxyFault {
  service: string;
  operation: string;
  principal?: string;
  after?: number;
  times: number;
  status: number;
  code: string;
  message?: string;
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
    const { principal, service } = identityOf(request.headers);
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
    if (fault !== undefined) {
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

    if (body === undefined) {
      await this.stream(request, response, (status, requestBytes, responseBytes) =>
        this.meter.request({ principal, service, operation, status, requestBytes, responseBytes }),
      );
      return;
    }
    await this.forwardBuffered(principal, service, operation, method, request, body, response);
  }

  private async forwardBuffered(
    principal: string,
    service: string,
    operation: string,
    method: string,
    request: IncomingMessage,
    body: Buffer,
    response: ServerResponse,
  ): Promise<void> {
    const headers = { ...request.headers, method, path: request.url ?? '/' };
    const upstream =
      service === 'dynamodb'
        ? await this.dynamo.handle(principal, operation, headers, body)
        : await this.send(service, headers, body);
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
    const outHeaders = { ...upstream.headers, 'content-length': String(upstream.body.length) };
    delete outHeaders['transfer-encoding'];
    response.writeHead(upstream.status, outHeaders);
    response.end(upstream.body);
  }

  /** Streams a request and its response through unchanged (S3 objects can be large), counting bytes. */
  private stream(
    request: IncomingMessage,
    response: ServerResponse,
    done: (status: number, requestBytes: number, responseBytes: number) => void,
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
