import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { functionsOf, type Template } from '../../local/template.ts';
import { loadTemplate } from '../helpers/template.ts';

// The CloudWatch dashboard is a JSON string CloudFormation never reads: a metric named wrong just draws an
// empty graph. So every metric on it must name a resource of the template and a metric that exists: AWS's
// own metrics by their documented names, the functions' by what their code passes to addMetric.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const template = loadTemplate();

/** Metrics AWS publishes for the resource types on the dashboard (names from each service's metrics page). */
const AWS_METRICS: Record<string, { dimensions: string[]; metrics: string[] }> = {
  'AWS/Lambda': {
    dimensions: ['FunctionName'],
    metrics: ['Invocations', 'Errors', 'Throttles', 'Duration', 'ConcurrentExecutions', 'IteratorAge'],
  },
  'AWS/States': {
    dimensions: ['StateMachineArn'],
    metrics: [
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionsTimedOut',
      'ExecutionsAborted',
    ],
  },
  'AWS/SQS': { dimensions: ['QueueName'], metrics: ['ApproximateNumberOfMessagesVisible'] },
  'AWS/ApiGateway': {
    dimensions: ['ApiName', 'Stage'],
    metrics: ['Count', '4XXError', '5XXError', 'Latency', 'IntegrationLatency'],
  },
};

interface Emitted {
  namespace: string;
  /** Metric names each service (POWERTOOLS_SERVICE_NAME) passes to addMetric. */
  byService: Map<string, Set<string>>;
}

const sourcesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourcesUnder(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );

/** What the functions emit: the string literals of every addMetric call in each function's folder. */
const emittedMetrics = (of: Template): Emitted => {
  const byService = new Map<string, Set<string>>();
  let namespace = '';
  for (const fn of functionsOf(of)) {
    namespace = String(fn.environment.POWERTOOLS_METRICS_NAMESPACE ?? namespace);
    // The Handler names the function's folder (`validate-data/index.handler`); its code is all under it.
    const entry = (fn.properties.CodeUri as string) + fn.handler;
    const names = new Set<string>();
    for (const file of sourcesUnder(join(ROOT, dirname(entry)))) {
      for (const call of readFileSync(file, 'utf8').matchAll(/addMetric\(([^;]*?)MetricUnit/g)) {
        for (const literal of String(call[1]).matchAll(/'([A-Z][a-z][A-Za-z]*)'/g))
          names.add(String(literal[1]));
      }
    }
    byService.set(String(fn.environment.POWERTOOLS_SERVICE_NAME), names);
  }
  return { namespace, byService };
};

/** `${name}`, a CloudFormation Sub reference, written so that it does not read as a template literal. */
const ref = (name: string) => `$\{${name}}`;

type MetricLine = (string | Record<string, unknown>)[];

/** The dashboard body with its ${…} references kept as text, and what each one names. */
const dashboardOf = (of: Template) => {
  const sub = of.Resources.PipelineDashboard?.Properties?.DashboardBody as { 'Fn::Sub'?: string } | undefined;
  const text = String(sub?.['Fn::Sub']);
  const references = [...text.matchAll(/\$\{([^}]+)\}/g)].map((match) => String(match[1]));
  return {
    text,
    references,
    body: JSON.parse(text) as { widgets: { properties: { metrics?: MetricLine[] } }[] },
  };
};

/** Everything wrong with the dashboard of a template: each line says which metric and why. */
const dashboardProblems = (of: Template, emitted: Emitted): string[] => {
  const problems: string[] = [];
  const { references, body } = dashboardOf(of);
  const resourceOf = (reference: string) => of.Resources[reference.split('.')[0] ?? ''];
  for (const reference of references) {
    const known =
      ['AWS::Region', 'AWS::StackName', 'AWS::AccountId'].includes(reference) ||
      of.Parameters?.[reference] !== undefined ||
      resourceOf(reference) !== undefined;
    if (!known) problems.push(`${ref(reference)} names nothing in the template`);
  }
  const typeOf = (value: string, type: string) => {
    const match = /^\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}$/.exec(value);
    return match !== null && resourceOf(String(match[1]))?.Type === type;
  };
  const functions = functionsOf(of);
  for (const line of body.widgets.flatMap((widget) => widget.properties.metrics ?? [])) {
    const [namespace, metric, ...rest] = line.filter((part): part is string => typeof part === 'string');
    const dimensions = new Map<string, string>();
    for (let i = 0; i + 1 < rest.length; i += 2) dimensions.set(String(rest[i]), String(rest[i + 1]));
    const where = `${namespace} ${metric} ${JSON.stringify(Object.fromEntries(dimensions))}`;
    if (namespace === emitted.namespace) {
      const service = dimensions.get('service') ?? '';
      if (!emitted.byService.has(service)) problems.push(`${where}: no function has service ${service}`);
      else if (!emitted.byService.get(service)?.has(String(metric)))
        problems.push(`${where}: ${service} never emits ${metric}`);
      continue;
    }
    const known = AWS_METRICS[String(namespace)];
    if (known === undefined) {
      problems.push(`${where}: namespace not on the dashboard's list`);
      continue;
    }
    if (!known.metrics.includes(String(metric)))
      problems.push(`${where}: ${namespace} has no metric ${metric}`);
    if ([...dimensions.keys()].sort().join() !== [...known.dimensions].sort().join())
      problems.push(`${where}: dimensions should be ${known.dimensions.join(', ')}`);
    const value = (name: string) => String(dimensions.get(name));
    if (namespace === 'AWS/Lambda') {
      if (!typeOf(value('FunctionName'), 'AWS::Serverless::Function'))
        problems.push(`${where}: FunctionName is not a function of the template`);
      const id = value('FunctionName').slice(2, -1);
      const hasStream = Object.values(functions.find((fn) => fn.logicalId === id)?.events ?? {}).some(
        (event) => event.Type === 'DynamoDB' || event.Type === 'Kinesis',
      );
      if (metric === 'IteratorAge' && !hasStream)
        problems.push(`${where}: IteratorAge of a function without a stream`);
    }
    if (namespace === 'AWS/States' && !typeOf(value('StateMachineArn'), 'AWS::Serverless::StateMachine'))
      problems.push(`${where}: StateMachineArn is not the state machine`);
    if (
      namespace === 'AWS/SQS' &&
      !(typeOf(value('QueueName'), 'AWS::SQS::Queue') && value('QueueName').endsWith('.QueueName}'))
    )
      problems.push(`${where}: QueueName is not a queue's name`);
    // A REST API's name is its OpenAPI title, which SAM sets to the stack name unless the Api has a Name.
    if (
      namespace === 'AWS/ApiGateway' &&
      (value('ApiName') !== ref('AWS::StackName') || value('Stage') !== ref('Stage'))
    )
      problems.push(`${where}: ApiName/Stage are not the analytics API's`);
  }
  return problems;
};

