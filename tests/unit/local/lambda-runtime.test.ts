// biome-ignore-all lint/suspicious/noTemplateCurlyInString: handler sources are written as text, their ${…} belongs to them
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FunctionDeployment, LambdaError, LambdaRuntime } from '../../../local/lambda/runtime.ts';

// A throwaway "deployment" inside the project (under the git-ignored .local/), so that plain Node resolution
// from a function's folder would find the project's node_modules: only the runtime's rule keeps them out.
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
mkdirSync(join(PROJECT, '.local'), { recursive: true });
const root = mkdtempSync(join(PROJECT, '.local', 'lambda-runtime-test-'));
const layerNodeModules = join(root, 'layer', 'nodejs', 'node_modules');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const writePackage = (name: string, source: string): void => {
  const dir = join(layerNodeModules, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', exports: './index.js' }));
  writeFileSync(join(dir, 'index.js'), source);
};
// Two layer packages, one importing the other, as Powertools' packages do.
writePackage('punctuation', 'export const exclaim = (text) => `${text}!`;\n');
writePackage(
  'greeting',
  "import { exclaim } from 'punctuation';\nexport const greet = (name) => exclaim(`hello ${name}`);\n",
);

const deploy = (
  logicalId: string,
  source: string,
  settings: Partial<FunctionDeployment> = {},
): FunctionDeployment => {
  const functionDir = join(root, 'functions', logicalId);
  mkdirSync(functionDir, { recursive: true });
  writeFileSync(join(functionDir, 'index.mjs'), source);
  return {
    logicalId,
    name: `offline-${logicalId}`,
    arn: `arn:aws:lambda:us-east-1:123456789012:function:offline-${logicalId}`,
    functionDir,
    handlerFile: join(functionDir, 'index.mjs'),
    exportName: 'handler',
    layerNodeModules: [layerNodeModules],
    environment: {},
    timeoutSeconds: 3,
    memoryMb: 128,
    ...settings,
  };
};

const start = (deployments: FunctionDeployment[]): LambdaRuntime =>
  new LambdaRuntime(deployments, {
    logDir: join(root, 'logs'),
    concurrency: 1,
    baseEnvironment: { BASE_ONLY: 'from-base', GREETING: 'from-base' },
  });

/** The LambdaError an invocation failed with. */
const failureOf = async (invocation: Promise<unknown>): Promise<LambdaError> => {
  try {
    await invocation;
  } catch (error) {
    if (error instanceof LambdaError) return error;
    throw error;
  }
  throw new Error('expected the invocation to fail');
};

const COUNTER = `
let invocations = 0;
export const handler = async () => {
  invocations += 1;
  return { invocations };
};
`;

describe('package resolution', () => {
  const deployments = [
    deploy(
      'LayerUser',
      "import { greet } from 'greeting';\nexport const handler = async (event) => ({ message: greet(event.name) });\n",
    ),
    deploy(
      'ImportsYaml',
      "import { parse } from 'yaml';\nexport const handler = async () => parse('a: 1');\n",
    ),
    deploy(
      'RequiresYaml',
      [
        // What esbuild's banner gives the bundles: a require for CommonJS dependencies.
        "import { createRequire } from 'node:module';",
        'const require = createRequire(import.meta.url);',
        "const yaml = require('yaml');",
        'export const handler = async () => yaml.parse("a: 1");',
        '',
      ].join('\n'),
    ),
    deploy(
      'UsesBuiltins',
      "import { createHash } from 'node:crypto';\nexport const handler = async () => createHash('sha1').update('x').digest('hex');\n",
    ),
  ];
  const runtime = start(deployments);
  afterAll(() => runtime.stop());

  it("can reach the project's copy of yaml from a function folder without the runtime's rule", () => {
    const plain = createRequire(join(root, 'functions', 'ImportsYaml', 'index.mjs'));

    expect(plain.resolve('yaml')).toContain(join(PROJECT, 'node_modules', 'yaml'));
  });

  it('loads a package that only the layer has, and its own dependencies from the layer', async () => {
    await expect(runtime.invoke('LayerUser', { name: 'ada' })).resolves.toEqual({ message: 'hello ada!' });
  });

  it("fails an ESM import of a package that is in the project's node_modules but not in the layer", async () => {
    const error = await failureOf(runtime.invoke('ImportsYaml', {}));

    // As Lambda's Node.js runtime reports it: ERR_MODULE_NOT_FOUND from an import stays a plain Error.
    expect(error.payload.errorType).toBe('Error');
    expect(error.payload.errorMessage).toContain("Cannot find package 'yaml'");
  });

  it('fails a require of such a package with Runtime.ImportModuleError', async () => {
    const error = await failureOf(runtime.invoke('RequiresYaml', {}));

    expect(error.name).toBe('Runtime.ImportModuleError');
    expect(error.payload.errorMessage).toContain("Cannot find module 'yaml'");
  });

  it('loads node: builtins', async () => {
    await expect(runtime.invoke('UsesBuiltins', {})).resolves.toBe(
      '11f6ad8ec52a2984abaafd7c3b516503785c2072',
    );
  });
});

describe('environment variables', () => {
  const ENV_HANDLER = `
export const handler = async (event) => {
  const seen = {
    greeting: process.env.GREETING ?? null,
    onlyA: process.env.ONLY_A ?? null,
    base: process.env.BASE_ONLY ?? null,
    leaked: process.env.LEAKED ?? null,
    tableName: process.env.TABLE_NAME ?? null,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? null,
  };
  if (event.leak) process.env.LEAKED = 'set by a handler';
  return seen;
};
`;
  const runtime = start([
    deploy('EnvA', ENV_HANDLER, { environment: { GREETING: 'from-a', ONLY_A: 'yes' } }),
    deploy('EnvB', ENV_HANDLER, { environment: { GREETING: 'from-b' } }),
  ]);
  afterAll(() => runtime.stop());

  it("gives each function its own variables over the runtime's base ones", async () => {
    await expect(runtime.invoke('EnvA', {})).resolves.toMatchObject({
      greeting: 'from-a',
      onlyA: 'yes',
      base: 'from-base',
      functionName: 'offline-EnvA',
    });
    await expect(runtime.invoke('EnvB', {})).resolves.toMatchObject({
      greeting: 'from-b',
      onlyA: null,
      base: 'from-base',
      functionName: 'offline-EnvB',
    });
  });

  it("does not inherit the host process's variables", async () => {
    expect(process.env.TABLE_NAME).toBeDefined();

    await expect(runtime.invoke('EnvA', {})).resolves.toMatchObject({ tableName: null });
  });

  it('keeps a variable one function sets away from the other function and from the host', async () => {
    await runtime.invoke('EnvA', { leak: true });

    await expect(runtime.invoke('EnvA', {})).resolves.toMatchObject({ leaked: 'set by a handler' });
    await expect(runtime.invoke('EnvB', {})).resolves.toMatchObject({ leaked: null });
    expect(process.env.LEAKED).toBeUndefined();
  });
});

describe('errors', () => {
  const runtime = start([
    deploy(
      'ThrowsNamed',
      [
        'class ChunkNotFoundError extends Error {',
        "  constructor(message) { super(message); this.name = 'ChunkNotFoundError'; }",
        '}',
        'export const handler = async (event) => { throw new ChunkNotFoundError(`chunk ${event.chunk} is gone`); };',
        '',
      ].join('\n'),
    ),
    deploy('ThrowsString', "export const handler = async () => { throw 'plain text'; };\n"),
    deploy('NoHandler', 'export const other = async () => 1;\n'),
    deploy(
      'ConfigError',
      [
        "class MissingConfigError extends Error { name = 'MissingConfigError'; }",
        "throw new MissingConfigError('TABLE_NAME is not set');",
        '',
      ].join('\n'),
    ),
    deploy('SyntaxError', 'export const handler = async () => {\n'),
    deploy('Missing', COUNTER, { handlerFile: join(root, 'functions', 'Missing', 'nowhere.mjs') }),
    deploy('ExitsAtInit', 'process.exit(3);\n'),
  ]);
  afterAll(() => runtime.stop());

  it('reports an error class thrown by the handler by its name, with its message', async () => {
    const error = await failureOf(runtime.invoke('ThrowsNamed', { chunk: 3 }));

    expect(error.name).toBe('ChunkNotFoundError');
    expect(error.payload).toMatchObject({ errorType: 'ChunkNotFoundError', errorMessage: 'chunk 3 is gone' });
    expect(error.payload.trace[0]).toContain('ChunkNotFoundError');
  });

  it("carries Lambda's JSON error payload as the message", async () => {
    const error = await failureOf(runtime.invoke('ThrowsNamed', { chunk: 1 }));

    expect(JSON.parse(error.message)).toEqual(error.payload);
    expect(Object.keys(error.payload).sort()).toEqual(['errorMessage', 'errorType', 'trace']);
  });

  it('reports something thrown that is not an Error by its type', async () => {
    const error = await failureOf(runtime.invoke('ThrowsString', {}));

    expect(error.payload).toMatchObject({ errorType: 'string', errorMessage: 'plain text' });
  });

  it('reports a module without the handler export as Runtime.HandlerNotFound', async () => {
    const error = await failureOf(runtime.invoke('NoHandler', {}));

    expect(error.name).toBe('Runtime.HandlerNotFound');
    expect(error.payload.errorMessage).toContain('handler');
  });

  it('reports an error thrown while the module initialises by its own name', async () => {
    const error = await failureOf(runtime.invoke('ConfigError', {}));

    expect(error.payload).toMatchObject({
      errorType: 'MissingConfigError',
      errorMessage: 'TABLE_NAME is not set',
    });
  });

  it('reports a syntax error as Runtime.UserCodeSyntaxError', async () => {
    const error = await failureOf(runtime.invoke('SyntaxError', {}));

    expect(error.name).toBe('Runtime.UserCodeSyntaxError');
  });

  it('reports a missing handler file as Runtime.ImportModuleError', async () => {
    const error = await failureOf(runtime.invoke('Missing', {}));

    expect(error.name).toBe('Runtime.ImportModuleError');
    expect(error.payload.errorMessage).toContain('nowhere.mjs');
  });

  it('fails, instead of waiting forever, when the environment exits while initialising', async () => {
    const error = await failureOf(runtime.invoke('ExitsAtInit', {}));

    expect(error.name).toBe('Runtime.ExitError');
  });

  it('refuses a function that is not deployed', async () => {
    expect(runtime.has('Nope')).toBe(false);
    await expect(runtime.invoke('Nope', {})).rejects.toThrow(/Nope/);
  });
});

describe('timeouts', () => {
  const SLOW = `
let invocations = 0;
export const handler = async (event) => {
  invocations += 1;
  if (event.wait) await new Promise((resolve) => setTimeout(resolve, 60_000));
  if (event.spin) for (;;) {}
  return { invocations };
};
`;
  let runtime: LambdaRuntime;
  beforeAll(() => {
    runtime = start([
      deploy('Slow', SLOW, { timeoutSeconds: 1 }),
      deploy('SlowInit', `await new Promise((resolve) => setTimeout(resolve, 60_000));\n${COUNTER}`, {
        timeoutSeconds: 1,
      }),
    ]);
  });
  afterAll(() => runtime.stop());

  it('fails a handler that runs past its timeout with Sandbox.Timedout', async () => {
    const started = Date.now();
    const error = await failureOf(runtime.invoke('Slow', { wait: true }));

    expect(error.name).toBe('Sandbox.Timedout');
    expect(error.payload.errorMessage).toBe('Task timed out after 1.00 seconds');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('runs the next invocation in a fresh environment after a timeout', async () => {
    await runtime.invoke('Slow', {});
    const coldStarts = runtime.stats().Slow?.coldStarts ?? 0;

    await failureOf(runtime.invoke('Slow', { wait: true }));

    await expect(runtime.invoke('Slow', {})).resolves.toEqual({ invocations: 1 });
    expect(runtime.stats().Slow?.coldStarts).toBe(coldStarts + 1);
  });

  it('stops a handler that never yields the thread', async () => {
    const error = await failureOf(runtime.invoke('Slow', { spin: true }));

    expect(error.name).toBe('Sandbox.Timedout');
    await expect(runtime.invoke('Slow', {})).resolves.toEqual({ invocations: 1 });
  });

  it('times out an initialisation that takes longer than the timeout', async () => {
    const error = await failureOf(runtime.invoke('SlowInit', {}));

    expect(error.name).toBe('Sandbox.Timedout');
  });
});

describe('the context', () => {
  const runtime = start([
    deploy(
      'Context',
      [
        'export const handler = async (event, context) => {',
        '  const before = context.getRemainingTimeInMillis();',
        '  await new Promise((resolve) => setTimeout(resolve, 50));',
        '  return {',
        '    functionName: context.functionName,',
        '    invokedFunctionArn: context.invokedFunctionArn,',
        '    memoryLimitInMB: context.memoryLimitInMB,',
        '    awsRequestId: context.awsRequestId,',
        '    before,',
        '    after: context.getRemainingTimeInMillis(),',
        '  };',
        '};',
        '',
      ].join('\n'),
      { timeoutSeconds: 5, memoryMb: 256 },
    ),
  ]);
  afterAll(() => runtime.stop());

  interface Seen {
    functionName: string;
    invokedFunctionArn: string;
    memoryLimitInMB: string;
    awsRequestId: string;
    before: number;
    after: number;
  }

  it("names the function and carries the deployment's ARN and memory", async () => {
    const seen = (await runtime.invoke('Context', {})) as Seen;

    expect(seen).toMatchObject({
      functionName: 'offline-Context',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:offline-Context',
      memoryLimitInMB: '256',
    });
  });

  it('gives each invocation its own request id', async () => {
    const first = (await runtime.invoke('Context', {})) as Seen;
    const second = (await runtime.invoke('Context', {})) as Seen;

    expect(first.awsRequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(second.awsRequestId).not.toBe(first.awsRequestId);
  });

  it('counts the remaining time down from the timeout', async () => {
    const { before, after } = (await runtime.invoke('Context', {})) as Seen;

    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThanOrEqual(5_000);
    expect(after).toBeLessThanOrEqual(before - 40);
  });
});

describe('injected faults', () => {
  const runtime = start([deploy('Counter', COUNTER), deploy('Other', COUNTER)]);
  afterEach(() => runtime.clearFaults());
  afterAll(() => runtime.stop());

  /** How many times the handler has run so far (this call included). */
  const ran = async (): Promise<number> =>
    ((await runtime.invoke('Counter', {})) as { invocations: number }).invocations;

  it("'before' fails the invocation without running the handler", async () => {
    const runs = await ran();
    runtime.injectFault({
      functionId: 'Counter',
      phase: 'before',
      times: 1,
      errorType: 'Lambda.TooManyRequestsException',
    });

    const error = await failureOf(runtime.invoke('Counter', {}));

    expect(error.payload).toMatchObject({
      errorType: 'Lambda.TooManyRequestsException',
      errorMessage: 'injected fault',
    });
    expect(await ran()).toBe(runs + 1);
  });

  it("'after' runs the handler, then fails the invocation", async () => {
    const runs = await ran();
    runtime.injectFault({
      functionId: 'Counter',
      phase: 'after',
      times: 1,
      errorType: 'Sandbox.Timedout',
      errorMessage: 'timed out after writing',
    });

    const error = await failureOf(runtime.invoke('Counter', {}));

    expect(error.payload).toMatchObject({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'timed out after writing',
    });
    expect(await ran()).toBe(runs + 2);
  });

  it('fails as many invocations as `times` says, then lets them through', async () => {
    runtime.injectFault({ functionId: 'Counter', phase: 'before', times: 2, errorType: 'Runtime.ExitError' });

    await failureOf(runtime.invoke('Counter', {}));
    await failureOf(runtime.invoke('Counter', {}));

    await expect(runtime.invoke('Counter', {})).resolves.toMatchObject({ invocations: expect.any(Number) });
  });

  it('fails only the events `when` selects, and spends `times` only on those', async () => {
    runtime.injectFault({
      functionId: 'Counter',
      phase: 'before',
      times: 1,
      errorType: 'Runtime.ExitError',
      when: (event) => (event as { key?: string }).key === 'flaky.csv',
    });

    await expect(runtime.invoke('Counter', { key: 'fine.csv' })).resolves.toBeDefined();
    const error = await failureOf(runtime.invoke('Counter', { key: 'flaky.csv' }));
    await expect(runtime.invoke('Counter', { key: 'flaky.csv' })).resolves.toBeDefined();

    expect(error.name).toBe('Runtime.ExitError');
  });

  it('touches only the function it names', async () => {
    runtime.injectFault({ functionId: 'Other', phase: 'before', times: 1, errorType: 'Runtime.ExitError' });

    await expect(runtime.invoke('Counter', {})).resolves.toBeDefined();
    await expect(runtime.invoke('Other', {})).rejects.toThrow(LambdaError);
  });

  it('does not change a rule after it was injected', async () => {
    const rule = {
      functionId: 'Counter',
      phase: 'before' as const,
      times: 1,
      errorType: 'Runtime.ExitError',
    };
    runtime.injectFault(rule);

    await failureOf(runtime.invoke('Counter', {}));

    expect(rule.times).toBe(1);
    await expect(runtime.invoke('Counter', {})).resolves.toBeDefined();
  });

  it('clearFaults removes the rules not yet spent', async () => {
    runtime.injectFault({ functionId: 'Counter', phase: 'before', times: 5, errorType: 'Runtime.ExitError' });

    runtime.clearFaults();

    await expect(runtime.invoke('Counter', {})).resolves.toBeDefined();
  });
});

describe('stats', () => {
  let runtime: LambdaRuntime;
  afterEach(() => runtime.stop());

  it('count invocations, errors and cold starts per function', async () => {
    runtime = start([
      deploy('Counter', COUNTER),
      deploy('Fails', "export const handler = async () => { throw new TypeError('bad input'); };\n"),
    ]);

    await runtime.invoke('Counter', { some: 'payload' });
    await runtime.invoke('Counter', {});
    await failureOf(runtime.invoke('Fails', {}));

    expect(runtime.stats()).toMatchObject({
      Counter: { invocations: 2, errors: 0, coldStarts: 1 },
      Fails: { invocations: 1, errors: 1, coldStarts: 1 },
    });
    expect(runtime.stats().Counter?.maxRequestBytes).toBe(JSON.stringify({ some: 'payload' }).length);
    expect(runtime.stats().Counter?.maxResponseBytes).toBe(JSON.stringify({ invocations: 2 }).length);
  });

  it('are a copy the caller cannot change', async () => {
    runtime = start([deploy('Counter', COUNTER)]);
    await runtime.invoke('Counter', {});

    const stats = runtime.stats();
    if (stats.Counter) stats.Counter.invocations = 99;

    expect(runtime.stats().Counter?.invocations).toBe(1);
  });
});

describe('an environment killed mid-invocation (a kill fault at the emulator boundary)', () => {
  const SLEEPER = `
let invocations = 0;
export const handler = async (event) => {
  invocations += 1;
  if (event.wait) await new Promise((resolve) => setTimeout(resolve, 2000));
  return { key: process.env.AWS_ACCESS_KEY_ID, invocations };
};
`;
  const runtime = start([deploy('Sleeper', SLEEPER)]);
  afterAll(() => runtime.stop());

  it('fails that invocation with Runtime.ExitError, and the next one runs in a fresh environment', async () => {
    const first = (await runtime.invoke('Sleeper', {})) as { key: string; invocations: number };
    expect(first.key).toBe('fn.Sleeper~1');

    const waiting = failureOf(runtime.invoke('Sleeper', { wait: true }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runtime.kill(first.key)).toBe(true);
    const error = await waiting;

    expect(error.payload).toMatchObject({
      errorType: 'Runtime.ExitError',
      errorMessage: 'Runtime exited with error: signal: killed',
    });
    expect(await runtime.invoke('Sleeper', {})).toEqual({ key: 'fn.Sleeper~2', invocations: 1 });
  });

  it('kills nothing for a key no environment holds', () => {
    expect(runtime.kill('fn.Sleeper~99')).toBe(false);
    expect(runtime.kill('fn.Nobody~1')).toBe(false);
  });
});
