// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} here is CloudFormation Sub syntax, not a mistyped template literal
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  functionsOf,
  type Json,
  loadTemplate,
  Resolver,
  type ResolverContext,
  type Template,
  UnresolvableError,
} from '../../../local/template.ts';
import { loadTemplate as loadProjectTemplate } from '../../helpers/template.ts';

const template: Template = {
  Parameters: {
    Stage: { Type: 'String', Default: 'dev' },
    ChunkRows: { Type: 'Number', Default: 10000 },
    AlertEmail: { Type: 'String', Default: '' },
    NoDefault: { Type: 'String' },
  },
  Conditions: {
    IsProd: { 'Fn::Equals': [{ Ref: 'Stage' }, 'prod'] },
    HasAlertEmail: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlertEmail' }, ''] }] },
  },
  Resources: {
    Table: { Type: 'AWS::DynamoDB::Table' },
    Queue: { Type: 'AWS::SQS::Queue' },
  },
};

const physical = new Map([
  ['Table', 'offline-Table'],
  ['Queue', 'http://queue/offline-Queue'],
]);
const attributes = new Map([
  ['Table.Arn', 'arn:aws:dynamodb:us-east-1:123456789012:table/offline-Table'],
  ['Queue.QueueName', 'offline-Queue'],
]);

const context = (parameters?: Record<string, string>): ResolverContext => ({
  stackName: 'offline-stack',
  region: 'us-east-1',
  accountId: '123456789012',
  parameters,
  ref: (logicalId) => physical.get(logicalId),
  getAtt: (logicalId, attribute) => attributes.get(`${logicalId}.${attribute}`),
});

const resolve = (node: Json, parameters?: Record<string, string>): Json =>
  new Resolver(template, context(parameters)).resolve(node);

describe('Resolver: Ref', () => {
  it('resolves a parameter to its default, as a string', () => {
    expect(resolve({ Ref: 'Stage' })).toBe('dev');
    expect(resolve({ Ref: 'ChunkRows' })).toBe('10000');
  });

  it('prefers a parameter override to the default', () => {
    expect(resolve({ Ref: 'Stage' }, { Stage: 'prod' })).toBe('prod');
  });

  it('resolves the pseudo parameters from the context', () => {
    expect(resolve({ Ref: 'AWS::StackName' })).toBe('offline-stack');
    expect(resolve({ Ref: 'AWS::Region' })).toBe('us-east-1');
    expect(resolve({ Ref: 'AWS::AccountId' })).toBe('123456789012');
    expect(resolve({ Ref: 'AWS::Partition' })).toBe('aws');
    expect(resolve({ Ref: 'AWS::URLSuffix' })).toBe('amazonaws.com');
  });

  it("resolves a resource to the context's physical id", () => {
    expect(resolve({ Ref: 'Table' })).toBe('offline-Table');
  });

  it('throws UnresolvableError for a name it cannot resolve', () => {
    expect(() => resolve({ Ref: 'Missing' })).toThrow(UnresolvableError);
    expect(() => resolve({ Ref: 'Missing' })).toThrow(/Missing/);
  });

  it('throws UnresolvableError for a parameter without default or override', () => {
    expect(() => resolve({ Ref: 'NoDefault' })).toThrow(UnresolvableError);
  });
});

describe('Resolver: GetAtt', () => {
  it("resolves an attribute through the context's getAtt", () => {
    expect(resolve({ 'Fn::GetAtt': ['Table', 'Arn'] })).toBe(attributes.get('Table.Arn'));
  });

  it('throws UnresolvableError for an attribute the context does not know', () => {
    expect(() => resolve({ 'Fn::GetAtt': ['Table', 'StreamArn'] })).toThrow(UnresolvableError);
  });
});

