import { describe, expect, it } from 'vitest';
import {
  type Build,
  deploymentsOf,
  type EventSourceSpec,
  eventSourcesOf,
  type Stack,
  stateMachineOf,
} from '../../../local/deployment.ts';
import type { Physical } from '../../../local/provision.ts';
import { type Json, Resolver, type Template } from '../../../local/template.ts';

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:stack-WorkQueue';
const FAILURES_ARN = 'arn:aws:sqs:us-east-1:123456789012:stack-FailuresQueue';
const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/stack-Table/stream/1';
const functionArn = (id: string) => `arn:aws:lambda:us-east-1:123456789012:function:stack-${id}`;

const fn = (properties: Record<string, Json>) => ({
  Type: 'AWS::Serverless::Function',
  Properties: properties,
});

/** The source template: Handlers name their folders, as esbuild's entry points. */
const template: Template = {
  Parameters: { Stage: { Type: 'String', Default: 'dev' } },
  Globals: {
    Function: {
      CodeUri: 'functions/',
      Timeout: 30,
      Layers: [{ Ref: 'SharedLayer' }],
      Environment: { Variables: { TABLE_NAME: { Ref: 'Table' } } },
    },
  },
  Resources: {
    Table: { Type: 'AWS::DynamoDB::Table' },
    WorkQueue: { Type: 'AWS::SQS::Queue' },
    FailuresQueue: { Type: 'AWS::SQS::Queue' },
    SharedLayer: { Type: 'AWS::Serverless::LayerVersion', Properties: { ContentUri: 'layers/shared' } },
    Machine: {
      Type: 'AWS::Serverless::StateMachine',
      Properties: {
        DefinitionUri: 'statemachine/pipeline.asl.json',
        DefinitionSubstitutions: {
          TableName: { Ref: 'Table' },
          StartFunctionArn: { 'Fn::GetAtt': ['StartFunction', 'Arn'] },
        },
      },
    },
    StartFunction: fn({
      Handler: 'start/index.handler',
      MemorySize: 256,
      Environment: { Variables: { STAGE: { Ref: 'Stage' }, MAX_ROWS: 5 } },
      EventInvokeConfig: {
        MaximumRetryAttempts: 1,
        DestinationConfig: {
          OnFailure: { Type: 'SQS', Destination: { 'Fn::GetAtt': ['FailuresQueue', 'Arn'] } },
        },
      },
      Events: { ObjectCreated: { Type: 'EventBridgeRule', Properties: { Pattern: { source: ['aws.s3'] } } } },
    }),
    WorkerFunction: fn({
      Handler: 'worker/index.handler',
      Events: {
        Work: {
          Type: 'SQS',
          Properties: {
            Queue: { 'Fn::GetAtt': ['WorkQueue', 'Arn'] },
            BatchSize: 5,
            FunctionResponseTypes: ['ReportBatchItemFailures'],
          },
        },
        Api: { Type: 'Api', Properties: { Path: '/work', Method: 'get' } },
      },
    }),
    StreamFunction: fn({
      Handler: 'stream/index.handler',
      Events: {
        Changes: {
          Type: 'DynamoDB',
          Properties: {
            Stream: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
            StartingPosition: 'LATEST',
            BatchSize: 50,
            ParallelizationFactor: 4,
            MaximumRetryAttempts: 3,
            BisectBatchOnFunctionError: true,
            FunctionResponseTypes: ['ReportBatchItemFailures'],
            FilterCriteria: { Filters: [{ Pattern: '{"eventName":["INSERT"]}' }] },
            DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['FailuresQueue', 'Arn'] } } },
          },
        },
      },
    }),
  },
};

/** The template with one event's properties replaced (the shared template is left as it is). */
const withEvent = (functionId: string, eventName: string, properties: Record<string, Json>): Template => {
  const copy = structuredClone(template);
  const events = copy.Resources[functionId]?.Properties?.Events as Record<string, Record<string, Json>>;
  const event = events[eventName];
  if (event === undefined) throw new Error(`${functionId} has no event ${eventName}`);
  event.Properties = properties;
  return copy;
};

