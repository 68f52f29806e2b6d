import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ErrorPayload, InvokeRequest, WorkerData, WorkerMessage } from './protocol.ts';
import type { InvocationUsage } from './usage.ts';

/** What Lambda needs to run one function: its built code, layers, settings and resolved environment. */
export interface FunctionDeployment {
  logicalId: string;
  name: string;
  arn: string;
  functionDir: string;
  handlerFile: string;
  exportName: string;
  layerNodeModules: string[];
  environment: Record<string, string>;
  timeoutSeconds: number;
  memoryMb: number;
}

/**
 * A failed invocation as Step Functions and event sources see it: `name` is Lambda's errorType (the error
 * class name, or Sandbox.Timedout / Runtime.*), `message` is Lambda's JSON error payload.
 */
export class LambdaError extends Error {
  readonly payload: ErrorPayload;
  constructor(payload: ErrorPayload) {
    super(JSON.stringify(payload));
    this.name = payload.errorType;
    this.payload = payload;
  }
}

/** A fault injected at the invocation layer, for tests of retries: before the handler, or after it ran. */
export interface FaultRule {
  functionId: string;
  times: number;
  phase: 'before' | 'after';
  errorType: string;
  errorMessage?: string;
  when?: (event: unknown) => boolean;
}

export interface InvocationStats {
  invocations: number;
  errors: number;
  coldStarts: number;
  totalMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** The largest heap an environment held as an invocation ended (see InvocationUsage.heapUsedBytes). */
  peakHeapBytes: number;
}

interface Environment {
  worker: Worker;
  /** Its own access key (`fn.<Function>~<n>`): how a fault at the emulator boundary names it to kill it. */
  accessKeyId: string;
  killed: boolean;
  ready: Promise<void>;
  busy: boolean;
  pending?: { id: number; resolve: (value: unknown) => void; reject: (error: Error) => void };
  /** INIT time not yet billed: it goes on the environment's first invocation. */
  unbilledInitMs: number;
  /** The handler time the environment reported for its last invocation. */
  lastDurationMs?: number;
  /** What that invocation spent waiting on AWS. */
  lastUsage?: InvocationUsage;
}

/** One invocation as Lambda bills it, for the meter. */
export interface InvocationRecord {
  functionId: string;
  memoryMb: number;
  /** The handler's duration as measured offline, rounded up to the millisecond as Lambda bills. */
  billedMs: number;
  initMs: number;
  ok: boolean;
  /** Absent when the invocation timed out (its environment never reported). */
  usage?: InvocationUsage;
}

export interface RuntimeHooks {
  onInvocation?: (record: InvocationRecord) => void;
  /** Everything a function writes to stdout/stderr, as CloudWatch Logs would receive it. */
  onLog?: (functionId: string, chunk: Buffer) => void;
}

const fault = (errorType: string, errorMessage: string): LambdaError =>
  new LambdaError({ errorType, errorMessage, trace: [] });

/** Only Lambda's payload fields, not the worker protocol's. */
const payloadOf = ({ errorType, errorMessage, trace }: ErrorPayload): ErrorPayload => ({
  errorType,
  errorMessage,
  trace,
});

class FunctionPool {
  private readonly environments: Environment[] = [];
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;
  private spawned = 0;
  readonly stats: InvocationStats = {
    invocations: 0,
    errors: 0,
    coldStarts: 0,
    totalMs: 0,
    maxRequestBytes: 0,
    maxResponseBytes: 0,
    peakHeapBytes: 0,
  };

  readonly deployment: FunctionDeployment;
  private readonly maxEnvironments: number;
  private readonly log: WriteStream;
  private readonly baseEnv: Record<string, string>;
  private readonly hooks: RuntimeHooks;

  constructor(
    deployment: FunctionDeployment,
    maxEnvironments: number,
    log: WriteStream,
    baseEnv: Record<string, string>,
    hooks: RuntimeHooks = {},
  ) {
    this.deployment = deployment;
    this.maxEnvironments = maxEnvironments;
    this.log = log;
    this.baseEnv = baseEnv;
    this.hooks = hooks;
  }

