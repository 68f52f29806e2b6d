import {
  HttpError,
  NotFoundError,
  ParameterValidationError,
  Router,
} from '@aws-lambda-powertools/event-handler/http';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { requireEnv } from '#shared/config.ts';
import { withPowertools } from '#shared/middleware.ts';
import { logger, metrics } from '#shared/powertools.ts';
import {
  AggregatesQuerySchema,
  dayRangeOf,
  EventsQuerySchema,
  FilePathSchema,
  parseInput,
  queryOf,
  ScoresQuerySchema,
  UserPathSchema,
} from './input.ts';
import { type ApiDeps, getFileStatus, getUserAggregates, listUserEvents, listUserScores } from './queries.ts';

const deps: ApiDeps = { table: requireEnv('TABLE_NAME') };

const app = new Router({ logger });

app.get('/users/:userId/aggregates', async ({ params, req }) => {
  const { userId } = parseInput(UserPathSchema, params);
  const range = dayRangeOf(parseInput(AggregatesQuerySchema, queryOf(req)), new Date());
  return getUserAggregates(deps, userId, range);
});

app.get('/users/:userId/events', async ({ params, req }) => {
  const { userId } = parseInput(UserPathSchema, params);
  return listUserEvents(deps, userId, parseInput(EventsQuerySchema, queryOf(req)));
});

app.get('/users/:userId/scores', async ({ params, req }) => {
  const { userId } = parseInput(UserPathSchema, params);
  const page = await listUserScores(deps, userId, parseInput(ScoresQuerySchema, queryOf(req)));
  return { userId, ...page };
});

// Upload keys contain slashes. A `:param` matches one path segment only, so the greedy `{key+}` of the
// template is a regular-expression route; its named group becomes the (URL-decoded) `key` parameter.
app.get(/^\/files\/(?<key>.+)$/, async ({ params }) => {
  const { key } = parseInput(FilePathSchema, params);
  const file = await getFileStatus(deps, key);
  if (file === null) throw new NotFoundError(`No file recorded under key ${key}`);
  return file;
});

const errorBody = (statusCode: number, error: string, message: string): Response =>
  Response.json({ statusCode, error, message }, { status: statusCode });

// One handler for everything thrown: HTTP errors keep their status and our own message; anything else is
// logged and answered with a generic 500, never with a stack trace or an SDK error's text.
app.errorHandler(Error, async (error) => {
  if (error instanceof HttpError) return errorBody(error.statusCode, error.errorType, error.message);
  // An empty path segment, or a %-escape that does not decode, is the client's mistake.
  if (error instanceof ParameterValidationError || error instanceof URIError) {
    return errorBody(400, 'BadRequestError', 'The request path is not valid');
  }
  logger.error('Request failed', { error });
  return errorBody(500, 'InternalServerError', 'Internal server error');
});

export const handler = withPowertools(async (event: unknown, context: Context) => {
  const response = await app.resolve(event, context);
  metrics.addMetric('ApiRequests', MetricUnit.Count, 1);
  // Handled 500s never reach the Lambda Errors metric; this one can carry an alarm.
  if ((response.statusCode ?? 200) >= 500) metrics.addMetric('ApiServerErrors', MetricUnit.Count, 1);
  return response;
});
