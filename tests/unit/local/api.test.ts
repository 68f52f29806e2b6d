import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalApi, routesOf } from '../../../local/api.ts';
import { type FunctionSpec, functionsOf } from '../../../local/template.ts';
import { loadTemplate } from '../../helpers/template.ts';

const routes = routesOf(functionsOf(loadTemplate()));
const routeFor = (resource: string) => {
  const route = routes.find((candidate) => candidate.resource === resource);
  if (route === undefined) throw new Error(`template.yaml has no route ${resource}`);
  return route;
};

/** What a function's Api events look like once read from the template. */
const apiFunction = (
  logicalId: string,
  events: Record<string, { Path: string; Method: string }>,
): FunctionSpec => ({
  logicalId,
  handler: 'index.handler',
  timeoutSeconds: 3,
  memoryMb: 128,
  environment: {},
  properties: {},
  events: Object.fromEntries(
    Object.entries(events).map(([name, properties]) => [name, { Type: 'Api', Properties: properties }]),
  ),
});

describe('routesOf', () => {
  it("makes one route per Api event of the template's functions", () => {
    expect(routes.map((route) => `${route.method} ${route.resource}`).sort()).toEqual([
      'GET /files/{key+}',
      'GET /users/{userId}/aggregates',
      'GET /users/{userId}/events',
      'GET /users/{userId}/scores',
    ]);
    expect(new Set(routes.map((route) => route.functionId))).toEqual(new Set(['AnalyticsApiFunction']));
  });

  it('ignores events that are not Api events', () => {
    const fn = apiFunction('Fn', {});
    fn.events.Queue = { Type: 'SQS', Properties: { Queue: 'arn' } };

    expect(routesOf([fn])).toEqual([]);
  });

  it('upper-cases the method', () => {
    expect(routesOf([apiFunction('Fn', { Get: { Path: '/x', Method: 'get' } })])[0]?.method).toBe('GET');
  });

  it('lets {param} match exactly one path segment', () => {
    const { pattern, names } = routeFor('/users/{userId}/aggregates');

    expect(names).toEqual(['userId']);
    expect(pattern.exec('/users/u-001/aggregates')?.slice(1)).toEqual(['u-001']);
    expect(pattern.test('/users/u/001/aggregates')).toBe(false);
    expect(pattern.test('/users//aggregates')).toBe(false);
    expect(pattern.test('/users/u-001/aggregates/extra')).toBe(false);
  });

  it('lets {key+} match greedily across slashes', () => {
    const { pattern, names } = routeFor('/files/{key+}');

    expect(names).toEqual(['key']);
    expect(pattern.exec('/files/uploads/2026/03/a.csv')?.slice(1)).toEqual(['uploads/2026/03/a.csv']);
    expect(pattern.test('/files/')).toBe(false);
  });

  it('matches the literal parts of the path literally', () => {
    const [route] = routesOf([apiFunction('Fn', { Get: { Path: '/v1.0/items', Method: 'GET' } })]);

    expect(route?.pattern.test('/v1.0/items')).toBe(true);
    expect(route?.pattern.test('/v1x0/items')).toBe(false);
  });
});