  private spawn(): Environment {
    const d = this.deployment;
    this.spawned += 1;
    const accessKeyId = `fn.${d.logicalId}~${this.spawned}`;
    const data: WorkerData = {
      functionName: d.name,
      functionArn: d.arn,
      functionDir: d.functionDir,
      handlerFile: d.handlerFile,
      exportName: d.exportName,
      layerNodeModules: d.layerNodeModules,
      memoryMb: d.memoryMb,
      logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    };
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: data,
      env: {
        ...this.baseEnv,
        ...d.environment,
        AWS_LAMBDA_FUNCTION_NAME: d.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(d.memoryMb),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${d.name}`,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
        LAMBDA_TASK_ROOT: d.functionDir,
        // The function's own credentials: the metering proxy tells its calls (and this environment) apart by them.
        AWS_ACCESS_KEY_ID: accessKeyId,
      },
      // Lambda's memory setting bounds the heap here too (V8 old space), so a leak fails like it would there.
      resourceLimits: { maxOldGenerationSizeMb: d.memoryMb },
      stdout: true,
      stderr: true,
    });
    worker.stdout.pipe(this.log, { end: false });
    worker.stderr.pipe(this.log, { end: false });
    const onLog = this.hooks.onLog;
    if (onLog) {
      worker.stdout.on('data', (chunk: Buffer) => onLog(d.logicalId, chunk));
      worker.stderr.on('data', (chunk: Buffer) => onLog(d.logicalId, chunk));
    }
    this.stats.coldStarts += 1;

    const environment: Environment = {
      worker,
      accessKeyId,
      killed: false,
      busy: false,
      ready: Promise.resolve(),
      unbilledInitMs: 0,
    };
    environment.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          environment.unbilledInitMs = message.initMs;
          resolve();
        } else if (message.type === 'init-error') {
          environment.unbilledInitMs = message.initMs;
          reject(new LambdaError(payloadOf(message)));
        } else {
          const pending = environment.pending;
          if (pending === undefined || pending.id !== message.id) return;
          environment.pending = undefined;
          environment.lastDurationMs = message.durationMs;
          environment.lastUsage = message.usage;
          this.stats.peakHeapBytes = Math.max(this.stats.peakHeapBytes, message.usage.heapUsedBytes);
          if (message.ok) pending.resolve(message.result);
          else pending.reject(new LambdaError(payloadOf(message)));
        }
      });
      worker.on('error', (error) => {
        const payload = { errorType: 'Runtime.ExitError', errorMessage: error.message, trace: [] };
        reject(new LambdaError(payload));
        environment.pending?.reject(new LambdaError(payload));
        environment.pending = undefined;
        this.discard(environment);
      });
      worker.on('exit', (code) => {
        const payload = {
          errorType: 'Runtime.ExitError',
          // Lambda's words for a runtime process that was killed, or that exited by itself.
          errorMessage: environment.killed
            ? 'Runtime exited with error: signal: killed'
            : `Runtime exited with error: exit status ${code}`,
          trace: [],
        };
        // An environment that exits while initialising fails its invocation instead of leaving it waiting.
        reject(new LambdaError(payload));
        environment.pending?.reject(new LambdaError(payload));
        environment.pending = undefined;
        this.discard(environment);
      });
    });
    environment.ready.catch(() => this.discard(environment));
    this.environments.push(environment);
    return environment;
  }

  /** Kills the environment holding this access key, mid-invocation if it is in one (a fault, see proxy.ts). */
  kill(accessKeyId: string): boolean {
    const environment = this.environments.find((candidate) => candidate.accessKeyId === accessKeyId);
    if (environment === undefined) return false;
    environment.killed = true;
    void environment.worker.terminate();
    return true;
  }

  private discard(environment: Environment): void {
    const index = this.environments.indexOf(environment);
    if (index !== -1) this.environments.splice(index, 1);
    environment.busy = false;
    void environment.worker.terminate();
    this.waiters.shift()?.();
  }

  private async acquire(): Promise<Environment> {
    for (;;) {
      const idle = this.environments.find((environment) => !environment.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.environments.length < this.maxEnvironments) {
        const fresh = this.spawn();
        fresh.busy = true;
        return fresh;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(environment: Environment): void {
    environment.busy = false;
    this.waiters.shift()?.();
  }

  async invoke(event: unknown): Promise<unknown> {
    const started = Date.now();
    const requestBytes = Buffer.byteLength(JSON.stringify(event ?? null));
    this.stats.invocations += 1;
    this.stats.maxRequestBytes = Math.max(this.stats.maxRequestBytes, requestBytes);
    const environment = await this.acquire();
    const timeoutMs = this.deployment.timeoutSeconds * 1000;
    // The clock starts before the environment is ready: an init that hangs times out like a slow handler.
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let ok = false;
    let timedOut = false;
    environment.lastDurationMs = undefined;
    environment.lastUsage = undefined;
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          environment.pending = undefined;
          // Lambda freezes and discards an environment that timed out; so does this runtime.
          this.discard(environment);
          reject(
            fault(
              'Sandbox.Timedout',
              `Task timed out after ${this.deployment.timeoutSeconds.toFixed(2)} seconds`,
            ),
          );
        }, timeoutMs);
        environment.ready.then(() => {
          if (!this.environments.includes(environment)) return;
          const id = this.nextId++;
          environment.pending = { id, resolve, reject };
          const request: InvokeRequest = { id, event, deadline, requestId: randomUUID() };
          try {
            environment.worker.postMessage(request);
          } catch (error) {
            environment.pending = undefined;
            reject(error);
          }
        }, reject);
      });
      this.stats.maxResponseBytes = Math.max(
        this.stats.maxResponseBytes,
        Buffer.byteLength(JSON.stringify(result)),
      );
      ok = true;
      return result;
    } catch (error) {
      this.stats.errors += 1;
      throw error;
    } finally {
      clearTimeout(timer);
      this.stats.totalMs += Date.now() - started;
      const durationMs = timedOut ? timeoutMs : (environment.lastDurationMs ?? 0);
      this.hooks.onInvocation?.({
        functionId: this.deployment.logicalId,
        memoryMb: this.deployment.memoryMb,
        billedMs: Math.ceil(durationMs),
        initMs: Math.ceil(environment.unbilledInitMs),
        ok,
        ...(timedOut || environment.lastUsage === undefined ? {} : { usage: environment.lastUsage }),
      });
      environment.unbilledInitMs = 0;
      if (this.environments.includes(environment)) this.release(environment);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.environments.splice(0).map((environment) => environment.worker.terminate()));
  }
}

export interface RuntimeOptions {
  logDir: string;
  /** Execution environments per function (Lambda's concurrency, scaled to one machine). */
  concurrency: number;
  /** Variables every environment gets (region, dummy credentials, emulator endpoints). */
  baseEnvironment: Record<string, string>;
  hooks?: RuntimeHooks;
}

/** Runs the built functions like Lambda: per-function environments, timeouts, errors by errorType. */
export class LambdaRuntime {
  private readonly pools = new Map<string, FunctionPool>();
  private readonly logs: WriteStream[] = [];
  private readonly faults: FaultRule[] = [];

  constructor(deployments: FunctionDeployment[], options: RuntimeOptions) {
    mkdirSync(options.logDir, { recursive: true });
    for (const deployment of deployments) {
      const log = createWriteStream(join(options.logDir, `${deployment.logicalId}.log`), { flags: 'a' });
      // Every environment pipes its stdout and stderr into the function's one log file.
      log.setMaxListeners(2 * options.concurrency + 10);
      this.logs.push(log);
      this.pools.set(
        deployment.logicalId,
        new FunctionPool(deployment, options.concurrency, log, options.baseEnvironment, options.hooks),
      );
    }
  }

  injectFault(rule: FaultRule): void {
    this.faults.push({ ...rule });
  }

  clearFaults(): void {
    this.faults.splice(0);
  }

  private takeFault(functionId: string, phase: FaultRule['phase'], event: unknown): FaultRule | undefined {
    const rule = this.faults.find(
      (candidate) =>
        candidate.functionId === functionId &&
        candidate.phase === phase &&
        candidate.times > 0 &&
        (candidate.when === undefined || candidate.when(event)),
    );
    if (rule) rule.times -= 1;
    return rule;
  }

  has(functionId: string): boolean {
    return this.pools.has(functionId);
  }

  /** Kills the environment an access key names (`fn.<Function>~<n>`), as a fault injected at the boundary. */
  kill(accessKeyId: string): boolean {
    const functionId = accessKeyId.replace(/^fn\./, '').split('~')[0] ?? '';
    return this.pools.get(functionId)?.kill(accessKeyId) ?? false;
  }

  async invoke(functionId: string, event: unknown): Promise<unknown> {
    const pool = this.pools.get(functionId);
    if (pool === undefined) throw new Error(`No function ${functionId} in the template`);
    const before = this.takeFault(functionId, 'before', event);
    if (before) throw fault(before.errorType, before.errorMessage ?? 'injected fault');
    const result = await pool.invoke(event);
    const after = this.takeFault(functionId, 'after', event);
    if (after) throw fault(after.errorType, after.errorMessage ?? 'injected fault after the handler ran');
    return result;
  }

  stats(): Record<string, InvocationStats> {
    return Object.fromEntries([...this.pools].map(([id, pool]) => [id, { ...pool.stats }]));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.stop()));
    for (const log of this.logs) log.end();
  }
}