const metricsOn = (of: Template): MetricLine[] =>
  dashboardOf(of).body.widgets.flatMap((widget) => widget.properties.metrics ?? []);

/** A copy of the template whose dashboard body has `from` replaced by `to`. */
const withBody = (from: string, to: string): Template => {
  const copy = structuredClone(template);
  const body = copy.Resources.PipelineDashboard?.Properties?.DashboardBody as { 'Fn::Sub': string };
  expect(body['Fn::Sub']).toContain(from);
  body['Fn::Sub'] = body['Fn::Sub'].replaceAll(from, to);
  return copy;
};

describe('the CloudWatch dashboard', () => {
  const emitted = emittedMetrics(template);

  it('is valid JSON whose every metric names a resource of the template and a metric that exists', () => {
    expect(dashboardProblems(template, emitted)).toEqual([]);
  });

  it('shows every metric the functions emit', () => {
    const shown = new Set(
      metricsOn(template)
        .filter((line) => line[0] === emitted.namespace)
        .map((line) => `${line[3]}/${line[1]}`),
    );
    const missing = [...emitted.byService].flatMap(([service, names]) =>
      [...names].filter((name) => !shown.has(`${service}/${name}`)).map((name) => `${service}/${name}`),
    );
    expect(missing).toEqual([]);
  });

  it("shows every function's invocations, errors, throttles, duration and concurrency", () => {
    for (const metric of ['Invocations', 'Errors', 'Throttles', 'Duration', 'ConcurrentExecutions']) {
      const shown = metricsOn(template)
        .filter((line) => line[0] === 'AWS/Lambda' && line[1] === metric)
        .map((line) => String(line[3]).slice(2, -1));
      expect(new Set(shown), metric).toEqual(new Set(functionsOf(template).map((fn) => fn.logicalId)));
    }
  });

  it('shows the depth of every queue an alarm watches', () => {
    const alarmed = Object.values(template.Resources)
      .filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm')
      .map(
        (resource) =>
          resource.Properties?.Dimensions as { Value?: { 'Fn::GetAtt'?: string[] } }[] | undefined,
      )
      .flatMap((dimensions) => dimensions ?? [])
      .flatMap((dimension) => dimension.Value?.['Fn::GetAtt'] ?? [])
      .filter((id) => template.Resources[id]?.Type === 'AWS::SQS::Queue');
    const shown = metricsOn(template)
      .filter((line) => line[0] === 'AWS/SQS')
      .map((line) => String(line[3]).slice(2).split('.')[0]);
    expect(alarmed.length).toBeGreaterThan(0);
    expect(new Set(shown)).toEqual(new Set(alarmed));
  });

  it('finds a misspelt metric, a function that does not exist and a service that emits nothing of the kind', () => {
    expect(dashboardProblems(withBody('"Throttles"', '"Throttled"'), emitted).join('\n')).toMatch(
      /AWS\/Lambda has no metric Throttled/,
    );
    expect(
      dashboardProblems(withBody(ref('InferenceFunction'), ref('InferenceFn')), emitted).join('\n'),
    ).toMatch(/\$\{InferenceFn\} names nothing in the template/);
    expect(
      dashboardProblems(
        withBody('"RowsStored","service","process-records"', '"RowsStored","service","validate-data"'),
        emitted,
      ),
    ).toEqual([expect.stringContaining('validate-data never emits RowsStored')]);
    expect(
      dashboardProblems(
        withBody(
          `"IteratorAge","FunctionName","${ref('StreamAggregatorFunction')}"`,
          `"IteratorAge","FunctionName","${ref('InferenceFunction')}"`,
        ),
        emitted,
      ),
    ).toEqual([expect.stringContaining('IteratorAge of a function without a stream')]);
  });
});
