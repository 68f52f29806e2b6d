import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics, tracer } from './powertools.ts';

/** Every handler gets the same Powertools wiring: context in logs, a traced handler, flushed metrics. */
export const withPowertools = <TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
) =>
  middy(handler)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));

/** Correlation keys for every log line of a workflow task. */
export const correlate = (keys: { executionArn?: string; fileId?: string; key?: string }): void => {
  logger.appendKeys(keys);
};