/** What sam build writes: each function's CodeUri is its build folder and its Handler the bundle's own. */
const builtTemplate = (handlers: Record<string, string> = {}): Template => ({
  Globals: { Function: { CodeUri: 'functions/', Handler: 'index.handler' } },
  Resources: {
    SharedLayer: { Type: 'AWS::Serverless::LayerVersion', Properties: { ContentUri: 'SharedLayer' } },
    ...Object.fromEntries(
      ['StartFunction', 'WorkerFunction', 'StreamFunction'].map((id) => [
        id,
        fn({ CodeUri: id, Handler: handlers[id] ?? 'index.handler' }),
      ]),
    ),
  },
});

const build = (built: Template = builtTemplate()): Build => ({
  dir: '/project/.aws-sam/build',
  template: built,
});

const stack = (ruleTargets: Stack['ruleTargets'] = []): Stack => {
  const physical = new Map<string, Physical>([
    ['Table', { ref: 'stack-Table', attributes: { Arn: 'table-arn', StreamArn: STREAM_ARN } }],
    ['WorkQueue', { ref: 'http://sqs/stack-WorkQueue', attributes: { Arn: QUEUE_ARN } }],
    ['FailuresQueue', { ref: 'http://sqs/stack-FailuresQueue', attributes: { Arn: FAILURES_ARN } }],
    ...['StartFunction', 'WorkerFunction', 'StreamFunction'].map((id): [string, Physical] => [
      id,
      { ref: `stack-${id}`, attributes: { Arn: functionArn(id) } },
    ]),
  ]);
  const resolver = new Resolver(template, {
    stackName: 'stack',
    region: 'us-east-1',
    accountId: '123456789012',
    ref: (id) => physical.get(id)?.ref,
    getAtt: (id, attribute) => physical.get(id)?.attributes[attribute],
  });
  return { physical, resolver, ruleTargets };
};

const deployment = (id: string, built?: Template) =>
  deploymentsOf(template, stack(), build(built)).find((candidate) => candidate.logicalId === id);

describe('deploymentsOf', () => {
  it('deploys every function, named and addressed as provisioned', () => {
    const deployments = deploymentsOf(template, stack(), build());

    expect(deployments.map(({ logicalId, name, arn }) => ({ logicalId, name, arn }))).toEqual(
      ['StartFunction', 'WorkerFunction', 'StreamFunction'].map((id) => ({
        logicalId: id,
        name: `stack-${id}`,
        arn: functionArn(id),
      })),
    );
  });

  it("runs the handler the built template names in the function's build folder, not the source's path", () => {
    expect(deployment('StartFunction')).toMatchObject({
      functionDir: '/project/.aws-sam/build/StartFunction',
      handlerFile: '/project/.aws-sam/build/StartFunction/index.mjs',
      exportName: 'handler',
    });
  });

  it('takes the file and export from the built Handler when they are not index.handler', () => {
    expect(deployment('WorkerFunction', builtTemplate({ WorkerFunction: 'app.main' }))).toMatchObject({
      handlerFile: '/project/.aws-sam/build/WorkerFunction/app.mjs',
      exportName: 'main',
    });
  });

  it('takes a built Handler that keeps a folder as the path inside the build folder', () => {
    expect(
      deployment('WorkerFunction', builtTemplate({ WorkerFunction: 'worker/index.handler' }))?.handlerFile,
    ).toBe('/project/.aws-sam/build/WorkerFunction/worker/index.mjs');
  });

  it("loads the layers from where sam build put them (the built layer's ContentUri)", () => {
    expect(deployment('StreamFunction')?.layerNodeModules).toEqual([
      '/project/.aws-sam/build/SharedLayer/nodejs/node_modules',
    ]);
  });

  it('resolves the environment, Globals and its own, to strings', () => {
    expect(deployment('StartFunction')?.environment).toEqual({
      TABLE_NAME: 'stack-Table',
      STAGE: 'dev',
      MAX_ROWS: '5',
    });
  });

  it('takes timeout and memory as SAM merges them', () => {
    expect(deployment('StartFunction')).toMatchObject({ timeoutSeconds: 30, memoryMb: 256 });
    expect(deployment('WorkerFunction')).toMatchObject({ timeoutSeconds: 30, memoryMb: 128 });
  });

  it('fails naming the function and sam build when the build does not have it', () => {
    const stale = builtTemplate();
    delete stale.Resources.StreamFunction;

    expect(() => deploymentsOf(template, stack(), build(stale))).toThrow(/StreamFunction.*sam build/);
  });
});

