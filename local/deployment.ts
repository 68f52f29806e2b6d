import { join, resolve as resolvePath } from 'node:path';
import { type Route, routesOf } from './api.ts';
import type { AsyncInvokeSettings, SqsSourceSettings, StreamSourceSettings } from './event-sources.ts';
import type { FunctionDeployment } from './lambda/runtime.ts';
import type { Physical, Provisioned } from './provision.ts';
import { type FunctionSpec, functionsOf, type Json, resourcesOfType, type Template } from './template.ts';

// template.yaml read as what it deploys, in plain data: each function's deployment, the state machine's
// substitutions, and the event sources (EventBridge rule targets, SQS and DynamoDB stream mappings) with the
// settings Lambda would give them. The offline pipeline turns this data into running objects.

/** What provisioning knows of the stack: physical names and ARNs, a resolver bound to them, rule targets. */
export type Stack = Pick<Provisioned, 'physical' | 'resolver' | 'ruleTargets'>;

/** The output of `sam build`: its directory and the template it wrote there (what `sam deploy` ships). */
export interface Build {
  dir: string;
  template: Template;
}

export interface StateMachineSpec {
  logicalId: string;
  /** Relative to the project root. */
  definitionUri: string;
  substitutions: Record<string, string>;
}

/** One event source, named by its SAM event type, with the settings its poller runs with. */
export type EventSourceSpec =
  | { type: 'EventBridgeRule'; settings: AsyncInvokeSettings }
  | { type: 'SQS'; settings: SqsSourceSettings }
  | { type: 'DynamoDB'; settings: StreamSourceSettings };

const physicalOf = (stack: Stack, logicalId: string): Physical => {
  const physical = stack.physical.get(logicalId);
  if (physical === undefined) throw new Error(`${logicalId} was not provisioned`);
  return physical;
};

const asString = (value: Json): string => (typeof value === 'string' ? value : JSON.stringify(value));

const builtResource = (build: Build, logicalId: string): Record<string, Json> => {
  const properties = build.template.Resources[logicalId]?.Properties;
  if (properties === undefined)
    throw new Error(`${logicalId} is not in ${join(build.dir, 'template.yaml')}: run sam build`);
  return properties;
};

/**
 * Where sam build put a function and what its Handler names there. Read from the built template, not the
 * source: sam build rewrites `Handler: validate-data/index.handler` to `index.handler` beside the bundle.
 */
const builtCodeOf = (build: Build, fn: FunctionSpec) => {
  const built = functionsOf(build.template).find((candidate) => candidate.logicalId === fn.logicalId);
  const codeUri = builtResource(build, fn.logicalId).CodeUri;
  if (built === undefined || typeof codeUri !== 'string')
    throw new Error(`${fn.logicalId} has no CodeUri in ${join(build.dir, 'template.yaml')}: run sam build`);
  const dot = built.handler.lastIndexOf('.');
  const functionDir = resolvePath(build.dir, codeUri);
  return {
    functionDir,
    // esbuild writes .mjs (OutExtension .js=.mjs in the functions' build Metadata).
    handlerFile: join(functionDir, `${built.handler.slice(0, dot)}.mjs`),
    exportName: built.handler.slice(dot + 1),
  };
};

const layerNodeModulesOf = (build: Build, layer: Json): string => {
  const logicalId = String((layer as { Ref?: Json }).Ref);
  const contentUri = builtResource(build, logicalId).ContentUri;
  return join(resolvePath(build.dir, String(contentUri)), 'nodejs', 'node_modules');
};

/** Each function as Lambda would run it: the code sam build produced, its layers, settings and environment. */
export const deploymentsOf = (template: Template, stack: Stack, build: Build): FunctionDeployment[] =>
  functionsOf(template).map((fn) => ({
    logicalId: fn.logicalId,
    name: physicalOf(stack, fn.logicalId).ref,
    arn: physicalOf(stack, fn.logicalId).attributes.Arn ?? '',
    ...builtCodeOf(build, fn),
    layerNodeModules: ((fn.properties.Layers ?? []) as Json[]).map((layer) =>
      layerNodeModulesOf(build, layer),
    ),
    environment: Object.fromEntries(
      Object.entries(fn.environment).map(([key, value]) => [key, asString(stack.resolver.resolve(value))]),
    ),
    timeoutSeconds: fn.timeoutSeconds,
    memoryMb: fn.memoryMb,
  }));

