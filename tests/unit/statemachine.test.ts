import { readFileSync } from 'node:fs';
import validator from 'asl-validator';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEvent } from '../helpers/events.ts';
import { loadTemplate } from '../helpers/template.ts';

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}
interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Variable?: string; BooleanEquals?: boolean; Next: string }[];
  TimeoutSeconds?: number;
  Retry?: Retrier[];
  Catch?: Catcher[];
  MaxConcurrency?: number;
  ItemReader?: unknown;
  ItemProcessor?: { ProcessorConfig?: { Mode?: string }; StartAt: string; States: Record<string, State> };
  Parameters?: Record<string, unknown>;
  QueryLanguage?: string;
}
interface Definition {
  StartAt: string;
  QueryLanguage?: string;
  States: Record<string, State>;
}

const DEFINITION_TEXT = readFileSync(
  new URL('../../statemachine/pipeline.asl.json', import.meta.url),
  'utf8',
);
const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/** A syntactically valid ARN for each DefinitionSubstitutions placeholder. */
const arnFor = (name: string): string => {
  if (name.endsWith('FunctionArn')) {
    return `arn:aws:lambda:us-east-1:123456789012:function:${name.replace(/Arn$/, '')}`;
  }
  if (name.endsWith('TopicArn')) return `arn:aws:sns:us-east-1:123456789012:${name.replace(/Arn$/, '')}`;
  return `arn:aws:states:us-east-1:123456789012:${name}`;
};

const substituted = (): Definition =>
  JSON.parse(DEFINITION_TEXT.replace(PLACEHOLDER, (_match, name: string) => arnFor(name))) as Definition;

type JSONValue = Parameters<StateMachine['run']>[0];

const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** The retrier Step Functions picks for an error: the first whose ErrorEquals matches it. */
const retrierFor = (state: State, error: string): Retrier | undefined =>
  state.Retry?.find((retrier) =>
    retrier.ErrorEquals.some(
      (name) =>
        name === error ||
        name === 'States.ALL' ||
        (name === 'States.TaskFailed' && error !== 'States.Timeout'),
    ),
  );
const attemptsFor = (state: State, error: string): number => {
  const retrier = retrierFor(state, error);
  return retrier === undefined ? 0 : (retrier.MaxAttempts ?? 3);
};

/** Every state of the definition with its name, including those inside a Map's ItemProcessor. */
const allStates = (states: Record<string, State>): [string, State][] =>
  Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);

