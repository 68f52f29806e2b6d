import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { type RunOptions, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { LambdaRuntime } from './lambda/runtime.ts';

// Step Functions, offline: the real definition from statemachine/ with its DefinitionSubstitutions, run by
// aws-local-stepfunctions; Lambda tasks run in the offline Lambda runtime, sns:publish tasks publish to
// the emulator. A small server speaks the Step Functions JSON API (StartExecution, DescribeExecution,
// ListExecutions) so the StartWorkflow function's SFN client works against it unchanged.

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface ExecutionRecord {
  executionArn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  /** The largest state input or output seen, in bytes: the 256 KB Step Functions limit applies to these. */
  maxPayloadBytes: number;
  currentState?: string;
  map: { total: number; done: number };
  retries: number;
  /** State transitions as Step Functions bills them: every state entered, at any depth, and every retry. */
  transitions: number;
  /** When each top-level state and each Map iteration ran, for the run report's timeline. */
  timeline: TimelineSpan[];
  done: Promise<void>;
}

/** One bar of an execution's timeline: a top-level state, or one iteration (`index`) of a Map state. */
export interface TimelineSpan {
  state: string;
  index?: number;
  /** Epoch milliseconds. */
  start: number;
  end?: number;
  outcome?: 'succeeded' | 'failed';
  /** Retries of this state or iteration's task. */
  retries: number;
}

export interface ExecutionEvent {
  execution: ExecutionRecord;
  kind: 'started' | 'state' | 'map-progress' | 'retry' | 'finished';
  detail?: string;
  /** For a 'state' event, the input the state entered with. */
  input?: unknown;
}

export class ExecutionAlreadyExistsError extends Error {
  override name = 'ExecutionAlreadyExists';
}

interface TaskState {
  Type: string;
  ItemsPath?: string;
  Resource?: string;
  ItemProcessor?: { States: Record<string, TaskState> };
  Iterator?: { States: Record<string, TaskState> };
  Branches?: { States: Record<string, TaskState> }[];
}

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LocalHandler = LocalHandlers[string];

const walkStates = (
  states: Record<string, TaskState>,
  visit: (name: string, state: TaskState) => void,
): void => {
  for (const [name, state] of Object.entries(states)) {
    visit(name, state);
    const nested = state.ItemProcessor ?? state.Iterator;
    if (nested) walkStates(nested.States, visit);
    for (const branch of state.Branches ?? []) walkStates(branch.States, visit);
  }
};

export interface LocalStepFunctionsOptions {
  stateMachineArn: string;
  definitionPath: string;
  substitutions: Record<string, string>;
  runtime: LambdaRuntime;
  /** Lambda ARN → function logical id. */
  functionsByArn: Map<string, string>;
  sns: SNSClient;
  onEvent?: (event: ExecutionEvent) => void;
  /** Throws (AccessDeniedException) when the state machine's role may not invoke the function. */
  authorizeInvoke?: (functionArn: string) => void;
}

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value ?? null));
/**
 * Step Functions' payload quota: a state's input or output, or an execution's input, over 256 KiB fails the
 * execution with States.DataLimitExceeded, a terminal error that no Catch (States.ALL included) can catch. The
 * engine offline has no such limit, so it is enforced here: a payload that passes offline passes in AWS.
 */
export const DATA_LIMIT_BYTES = 256 * 1024;

export class InvalidExecutionInputError extends Error {
  override name = 'InvalidExecutionInput';
}

export class LocalStepFunctions {
  readonly stateMachineArn: string;
  private readonly machine: StateMachine;
  private readonly handlers: LocalHandlers = {};
  private readonly mapItemsPaths = new Map<string, string>();
  private readonly taskFunctions = new Set<string>();
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly aborts = new Map<string, () => void>();
  private readonly options: LocalStepFunctionsOptions;
  private server?: Server;