describe('LocalApi', () => {
  const calls: { functionId: string; event: APIGatewayProxyEvent }[] = [];
  let respond: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
  const runtime = {
    invoke: async (functionId: string, event: unknown): Promise<unknown> => {
      calls.push({ functionId, event: event as APIGatewayProxyEvent });
      return respond(event as APIGatewayProxyEvent);
    },
  };
  const extra = apiFunction('ExtraFunction', {
    Any: { Path: '/any/{id}', Method: 'any' },
    Post: { Path: '/items', Method: 'post' },
  });
  const api = new LocalApi([...routes, ...routesOf([extra])], runtime, 'test');
  let url = '';

  const lastEvent = (): APIGatewayProxyEvent => {
    const call = calls.at(-1);
    if (call === undefined) throw new Error('the function was not invoked');
    return call.event;
  };

  beforeAll(async () => {
    url = await api.listen(0);
  });
  afterAll(async () => {
    await api.stop();
  });
  beforeEach(() => {
    calls.length = 0;
    respond = async () => ({
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"ok":true}',
    });
  });

  it("invokes the route's function and returns its proxy result", async () => {
    respond = async () => ({ statusCode: 201, headers: { 'x-custom': 'yes' }, body: 'created' });

    const response = await fetch(`${url}/users/u-001/aggregates`);

    expect(calls.map((call) => call.functionId)).toEqual(['AnalyticsApiFunction']);
    expect(response.status).toBe(201);
    expect(response.headers.get('x-custom')).toBe('yes');
    expect(await response.text()).toBe('created');
  });

  it('builds a REST proxy event with the resource, path, method and stage', async () => {
    await fetch(`${url}/users/u-001/events`);

    expect(lastEvent()).toMatchObject({
      resource: '/users/{userId}/events',
      path: '/users/u-001/events',
      httpMethod: 'GET',
      pathParameters: { userId: 'u-001' },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: {
        stage: 'test',
        resourcePath: '/users/{userId}/events',
        httpMethod: 'GET',
        path: '/test/users/u-001/events',
      },
    });
  });

  it('decodes path parameters, including a greedy one', async () => {
    await fetch(`${url}/users/${encodeURIComponent('user one')}/scores`);
    expect(lastEvent().pathParameters).toEqual({ userId: 'user one' });

    await fetch(`${url}/files/uploads/2026/${encodeURIComponent('my file.csv')}`);
    expect(lastEvent().pathParameters).toEqual({ key: 'uploads/2026/my file.csv' });
  });

  it('passes a malformed escape on as it came instead of failing the request', async () => {
    const response = await fetch(`${url}/users/bad%E0%A4%A/scores`);

    expect(response.status).toBe(200);
    expect(lastEvent().pathParameters).toEqual({ userId: 'bad%E0%A4%A' });
  });

  it('sets both query string maps to null when there is no query', async () => {
    await fetch(`${url}/users/u-001/events`);

    expect(lastEvent().queryStringParameters).toBeNull();
    expect(lastEvent().multiValueQueryStringParameters).toBeNull();
  });

  it('keeps the last value of a repeated parameter, and all of them in the multi-value map', async () => {
    await fetch(`${url}/users/u-001/events?limit=2&type=view&type=click`);

    expect(lastEvent().queryStringParameters).toEqual({ limit: '2', type: 'click' });
    expect(lastEvent().multiValueQueryStringParameters).toEqual({ limit: ['2'], type: ['view', 'click'] });
  });

  it('passes the request headers in both maps', async () => {
    await fetch(`${url}/users/u-001/events`, { headers: { 'x-trace': 'abc' } });

    expect(lastEvent().headers['x-trace']).toBe('abc');
    expect(lastEvent().multiValueHeaders['x-trace']).toEqual(['abc']);
  });

  it('passes the request body as text', async () => {
    await fetch(`${url}/items`, { method: 'POST', body: '{"a":1}' });

    expect(lastEvent().body).toBe('{"a":1}');
  });

  it('answers a path without a route with 403, as API Gateway does, without invoking anything', async () => {
    const response = await fetch(`${url}/nowhere`);

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ message: 'Missing Authentication Token' });
    expect(calls).toEqual([]);
  });

  it('answers a method without a route on a known path with 403', async () => {
    const response = await fetch(`${url}/users/u-001/events`, { method: 'DELETE' });

    expect(response.status).toBe(403);
    expect(calls).toEqual([]);
  });

  it('routes every method to an ANY route', async () => {
    await fetch(`${url}/any/1`, { method: 'PUT', body: 'x' });
    await fetch(`${url}/any/2`);

    expect(calls.map((call) => `${call.event.httpMethod} ${call.event.path}`)).toEqual([
      'PUT /any/1',
      'GET /any/2',
    ]);
  });

  it('answers a function error with 502 and no internals', async () => {
    respond = async () => {
      throw new Error('secret stack detail');
    };

    const response = await fetch(`${url}/users/u-001/aggregates`);
    const body = await response.text();

    expect(response.status).toBe(502);
    expect(JSON.parse(body)).toEqual({ message: 'Internal server error' });
    expect(body).not.toContain('secret');
  });

  it('decodes a base64 body the function marked as such', async () => {
    respond = async () => ({
      statusCode: 200,
      body: Buffer.from('binary').toString('base64'),
      isBase64Encoded: true,
    });

    const response = await fetch(`${url}/files/a.csv`);

    expect(await response.text()).toBe('binary');
  });

  it('sends every value of a multi-value header', async () => {
    respond = async () => ({
      statusCode: 200,
      body: '',
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
    });

    const response = await fetch(`${url}/files/a.csv`);

    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });
});
