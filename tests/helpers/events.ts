import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';

const root = new URL('../../events/', import.meta.url);

/** Loads a sample event from events/ as a fresh copy, so a test may change it without affecting others. */
export const loadEvent = <T = unknown>(name: string): T =>
  structuredClone(JSON.parse(readFileSync(new URL(name, root), 'utf8')) as T);

/** A Lambda context good enough for Powertools and middy. */
export const lambdaContext = (functionName = 'test-function'): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: '2026/11/27/[$LATEST]abcdef',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});