describe('Resolver: Sub', () => {
  it('substitutes ${Name} with what Ref would give', () => {
    expect(resolve({ 'Fn::Sub': '${AWS::StackName}-${Stage}-${Table}' })).toBe(
      'offline-stack-dev-offline-Table',
    );
  });

  it('substitutes ${Name.Attribute} with what GetAtt would give', () => {
    expect(resolve({ 'Fn::Sub': 'queue=${Queue.QueueName}' })).toBe('queue=offline-Queue');
  });

  it('leaves ${!Literal} as the literal ${Literal}', () => {
    expect(resolve({ 'Fn::Sub': '${!Stage} is ${Stage}' })).toBe('${Stage} is dev');
  });

  it('takes variables from the second form, resolving intrinsics in them', () => {
    const node: Json = {
      'Fn::Sub': ['${Prefix}/${Name}/${Stage}', { Prefix: 'logs', Name: { Ref: 'Table' } }],
    };

    expect(resolve(node)).toBe('logs/offline-Table/dev');
  });

  it('does not take variables, parameters or pseudo parameters from Object.prototype', () => {
    expect(() => resolve({ 'Fn::Sub': ['${toString}', {}] })).toThrow(UnresolvableError);
    expect(() => resolve({ Ref: 'constructor' })).toThrow(UnresolvableError);
  });

  it('throws UnresolvableError for a name it cannot resolve', () => {
    expect(() => resolve({ 'Fn::Sub': 'x-${Nowhere}' })).toThrow(UnresolvableError);
  });
});

describe('Resolver: conditions and logic', () => {
  it('evaluates Equals on resolved values', () => {
    expect(resolve({ 'Fn::Equals': [{ Ref: 'Stage' }, 'dev'] })).toBe(true);
    expect(resolve({ 'Fn::Equals': [{ Ref: 'Stage' }, 'prod'] })).toBe(false);
  });

  it('evaluates Not, And and Or', () => {
    expect(resolve({ 'Fn::Not': [{ 'Fn::Equals': ['a', 'a'] }] })).toBe(false);
    expect(resolve({ 'Fn::And': [{ 'Fn::Equals': ['a', 'a'] }, { 'Fn::Equals': ['b', 'c'] }] })).toBe(false);
    expect(resolve({ 'Fn::And': [{ 'Fn::Equals': ['a', 'a'] }, { 'Fn::Equals': ['b', 'b'] }] })).toBe(true);
    expect(resolve({ 'Fn::Or': [{ 'Fn::Equals': ['a', 'b'] }, { 'Fn::Equals': ['b', 'b'] }] })).toBe(true);
    expect(resolve({ 'Fn::Or': [{ 'Fn::Equals': ['a', 'b'] }, { 'Fn::Equals': ['b', 'c'] }] })).toBe(false);
  });

  it('evaluates a named condition against the parameters', () => {
    const resolver = new Resolver(template, context());
    const overridden = new Resolver(template, context({ Stage: 'prod', AlertEmail: 'ops@example.com' }));

    expect(resolver.condition('IsProd')).toBe(false);
    expect(resolver.condition('HasAlertEmail')).toBe(false);
    expect(overridden.condition('IsProd')).toBe(true);
    expect(overridden.condition('HasAlertEmail')).toBe(true);
  });

  it('references a condition with { Condition: name } inside And/Or', () => {
    expect(resolve({ 'Fn::Or': [{ Condition: 'IsProd' }, { Condition: 'HasAlertEmail' }] })).toBe(false);
    expect(resolve({ 'Fn::Or': [{ Condition: 'IsProd' }] }, { Stage: 'prod' })).toBe(true);
  });

  it('throws UnresolvableError for an unknown condition', () => {
    expect(() => new Resolver(template, context()).condition('Nope')).toThrow(UnresolvableError);
  });

  it('picks the If branch by its condition, resolving only that branch', () => {
    const node: Json = { 'Fn::If': ['IsProd', { Ref: 'Missing' }, { 'Fn::Sub': '${Stage}-only' }] };

    expect(resolve(node)).toBe('dev-only');
    expect(() => resolve(node, { Stage: 'prod' })).toThrow(UnresolvableError);
  });
});

describe('Resolver: Join and structure', () => {
  it('joins resolved items with the separator', () => {
    expect(resolve({ 'Fn::Join': [':', ['a', { Ref: 'Stage' }, { Ref: 'AWS::Region' }]] })).toBe(
      'a:dev:us-east-1',
    );
  });

  it('resolves intrinsics anywhere inside objects and arrays, leaving plain values alone', () => {
    const node: Json = { Name: { Ref: 'Table' }, Items: [1, { Ref: 'Stage' }, null], Flag: true };

    expect(resolve(node)).toEqual({ Name: 'offline-Table', Items: [1, 'dev', null], Flag: true });
  });

  it('throws UnresolvableError for an intrinsic it does not support', () => {
    expect(() => resolve({ 'Fn::Select': [0, ['a']] })).toThrow(UnresolvableError);
  });
});

