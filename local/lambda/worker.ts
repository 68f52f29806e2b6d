import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isBuiltin, registerHooks } from 'node:module';
import { sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { InvokeRequest, WorkerData, WorkerMessage } from './protocol.ts';
import { trackUsage } from './usage.ts';

// One Lambda execution environment: a worker thread with the function's own environment variables, its
// built bundle loaded once (cold start) and invocations handled one at a time, as Lambda does.

const data = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('worker.ts must run as a worker thread');

const isBare = (specifier: string): boolean => !/^(\.|\/|file:|node:|data:|#)/.test(specifier);
const roots = [data.functionDir, ...data.layerNodeModules].map((root) =>
  root.endsWith(sep) ? root : root + sep,
);
const inside = (url: string): boolean => {
  if (!url.startsWith('file:')) return true;
  const path = fileURLToPath(url);
  return roots.some((root) => path.startsWith(root));
};
const anchors = [
  pathToFileURL(`${data.functionDir}${sep}index.mjs`).href,
  ...data.layerNodeModules.map((dir) => pathToFileURL(`${dir}${sep}_anchor.mjs`).href),
];

// Lambda resolves packages from the function's bundle and then from its layers (/opt/nodejs/node_modules);
// it never sees this project's node_modules. The same rule here: a package found only outside the bundle
// and the layers fails to load, exactly as it would once deployed.
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (isBuiltin(specifier) || !isBare(specifier)) return nextResolve(specifier, context);
    const parents = [
      ...(context.parentURL !== undefined && inside(context.parentURL) ? [context.parentURL] : []),
      ...anchors,
    ];
    for (const parentURL of parents) {
      try {
        const resolved = nextResolve(specifier, { ...context, parentURL });
        if (inside(resolved.url)) return resolved;
      } catch {
        // not found from this parent; try the next place Lambda would look
      }
    }
    // Node's own wording and codes: Lambda tells a CommonJS require (MODULE_NOT_FOUND) from an ESM import.
    const required = context.conditions.includes('require');
    const parent = context.parentURL?.startsWith('file:')
      ? fileURLToPath(context.parentURL)
      : data.handlerFile;
    const searched = ` (searched only the function bundle and its layers: ${[data.functionDir, ...data.layerNodeModules].join(', ')})`;
    const error = new Error(
      required
        ? `Cannot find module '${specifier}'${searched}`
        : `Cannot find package '${specifier}' imported from ${parent}${searched}`,
    );
    Object.assign(error, { code: required ? 'MODULE_NOT_FOUND' : 'ERR_MODULE_NOT_FOUND' });
    throw error;
  },
});

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/** Lambda's error payload: the error's name as errorType; something thrown that is not an Error, its type. */
const describe = (error: unknown) => {
  if (!(error instanceof Error)) return { errorType: typeof error, errorMessage: String(error), trace: [] };
  return {
    errorType: error.name || 'Error',
    errorMessage: error.message,
    trace: (error.stack ?? '').split('\n').slice(0, 20),
  };
};

/** Init errors as the Node.js runtime interface client names them. */
const describeInitError = (error: unknown) => {
  const described = describe(error);
  if (error instanceof SyntaxError)
    return { ...described, errorType: 'Runtime.UserCodeSyntaxError', errorMessage: String(error) };
  // Only CommonJS's code: an ESM import of a missing package stays a plain Error in Lambda too.
  if ((error as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND')
    return { ...described, errorType: 'Runtime.ImportModuleError', errorMessage: String(error) };
  return described;
};

const load = async (): Promise<Handler> => {
  if (!existsSync(data.handlerFile)) {
    const error = new Error(`Cannot find module '${data.handlerFile}'`);
    throw Object.assign(error, { code: 'MODULE_NOT_FOUND' });
  }
  const module = (await import(pathToFileURL(data.handlerFile).href)) as Record<string, unknown>;
  const handler = module[data.exportName];
  if (typeof handler !== 'function') {
    const error = new Error(`${data.handlerFile} does not export a function named ${data.exportName}`);
    error.name = 'Runtime.HandlerNotFound';
    throw error;
  }
  return handler as Handler;
};

const measure = trackUsage();
let handler: Handler | undefined;
const initStarted = performance.now();
try {
  handler = await load();
  port.postMessage({ type: 'ready', initMs: performance.now() - initStarted } satisfies WorkerMessage);
} catch (error) {
  port.postMessage({
    type: 'init-error',
    initMs: performance.now() - initStarted,
    ...describeInitError(error),
  } satisfies WorkerMessage);
}

port.on('message', async (request: InvokeRequest) => {
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: data.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: data.functionArn,
    memoryLimitInMB: String(data.memoryMb),
    awsRequestId: request.requestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${data.functionName}`,
    logStreamName: data.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, request.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  const started = performance.now();
  const usage = measure();
  try {
    if (handler === undefined) throw new Error('handler failed to initialise');
    const result = await handler(request.event, context);
    // Lambda returns JSON: whatever does not survive serialisation does not reach the caller either.
    const payload = result === undefined ? null : JSON.parse(JSON.stringify(result));
    port.postMessage({
      type: 'result',
      id: request.id,
      ok: true,
      result: payload,
      durationMs: performance.now() - started,
      usage: usage(),
    } satisfies WorkerMessage);
  } catch (error) {
    port.postMessage({
      type: 'result',
      id: request.id,
      ok: false,
      durationMs: performance.now() - started,
      usage: usage(),
      ...describe(error),
    } satisfies WorkerMessage);
  }
});
