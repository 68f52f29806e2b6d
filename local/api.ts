import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { ACCOUNT_ID } from './aws.ts';
import type { LambdaRuntime } from './lambda/runtime.ts';
import type { FunctionSpec } from './template.ts';

// The analytics API on localhost, like `sam local start-api` but without Docker: the template's Api
// events become routes, each request becomes an API Gateway REST proxy event for the real handler.

export interface Route {
  functionId: string;
  method: string;
  resource: string;
  pattern: RegExp;
  names: string[];
}

const compile = (resource: string): { pattern: RegExp; names: string[] } => {
  const names: string[] = [];
  const source = resource
    .split('/')
    .map((segment) => {
      const match = /^\{(\w+)(\+?)\}$/.exec(segment);
      if (!match) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(match[1] ?? '');
      return match[2] === '+' ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}$`), names };
};

export const routesOf = (functions: FunctionSpec[]): Route[] =>
  functions.flatMap((fn) =>
    Object.values(fn.events)
      .filter((event) => event.Type === 'Api')
      .map((event) => {
        const resource = String(event.Properties.Path);
        return {
          functionId: fn.logicalId,
          method: String(event.Properties.Method).toUpperCase(),
          resource,
          ...compile(resource),
        };
      }),
  );

/** A malformed escape must not take the server down; the segment is passed on as it came. */
const decodePathParameter = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

interface ProxyResult {
  statusCode?: number;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  body?: string;
  isBase64Encoded?: boolean;
}

export class LocalApi {
  private server?: Server;
  private readonly routes: Route[];
  private readonly runtime: Pick<LambdaRuntime, 'invoke'>;
  private readonly stage: string;
  private readonly onRequest: () => void;

  /** `onRequest` sees each request API Gateway would bill: those that reach a route. */
  constructor(
    routes: Route[],
    runtime: Pick<LambdaRuntime, 'invoke'>,
    stage: string,
    onRequest: () => void = () => undefined,
  ) {
    this.routes = routes;
    this.runtime = runtime;
    this.stage = stage;
    this.onRequest = onRequest;
  }

  async listen(port: number): Promise<string> {
    this.server = createServer((request, response) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        const url = new URL(request.url ?? '/', 'http://localhost');
        const method = (request.method ?? 'GET').toUpperCase();
        const route = this.routes.find(
          (candidate) =>
            (candidate.method === method || candidate.method === 'ANY') &&
            candidate.pattern.test(url.pathname),
        );
        if (!route) {
          response.writeHead(403, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ message: 'Missing Authentication Token' }));
          return;
        }
        this.onRequest();
        const values = route.pattern.exec(url.pathname)?.slice(1) ?? [];
        const pathParameters = Object.fromEntries(
          route.names.map((name, i) => [name, decodePathParameter(values[i] ?? '')]),
        );
        const query = [...url.searchParams.keys()];
        const headers = Object.fromEntries(
          Object.entries(request.headers).map(([key, value]) => [
            key,
            Array.isArray(value) ? value.join(',') : String(value),
          ]),
        );
        const body = chunks.length > 0 ? Buffer.concat(chunks).toString('utf8') : null;
        const requestId = randomUUID();
        const event = {
          resource: route.resource,
          path: url.pathname,
          httpMethod: method,
          headers,
          multiValueHeaders: Object.fromEntries(
            Object.entries(headers).map(([key, value]) => [key, [value]]),
          ),
          queryStringParameters:
            query.length > 0
              ? // API Gateway keeps the last value of a repeated parameter here, all of them below.
                Object.fromEntries(query.map((key) => [key, url.searchParams.getAll(key).at(-1) ?? '']))
              : null,
          multiValueQueryStringParameters:
            query.length > 0
              ? Object.fromEntries(query.map((key) => [key, url.searchParams.getAll(key)]))
              : null,
          pathParameters: route.names.length > 0 ? pathParameters : null,
          stageVariables: null,
          requestContext: {
            accountId: ACCOUNT_ID,
            apiId: 'offline',
            resourceId: 'offline',
            resourcePath: route.resource,
            httpMethod: method,
            path: `/${this.stage}${url.pathname}`,
            stage: this.stage,
            protocol: 'HTTP/1.1',
            requestId,
            extendedRequestId: requestId,
            requestTime: new Date().toUTCString(),
            requestTimeEpoch: Date.now(),
            domainName: headers.host ?? 'localhost',
            identity: {
              sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
              userAgent: headers['user-agent'] ?? null,
            },
          },
          body,
          isBase64Encoded: false,
        };
        try {
          const result = (await this.runtime.invoke(route.functionId, event)) as ProxyResult | null;
          const outHeaders: Record<string, string | string[]> = { ...(result?.headers ?? {}) };
          for (const [key, list] of Object.entries(result?.multiValueHeaders ?? {})) outHeaders[key] = list;
          response.writeHead(result?.statusCode ?? 200, outHeaders);
          response.end(
            result?.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result?.body ?? ''),
          );
        } catch {
          // API Gateway hides function errors behind a 502.
          response.writeHead(502, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ message: 'Internal server error' }));
        }
      })().catch(() => {
        // A broken request (aborted body, bad headers) ends this response, never the whole server.
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: 'Internal server error' }));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