describe('statemachine/pipeline.asl.json', () => {
  let definition: Definition;
  let states: Record<string, State>;
  const state = (name: string): State => {
    const found = states[name];
    if (found === undefined) throw new Error(`no state ${name}`);
    return found;
  };

  beforeAll(() => {
    definition = substituted();
    states = definition.States;
  });

  describe('validity', () => {
    it('is valid Amazon States Language according to asl-validator', () => {
      const result = validator(substituted(), { checkPaths: true, checkArn: true });

      expect(result.errorsText()).toBe('');
      expect(result.isValid).toBe(true);
    });

    it('uses only placeholders that DefinitionSubstitutions in template.yaml defines', () => {
      const used = new Set([...DEFINITION_TEXT.matchAll(PLACEHOLDER)].map(([, name]) => name));
      const substitutions =
        loadTemplate().Resources.PipelineStateMachine?.Properties?.DefinitionSubstitutions;

      expect(used.size).toBeGreaterThan(0);
      expect(Object.keys(substitutions ?? {})).toEqual(expect.arrayContaining([...used]));
    });

    it('uses JSONPath only, never JSONata', () => {
      const queryLanguages = [definition.QueryLanguage, ...allStates(states).map(([, s]) => s.QueryLanguage)];

      expect(queryLanguages.filter((language) => language !== undefined && language !== 'JSONPath')).toEqual(
        [],
      );
      expect(DEFINITION_TEXT).not.toMatch(/\{%|"Arguments"|"Output"|"Assign"/);
    });

    it('has no Distributed Map', () => {
      const maps = allStates(states).filter(([, s]) => s.Type === 'Map');

      expect(maps.length).toBeGreaterThan(0);
      for (const [, map] of maps) {
        expect(map.ItemProcessor?.ProcessorConfig?.Mode).toBe('INLINE');
        expect(map.ItemReader).toBeUndefined();
      }
    });
  });

  /** The states a run passes through from `from`, taking a Choice's first rule when `valid`, its Default otherwise. */
  const pathFrom = (from: string, valid: boolean): string[] => {
    const path: string[] = [];
    for (let name: string | undefined = from; name !== undefined; ) {
      if (path.includes(name)) throw new Error(`loop through ${name}`);
      path.push(name);
      const current = state(name);
      name =
        current.Type === 'Choice' ? (valid ? current.Choices?.[0]?.Next : current.Default) : current.Next;
    }
    return path;
  };
  /** The reference design's states: how users map this app to it, so they keep their names and order. */
  const inOrder = (path: string[], names: string[]) => path.filter((name) => names.includes(name));

  describe('the path of a valid file', () => {
    it('starts by validating the data', () => {
      expect(definition.StartAt).toBe('ValidateData');
      expect(state('ValidateData').Type).toBe('Task');
    });

    it('chooses on $.validation.valid being true', () => {
      expect(state('CheckValidation').Choices).toEqual([
        expect.objectContaining({ Variable: '$.validation.valid', BooleanEquals: true }),
      ]);
    });

    it('goes ValidateData → CheckValidation → ProcessRecords (a Map) → AggregateResults → StoreResults, publishes, succeeds', () => {
      const path = pathFrom(definition.StartAt, true);

      expect(path[0]).toBe('ValidateData');
      expect(
        inOrder(path, [
          'ValidateData',
          'CheckValidation',
          'ProcessRecords',
          'AggregateResults',
          'StoreResults',
        ]),
      ).toEqual(['ValidateData', 'CheckValidation', 'ProcessRecords', 'AggregateResults', 'StoreResults']);
      expect(state('ProcessRecords').Type).toBe('Map');
      expect(path.map(state).filter((s) => s.Resource === 'arn:aws:states:::sns:publish')).toHaveLength(1);
      expect(state(path.at(-1) ?? '').Type).toBe('Succeed');
    });
  });

  describe('the chunk Map', () => {
    const inner = (): State => {
      const processor = state('ProcessRecords').ItemProcessor;
      const task = processor?.States[processor.StartAt];
      if (task === undefined) throw new Error('ProcessRecords has no ItemProcessor start state');
      return task;
    };

    it('runs at most 40 chunks at once (an inline Map’s limit) and never unbounded', () => {
      const { MaxConcurrency } = state('ProcessRecords');

      expect(MaxConcurrency).toBeGreaterThanOrEqual(1);
      expect(MaxConcurrency).toBeLessThanOrEqual(40);
    });

    it('runs one Lambda task per chunk with a timeout', () => {
      expect(inner().Type).toBe('Task');
      expect(inner().TimeoutSeconds).toBeGreaterThan(0);
    });

    it.each([...LAMBDA_TRANSIENT_ERRORS, 'States.TaskFailed', 'UnprocessedItemsError'])(
      'retries %s with exponential backoff and full jitter',
      (error) => {
        const retrier = retrierFor(inner(), error);

        expect(attemptsFor(inner(), error)).toBeGreaterThan(0);
        expect(retrier?.BackoffRate).toBeGreaterThan(1);
        expect(retrier?.JitterStrategy).toBe('FULL');
      },
    );

    it.each(['ChunkNotFoundError', 'InvalidTaskInputError'])('never retries %s', (error) => {
      expect(attemptsFor(inner(), error)).toBe(0);
    });
  });

  describe('the path of an invalid file', () => {
    it('records the rejection, notifies through SendErrorNotification on the alerts topic and succeeds', () => {
      const path = pathFrom(definition.StartAt, false);

      expect(
        inOrder(path, ['ValidateData', 'CheckValidation', 'RecordRejection', 'SendErrorNotification']),
      ).toEqual(['ValidateData', 'CheckValidation', 'RecordRejection', 'SendErrorNotification']);
      expect(path).not.toContain('ProcessRecords');
      expect(state('SendErrorNotification').Resource).toBe('arn:aws:states:::sns:publish');
      expect(state(path.at(-1) ?? '').Type).toBe('Succeed');
    });
  });

  describe('errors', () => {
    const tasks = () => allStates(states).filter(([, s]) => s.Type === 'Task');
    const FAILURE_HANDLERS = ['RecordFailure', 'NotifyFailure', 'HandleError'];

    /** Follows Next from a state until a state without one. */
    const endOf = (name: string): string => {
      const seen = new Set<string>();
      let current = name;
      for (let next = states[current]?.Next; next !== undefined; next = states[current]?.Next) {
        if (seen.has(next)) throw new Error(`loop through ${next}`);
        seen.add(next);
        current = next;
      }
      return current;
    };

    it('gives every Task a TimeoutSeconds', () => {
      const without = tasks()
        .filter(([, task]) => !(typeof task.TimeoutSeconds === 'number' && task.TimeoutSeconds > 0))
        .map(([name]) => name);

      expect(without).toEqual([]);
    });

    it('catches every error of every top-level Task and Map', () => {
      const catchable = Object.entries(states).filter(([, s]) => s.Type === 'Task' || s.Type === 'Map');
      const uncaught = catchable
        .filter(([, s]) => !s.Catch?.some((catcher) => catcher.ErrorEquals.includes('States.ALL')))
        .map(([name]) => name);

      expect(uncaught).toEqual([]);
    });

    it('leads every catch, directly or through RecordFailure and NotifyFailure, to HandleError, a Fail state', () => {
      const catchers = Object.values(states).flatMap((s) => s.Catch ?? []);

      for (const catcher of catchers) {
        expect(FAILURE_HANDLERS).toContain(catcher.Next);
        expect(endOf(catcher.Next)).toBe('HandleError');
      }
      expect(state('HandleError').Type).toBe('Fail');
    });

    it('catches the chunk task’s errors through its Map', () => {
      const map = state('ProcessRecords');

      expect(map.ItemProcessor?.States[map.ItemProcessor.StartAt]?.Catch).toBeUndefined();
      expect(map.Catch?.[0]).toMatchObject({ ErrorEquals: ['States.ALL'], Next: 'RecordFailure' });
    });
  });
});

describe('task inputs built by the state machine', () => {
  const EXECUTION_ARN = loadEvent<{ executionArn: string }>('validate-data.json').executionArn;
  const fileRef = () => loadEvent<{ file: JSONValue }>('validate-data.json').file;
  type Handler = (input: JSONValue) => JSONValue | Promise<JSONValue>;

  /** Runs the definition locally with every Task replaced by a handler that records its input. */
  const run = async (handlers: Record<string, Handler>) => {
    const inputs = new Map<string, JSONValue[]>();
    const recording = Object.fromEntries(
      Object.entries(handlers).map(([name, handler]) => [
        name,
        (input: JSONValue) => {
          inputs.set(name, [...(inputs.get(name) ?? []), input]);
          return handler(input);
        },
      ]),
    );
    // Definition is this test's narrow view of the ASL; the library's type is the full language.
    const machine = new StateMachine(substituted() as unknown as StateMachineDefinition);
    const execution = machine.run(
      { file: fileRef() },
      {
        overrides: { taskResourceLocalHandlers: recording },
        context: { Execution: { Id: EXECUTION_ARN } },
      },
    );
    // A failed execution rejects with an ExecutionError whose cause is the Fail state's error.
    const output = await execution.result.catch((error: Error) => ({
      failedWith: error.cause instanceof Error ? error.cause.name : error.name,
    }));
    return { inputs, output };
  };

  const storeFixture = () => loadEvent<{ validation: JSONValue; aggregate: JSONValue }>('store-results.json');

  it('sends the fixtures in events/ to ValidateData, ProcessRecords, AggregateResults and StoreResults', async () => {
    const { inputs } = await run({
      ValidateData: () => storeFixture().validation,
      ProcessChunk: () => ({ chunk: 0, stored: 118 }),
      AggregateResults: () => storeFixture().aggregate,
      StoreResults: () => ({ status: 'SUCCEEDED', event: { type: 'FileStored' } }),
      PublishFileStored: () => ({}),
    });

    expect(inputs.get('ValidateData')).toEqual([loadEvent('validate-data.json')]);
    expect(inputs.get('ProcessChunk')).toEqual([loadEvent('process-records.json')]);
    expect(inputs.get('AggregateResults')).toEqual([loadEvent('aggregate-results.json')]);
    expect(inputs.get('StoreResults')).toEqual([loadEvent('store-results.json')]);
  });

  it('sends events/record-outcome-rejected.json to RecordOutcome for an invalid file', async () => {
    const rejected = loadEvent<{ validation: JSONValue }>('record-outcome-rejected.json');

    const { inputs } = await run({
      ValidateData: () => rejected.validation,
      RecordRejection: () => ({ status: 'REJECTED', notification: { subject: 's', message: 'm' } }),
      SendErrorNotification: () => ({}),
    });

    expect(inputs.get('RecordRejection')).toEqual([loadEvent('record-outcome-rejected.json')]);
  });

  it('sends events/record-outcome-failed.json to RecordOutcome when a task fails', async () => {
    const failed = loadEvent<{ error: { Error: string; Cause: string } }>('record-outcome-failed.json');

    const { inputs, output } = await run({
      ValidateData: () => storeFixture().validation,
      ProcessChunk: () => ({ chunk: 0, stored: 118 }),
      AggregateResults: () => {
        throw Object.assign(new Error(failed.error.Cause), { name: failed.error.Error });
      },
      RecordFailure: () => ({ status: 'FAILED' }),
      NotifyFailure: () => ({}),
    });

    expect(inputs.get('RecordFailure')).toEqual([loadEvent('record-outcome-failed.json')]);
    expect(output).toEqual({ failedWith: 'PipelineFailed' });
  });
});