  constructor(options: LocalStepFunctionsOptions) {
    this.options = options;
    this.stateMachineArn = options.stateMachineArn;
    let text = readFileSync(options.definitionPath, 'utf8');
    text = text.replace(/\$\{(\w+)\}/g, (match, key: string) => {
      const value = options.substitutions[key];
      if (value === undefined) throw new Error(`${options.definitionPath}: no substitution for ${match}`);
      return value;
    });
    const definition = JSON.parse(text) as StateMachineDefinition;
    this.machine = new StateMachine(definition);

    // aws-local-stepfunctions keys local handlers by state name: bind each Task to what its Resource names.
    walkStates(definition.States as unknown as Record<string, TaskState>, (name, state) => {
      if (state.Type === 'Map') this.mapItemsPaths.set(name, state.ItemsPath ?? '$');
      if (state.Type !== 'Task' || state.Resource === undefined) return;
      const resource = state.Resource;
      const functionId = options.functionsByArn.get(resource);
      let handler: (input: unknown) => Promise<unknown>;
      if (functionId !== undefined) {
        this.taskFunctions.add(functionId);
        handler = async (input) => {
          options.authorizeInvoke?.(resource);
          return options.runtime.invoke(functionId, input);
        };
      } else if (resource === 'arn:aws:states:::sns:publish') {
        handler = (input) => this.publish(input as PublishCommandInput);
      } else {
        throw new Error(`State ${name}: resource ${resource} is not supported offline`);
      }
      // The engine hands over and takes back JSON values; the runtime and SNS shim deal in the same.
      this.handlers[name] = handler as LocalHandler;
    });
  }

  private async publish(input: PublishCommandInput): Promise<unknown> {
    try {
      const result = await this.options.sns.send(new PublishCommand(input));
      return { MessageId: result.MessageId };
    } catch (error) {
      // Service integrations surface SDK errors as <Service>.<ErrorName>.
      const wrapped = new Error((error as Error).message);
      wrapped.name = `SNS.${(error as Error).name}`;
      throw wrapped;
    }
  }

  /** For a Map state, how many items its ItemsPath ($.a.b form) selects from the state's input. */
  private mapItemCount(stateName: string, input: unknown): number | undefined {
    const path = this.mapItemsPaths.get(stateName);
    if (path === undefined) return undefined;
    let value: unknown = input;
    for (const part of path
      .replace(/^\$\.?/, '')
      .split('.')
      .filter(Boolean)) {
      value =
        value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    }
    return Array.isArray(value) ? value.length : undefined;
  }

  /** The functions the definition's Task states invoke. */
  taskFunctionIds(): string[] {
    return [...this.taskFunctions];
  }

  list(): ExecutionRecord[] {
    return [...this.executions.values()];
  }

  byName(name: string): ExecutionRecord | undefined {
    return this.executions.get(`${this.executionPrefix()}${name}`);
  }

  describe(executionArn: string): ExecutionRecord | undefined {
    return this.executions.get(executionArn);
  }

  private executionPrefix(): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:`;
  }

  start(name: string, input: string): ExecutionRecord {
    const executionArn = `${this.executionPrefix()}${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // Standard workflows: same name and input while running is idempotent; anything else is a conflict.
      if (existing.status === 'RUNNING' && existing.input === input) return existing;
      throw new ExecutionAlreadyExistsError(`Execution Already Exists: '${executionArn}'`);
    }
    const parsedInput = JSON.parse(input) as unknown;
    if (bytes(parsedInput) > DATA_LIMIT_BYTES) {
      throw new InvalidExecutionInputError(`The execution input exceeds ${DATA_LIMIT_BYTES} bytes`);
    }
    const startDate = new Date();
    const record: ExecutionRecord = {
      executionArn,
      name,
      input,
      status: 'RUNNING',
      startDate,
      maxPayloadBytes: bytes(parsedInput),
      map: { total: 0, done: 0 },
      retries: 0,
      transitions: 0,
      timeline: [],
      done: Promise.resolve(),
    };
    // The open bar of each top-level state (by name) and each Map iteration (by `name#index`).
    const open = new Map<string, TimelineSpan>();
    const openSpan = (state: string, at: number, index?: number) => {
      const span: TimelineSpan = { state, start: at, retries: 0, ...(index === undefined ? {} : { index }) };
      record.timeline.push(span);
      open.set(index === undefined ? state : `${state}#${index}`, span);
    };
    const closeSpan = (key: string, at: number, outcome: TimelineSpan['outcome']) => {
      const span = open.get(key);
      if (span === undefined) return;
      span.end = at;
      span.outcome = outcome;
      open.delete(key);
    };
    this.executions.set(executionArn, record);
    const emit = (kind: ExecutionEvent['kind'], detail?: string, input?: unknown) =>
      this.options.onEvent?.({
        execution: record,
        kind,
        ...(detail === undefined ? {} : { detail }),
        ...(input === undefined ? {} : { input }),
      });