describe('loadTemplate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'template-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the short-form tags as their long form', () => {
    const path = join(dir, 'template.yaml');
    writeFileSync(
      path,
      [
        'Resources:',
        '  Thing:',
        '    Type: AWS::SQS::Queue',
        '    Properties:',
        '      A: !Ref Table',
        '      B: !GetAtt Table.StreamArn',
        '      C: !Sub ${Stage}-x',
        '      D: !If [IsProd, yes, no]',
        '      E: !Sub',
        '        - ${A}',
        '        - A: !Ref Stage',
        '',
      ].join('\n'),
    );

    expect(loadTemplate(path).Resources.Thing?.Properties).toEqual({
      A: { Ref: 'Table' },
      B: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
      C: { 'Fn::Sub': '${Stage}-x' },
      D: { 'Fn::If': ['IsProd', 'yes', 'no'] },
      E: { 'Fn::Sub': ['${A}', { A: { Ref: 'Stage' } }] },
    });
  });

  it("evaluates the project template's own condition from its parameters", () => {
    const project = loadProjectTemplate();

    expect(new Resolver(project, context()).condition('HasAlertEmail')).toBe(false);
    expect(new Resolver(project, context({ AlertEmail: 'ops@example.com' })).condition('HasAlertEmail')).toBe(
      true,
    );
  });
});

describe('functionsOf', () => {
  const withGlobals = (properties: Record<string, Json>): Template => ({
    Globals: {
      Function: {
        Runtime: 'nodejs24.x',
        Timeout: 10,
        Layers: [{ Ref: 'SharedLayer' }],
        Environment: { Variables: { TABLE_NAME: { Ref: 'Table' }, LOG_LEVEL: 'INFO' } },
        Tags: { project: 'csv', stage: 'dev' },
      },
    },
    Resources: {
      Fn: { Type: 'AWS::Serverless::Function', Properties: properties },
      NotAFunction: { Type: 'AWS::SQS::Queue', Properties: { Timeout: 1 } },
    },
  });

  it('lists only serverless functions', () => {
    expect(functionsOf(withGlobals({})).map((fn) => fn.logicalId)).toEqual(['Fn']);
  });

  it('takes the Globals when the function says nothing', () => {
    const [fn] = functionsOf(withGlobals({}));

    expect(fn).toMatchObject({ timeoutSeconds: 10, memoryMb: 128, handler: 'index.handler' });
    expect(fn?.properties.Runtime).toBe('nodejs24.x');
    expect(fn?.environment).toEqual({ TABLE_NAME: { Ref: 'Table' }, LOG_LEVEL: 'INFO' });
  });

  it("lets the function's own values win over the Globals", () => {
    const [fn] = functionsOf(withGlobals({ Timeout: 60, MemorySize: 512, Handler: 'app.main' }));

    expect(fn).toMatchObject({ timeoutSeconds: 60, memoryMb: 512, handler: 'app.main' });
  });

  it('merges environment variables, the function winning on a shared name', () => {
    const [fn] = functionsOf(
      withGlobals({ Environment: { Variables: { LOG_LEVEL: 'DEBUG', SERVICE: 'validate' } } }),
    );

    expect(fn?.environment).toEqual({
      TABLE_NAME: { Ref: 'Table' },
      LOG_LEVEL: 'DEBUG',
      SERVICE: 'validate',
    });
  });

  it('merges maps key by key, as SAM does', () => {
    const [fn] = functionsOf(withGlobals({ Tags: { stage: 'prod', owner: 'data' } }));

    expect(fn?.properties.Tags).toEqual({ project: 'csv', stage: 'prod', owner: 'data' });
  });

  it('appends the function lists to the Globals lists, as SAM does', () => {
    const [fn] = functionsOf(withGlobals({ Layers: [{ Ref: 'OwnLayer' }] }));

    expect(fn?.properties.Layers).toEqual([{ Ref: 'SharedLayer' }, { Ref: 'OwnLayer' }]);
  });

  it('treats an intrinsic as a single value that replaces the global one', () => {
    const [fn] = functionsOf(withGlobals({ Tags: { 'Fn::If': ['IsProd', { a: '1' }, { b: '2' }] } }));

    expect(fn?.properties.Tags).toEqual({ 'Fn::If': ['IsProd', { a: '1' }, { b: '2' }] });
  });

  it('reads the events of the function', () => {
    const events = { Api: { Type: 'Api', Properties: { Path: '/x', Method: 'get' } } };

    expect(functionsOf(withGlobals({ Events: events }))[0]?.events).toEqual(events);
  });
});