/** The API's routes (each function's Api events) and the stage it serves them under. */
export const apiOf = (template: Template, stack: Stack): { routes: Route[]; stage: string } => ({
  routes: routesOf(functionsOf(template)),
  stage: String(stack.resolver.parameter('Stage') ?? 'dev'),
});

export const stateMachineOf = (template: Template, stack: Stack): StateMachineSpec => {
  const [logicalId, machine] = resourcesOfType(template, 'AWS::Serverless::StateMachine')[0] ?? [];
  if (!logicalId || !machine) throw new Error('template.yaml declares no AWS::Serverless::StateMachine');
  return {
    logicalId,
    definitionUri: String(machine.Properties?.DefinitionUri),
    substitutions: stack.resolver.resolve(machine.Properties?.DefinitionSubstitutions ?? {}) as Record<
      string,
      string
    >,
  };
};

type OnFailure = { DestinationConfig?: { OnFailure?: { Destination?: string } } };

/**
 * The event sources Lambda would run for the template: one per EventBridge rule target (the function's
 * EventInvokeConfig gives its retries and on-failure queue), then each function's SQS and DynamoDB events.
 */
export const eventSourcesOf = (template: Template, stack: Stack): EventSourceSpec[] => {
  const queueUrlByArn = new Map<string, string>();
  for (const { ref, attributes } of stack.physical.values()) {
    if (attributes.Arn?.startsWith('arn:aws:sqs:')) queueUrlByArn.set(attributes.Arn, ref);
  }
  const queueUrlOf = (arn: string | undefined) => (arn ? queueUrlByArn.get(arn) : undefined);
  const functions = functionsOf(template);
  const arnOf = (functionId: string) => physicalOf(stack, functionId).attributes.Arn ?? '';

  const specs: EventSourceSpec[] = stack.ruleTargets.map((target) => {
    const fn = functions.find((candidate) => candidate.logicalId === target.functionId);
    const invokeConfig = stack.resolver.resolve(fn?.properties.EventInvokeConfig ?? {}) as OnFailure & {
      MaximumRetryAttempts?: number;
    };
    return {
      type: 'EventBridgeRule',
      settings: {
        queueUrl: target.queueUrl,
        functionId: target.functionId,
        functionArn: arnOf(target.functionId),
        maxRetries: invokeConfig.MaximumRetryAttempts ?? 2,
        onFailureQueueUrl: queueUrlOf(invokeConfig.DestinationConfig?.OnFailure?.Destination),
      },
    };
  });
  for (const fn of functions) {
    for (const event of Object.values(fn.events)) {
      if (event.Type !== 'SQS' && event.Type !== 'DynamoDB') continue;
      const props = stack.resolver.resolve(event.Properties) as Record<string, Json>;
      const reportBatchItemFailures = ((props.FunctionResponseTypes ?? []) as string[]).includes(
        'ReportBatchItemFailures',
      );
      if (event.Type === 'SQS') {
        const queueArn = String(props.Queue);
        specs.push({
          type: 'SQS',
          settings: {
            queueUrl: queueUrlByArn.get(queueArn) ?? '',
            queueArn,
            functionId: fn.logicalId,
            batchSize: Number(props.BatchSize ?? 10),
            reportBatchItemFailures,
          },
        });
        continue;
      }
      // -1 is Lambda's "retry until the record succeeds" (or, with a maximum age, expires).
      const maxRetries = Number(props.MaximumRetryAttempts ?? -1);
      specs.push({
        type: 'DynamoDB',
        settings: {
          streamArn: String(props.Stream),
          functionId: fn.logicalId,
          functionArn: arnOf(fn.logicalId),
          batchSize: Number(props.BatchSize ?? 100),
          parallelization: Number(props.ParallelizationFactor ?? 1),
          startingPosition: props.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
          filters: (props.FilterCriteria as { Filters?: { Pattern: string }[] } | undefined)?.Filters,
          bisectOnError: props.BisectBatchOnFunctionError === true,
          maxRetries: maxRetries < 0 ? Number.POSITIVE_INFINITY : maxRetries,
          reportBatchItemFailures,
          onFailureQueueUrl: queueUrlOf((props as OnFailure).DestinationConfig?.OnFailure?.Destination),
        },
      });
    }
  }
  return specs;
};