describe('stateMachineOf', () => {
  it('resolves the definition substitutions against the stack', () => {
    expect(stateMachineOf(template, stack())).toEqual({
      logicalId: 'Machine',
      definitionUri: 'statemachine/pipeline.asl.json',
      substitutions: { TableName: 'stack-Table', StartFunctionArn: functionArn('StartFunction') },
    });
  });

  it('fails when the template declares no state machine', () => {
    const { Machine: _, ...resources } = template.Resources;

    expect(() => stateMachineOf({ ...template, Resources: resources }, stack())).toThrow(
      /no AWS::Serverless::StateMachine/,
    );
  });
});

describe('eventSourcesOf', () => {
  const ruleTarget = { functionId: 'StartFunction', eventName: 'ObjectCreated', queueUrl: 'http://sqs/rule' };
  const sourceOf = <T extends EventSourceSpec['type']>(specs: EventSourceSpec[], type: T) =>
    specs.find((spec): spec is Extract<EventSourceSpec, { type: T }> => spec.type === type)?.settings;

  it('lists the rule targets first, then each function’s SQS and DynamoDB events, and nothing for Api events', () => {
    const specs = eventSourcesOf(template, stack([ruleTarget]));

    expect(specs.map((spec) => [spec.type, spec.settings.functionId])).toEqual([
      ['EventBridgeRule', 'StartFunction'],
      ['SQS', 'WorkerFunction'],
      ['DynamoDB', 'StreamFunction'],
    ]);
  });

  it("gives a rule target the function's EventInvokeConfig retries and on-failure queue", () => {
    expect(sourceOf(eventSourcesOf(template, stack([ruleTarget])), 'EventBridgeRule')).toEqual({
      queueUrl: 'http://sqs/rule',
      functionId: 'StartFunction',
      functionArn: functionArn('StartFunction'),
      maxRetries: 1,
      onFailureQueueUrl: 'http://sqs/stack-FailuresQueue',
    });
  });

  it("gives a rule target Lambda's two retries and no on-failure queue without an EventInvokeConfig", () => {
    const target = { functionId: 'WorkerFunction', eventName: 'Other', queueUrl: 'http://sqs/other' };

    expect(sourceOf(eventSourcesOf(template, stack([target])), 'EventBridgeRule')).toMatchObject({
      maxRetries: 2,
      onFailureQueueUrl: undefined,
    });
  });

  it('gives an SQS event its queue, batch size and ReportBatchItemFailures', () => {
    expect(sourceOf(eventSourcesOf(template, stack()), 'SQS')).toEqual({
      queueUrl: 'http://sqs/stack-WorkQueue',
      queueArn: QUEUE_ARN,
      functionId: 'WorkerFunction',
      batchSize: 5,
      reportBatchItemFailures: true,
    });
  });

  it("gives an SQS event Lambda's defaults when the template sets none", () => {
    const withDefaults = withEvent('WorkerFunction', 'Work', {
      Queue: { 'Fn::GetAtt': ['WorkQueue', 'Arn'] },
    });

    expect(sourceOf(eventSourcesOf(withDefaults, stack()), 'SQS')).toMatchObject({
      batchSize: 10,
      reportBatchItemFailures: false,
    });
  });

  it('gives a DynamoDB event its stream settings, filters and on-failure queue', () => {
    expect(sourceOf(eventSourcesOf(template, stack()), 'DynamoDB')).toEqual({
      streamArn: STREAM_ARN,
      functionId: 'StreamFunction',
      functionArn: functionArn('StreamFunction'),
      batchSize: 50,
      parallelization: 4,
      startingPosition: 'LATEST',
      filters: [{ Pattern: '{"eventName":["INSERT"]}' }],
      bisectOnError: true,
      maxRetries: 3,
      reportBatchItemFailures: true,
      onFailureQueueUrl: 'http://sqs/stack-FailuresQueue',
    });
  });

  it("gives a DynamoDB event Lambda's defaults, retrying without end, when the template sets none", () => {
    const withDefaults = withEvent('StreamFunction', 'Changes', {
      Stream: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
    });

    expect(sourceOf(eventSourcesOf(withDefaults, stack()), 'DynamoDB')).toEqual({
      streamArn: STREAM_ARN,
      functionId: 'StreamFunction',
      functionArn: functionArn('StreamFunction'),
      batchSize: 100,
      parallelization: 1,
      startingPosition: 'TRIM_HORIZON',
      filters: undefined,
      bisectOnError: false,
      maxRetries: Number.POSITIVE_INFINITY,
      reportBatchItemFailures: false,
      onFailureQueueUrl: undefined,
    });
  });
});