    // The first payload over the quota: the execution is stopped there, as Step Functions stops it.
    let overLimit: { state: string; size: number } | undefined;
    let abort = (): void => undefined;
    const exceeded = (state: string, ...payloads: unknown[]): boolean => {
      if (overLimit !== undefined) return true;
      const size = Math.max(...payloads.map(bytes));
      if (size <= DATA_LIMIT_BYTES) return false;
      overLimit = { state, size };
      abort();
      return true;
    };
    // A task's result is checked before the engine sees it, so the next state never starts.
    const handlers: LocalHandlers = Object.fromEntries(
      Object.entries(this.handlers).map(([state, handler]) => [
        state,
        (async (input: unknown) => {
          const output = await (handler as (input: unknown) => Promise<unknown>)(input);
          return exceeded(state, output) ? new Promise(() => undefined) : output;
        }) as LocalHandler,
      ]),
    );
    const execution = this.machine.run(parsedInput as never, {
      overrides: { taskResourceLocalHandlers: handlers },
      context: {
        Execution: { Id: executionArn, Name: name, StartTime: startDate.toISOString() },
        StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineArn.split(':').pop() },
      },
    });
    abort = execution.abort;
    this.aborts.set(executionArn, execution.abort);

    const watch = (async () => {
      for await (const event of execution.eventLogs) {
        const e = event as {
          type: string;
          timestamp: number;
          state?: { name: string; input?: unknown; output?: unknown };
          parentState?: { name?: string; input?: unknown };
          index?: number;
        };
        if (e.index === undefined && e.state !== undefined) {
          if (e.type === 'StateEntered') openSpan(e.state.name, e.timestamp);
          else if (e.type === 'StateExited') closeSpan(e.state.name, e.timestamp, 'succeeded');
          else if (e.type === 'StateFailed') closeSpan(e.state.name, e.timestamp, 'failed');
        }
        const parent = e.parentState?.name;
        if (parent !== undefined && e.index !== undefined) {
          if (e.type === 'MapIterationStarted') openSpan(parent, e.timestamp, e.index);
          else if (e.type === 'MapIterationSucceeded')
            closeSpan(`${parent}#${e.index}`, e.timestamp, 'succeeded');
          else if (e.type === 'MapIterationFailed') closeSpan(`${parent}#${e.index}`, e.timestamp, 'failed');
        }
        if (e.type === 'StateRetried' && e.state !== undefined) {
          // A retry inside an iteration belongs to that iteration's bar; the innermost open one of its index.
          const bar =
            e.index === undefined
              ? open.get(e.state.name)
              : [...open.entries()].find(([key]) => key.endsWith(`#${e.index}`))?.[1];
          if (bar !== undefined) bar.retries += 1;
        }
        if (e.state) {
          record.maxPayloadBytes = Math.max(
            record.maxPayloadBytes,
            bytes(e.state.input),
            bytes(e.state.output),
          );
          exceeded(e.state.name, e.state.input, e.state.output);
        }
        if (e.type === 'StateEntered' || e.type === 'StateRetried') record.transitions += 1;
        if (e.type === 'StateEntered' && e.state && e.index === undefined) {
          record.currentState = e.state.name;
          const items = this.mapItemCount(e.state.name, e.state.input);
          if (items !== undefined) record.map = { total: items, done: 0 };
          emit('state', e.state.name, e.state.input);
        } else if (e.type === 'MapIterationSucceeded') {
          record.map.done += 1;
          emit('map-progress');
        } else if (e.type === 'StateRetried') {
          record.retries += 1;
          emit('retry', e.state?.name);
        }
      }
    })();

    emit('started');
    record.done = execution.result
      .then((output: unknown) => {
        record.maxPayloadBytes = Math.max(record.maxPayloadBytes, bytes(output));
        if (exceeded('(execution output)', output)) throw new Error('States.DataLimitExceeded');
        record.status = 'SUCCEEDED';
        record.output = JSON.stringify(output);
      })
      .catch((error: unknown) => {
        const failure = error as {
          name?: string;
          message?: string;
          cause?: { name?: string; message?: string };
        };
        if (overLimit !== undefined) {
          record.status = 'FAILED';
          record.error = 'States.DataLimitExceeded';
          record.cause = `The state/task '${overLimit.state}' returned a result with a size (${overLimit.size} bytes) exceeding the maximum number of bytes service limit.`;
          return;
        }
        record.status = failure.name === 'ExecutionAbortedError' ? 'ABORTED' : 'FAILED';
        // ExecutionError wraps the state's error; report the error name Step Functions would.
        record.error = failure.cause?.name ?? failure.name ?? 'Error';
        record.cause = failure.cause?.message ?? failure.message ?? '';
      })
      .then(() => watch.catch(() => undefined))
      .finally(() => {
        record.stopDate = new Date();
        this.aborts.delete(executionArn);
        emit('finished');
      });
    return record;
  }

  /** Serves the Step Functions JSON 1.0 API on loopback for the functions' SFN clients. */
  async listen(port = 0): Promise<string> {
    this.server = createServer((request, response) => {
      void this.handle(request).then(({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`;
  }

  private async handle(request: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const operation = String(request.headers['x-amz-target'] ?? '')
      .split('.')
      .pop();
    const input = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, string>;
    const seconds = (date: Date | undefined) => (date === undefined ? undefined : date.getTime() / 1000);
    const view = (record: ExecutionRecord) => ({
      executionArn: record.executionArn,
      stateMachineArn: this.stateMachineArn,
      name: record.name,
      status: record.status,
      startDate: seconds(record.startDate),
      stopDate: seconds(record.stopDate),
      input: record.input,
      output: record.output,
      error: record.error,
      cause: record.cause,
    });
    try {
      if (operation === 'StartExecution') {
        if (input.stateMachineArn !== this.stateMachineArn) {
          return {
            status: 400,
            body: { __type: 'StateMachineDoesNotExist', message: input.stateMachineArn },
          };
        }
        const record = this.start(input.name ?? crypto.randomUUID(), input.input ?? '{}');
        return {
          status: 200,
          body: { executionArn: record.executionArn, startDate: seconds(record.startDate) },
        };
      }
      if (operation === 'DescribeExecution') {
        const record = this.describe(input.executionArn ?? '');
        if (!record)
          return { status: 400, body: { __type: 'ExecutionDoesNotExist', message: input.executionArn } };
        return { status: 200, body: view(record) };
      }
      if (operation === 'ListExecutions') {
        return { status: 200, body: { executions: this.list().map(view) } };
      }
      return {
        status: 400,
        body: { __type: 'UnknownOperationException', message: `${operation} is not offline` },
      };
    } catch (error) {
      return { status: 400, body: { __type: (error as Error).name, message: (error as Error).message } };
    }
  }

  async stop(): Promise<void> {
    for (const abort of this.aborts.values()) abort();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
