// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} here is CloudFormation Sub syntax, not a mistyped template literal
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import managedPoliciesFile from '../../../../local/iam/managed-policies.json' with { type: 'json' };
import { evaluate, type PolicyDocument } from '../../../../local/iam/policy.ts';
import {
  asPolicyDocument,
  InvalidPolicyError,
  RoleOutsideTemplateError,
  rolesOf,
  translateTemplate,
  UnknownManagedPolicyError,
} from '../../../../local/iam/roles.ts';
import { Resolver, type ResolverContext, type Template } from '../../../../local/template.ts';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

/** Physical names are the logical ids; ARNs are shaped as the resource type's. */
const fakeContext = (translated: Template): ResolverContext => {
  const typeOf = (id: string) => translated.Resources[id]?.Type;
  return {
    stackName: 'csv-analytics-local',
    region: REGION,
    accountId: ACCOUNT,
    ref: (id) => {
      switch (typeOf(id)) {
        case undefined:
          return undefined;
        case 'AWS::SQS::Queue':
          return `http://127.0.0.1:4566/${ACCOUNT}/${id}`;
        case 'AWS::SNS::Topic':
          return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
        case 'AWS::StepFunctions::StateMachine':
          return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}`;
        default:
          return id;
      }
    },
    getAtt: (id, attribute) => {
      const arns: Record<string, string> = {
        'AWS::DynamoDB::Table': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`,
        'AWS::S3::Bucket': `arn:aws:s3:::${id}`,
        'AWS::SQS::Queue': `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`,
        'AWS::Lambda::Function': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`,
        'AWS::IAM::Role': `arn:aws:iam::${ACCOUNT}:role/${id}`,
        'AWS::Logs::LogGroup': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${id}:*`,
      };
      const type = typeOf(id);
      if (type === undefined) return undefined;
      if (attribute === 'Arn') return arns[type];
      if (attribute === 'StreamArn') return `${arns[type]}/stream/2026-12-01T00:00:00.000`;
      return ['TopicName', 'QueueName', 'Name'].includes(attribute) ? id : undefined;
    },
  };
};

const resolverFor = (translated: Template) => new Resolver(translated, fakeContext(translated));

const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

/** A translation as SAM shapes it: a function, its generated role, one inline policy template expanded. */
const minimal = (role: Record<string, unknown> = {}): Template =>
  ({
    Resources: {
      Table: { Type: 'AWS::DynamoDB::Table' },
      Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] } } },
      FnRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          ManagedPolicyArns: [BASIC],
          Policies: [
            {
              PolicyName: 'FnRolePolicy0',
              PolicyDocument: {
                Statement: [
                  {
                    Effect: 'Allow',
                    Action: ['dynamodb:GetItem'],
                    Resource: {
                      'Fn::Sub': [
                        'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}',
                        { tableName: { Ref: 'Table' } },
                      ],
                    },
                  },
                ],
              },
            },
          ],
          ...role,
        },
      },
    },
  }) as Template;

const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Table`;

describe('rolesOf', () => {
  it('names each function with its role', () => {
    const translated = minimal();

    const [role] = rolesOf(translated, resolverFor(translated));

    expect(role).toMatchObject({
      functionLogicalId: 'Fn',
      resourceType: 'AWS::Lambda::Function',
      roleLogicalId: 'FnRole',
    });
  });

  it('resolves the intrinsics of inline policies against the offline resources', () => {
    const translated = minimal();

    const [role] = rolesOf(translated, resolverFor(translated));

    expect(role?.policies[0]).toEqual({
      Statement: [{ Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: TABLE_ARN }],
    });
  });

  it('adds the documents of the managed policies the role attaches', () => {
    const translated = minimal();
    const basic: PolicyDocument = { Statement: { Effect: 'Allow', Action: 'logs:*', Resource: '*' } };

    const [role] = rolesOf(translated, resolverFor(translated), new Map([[BASIC, basic]]));

    expect(role?.policies[1]).toBe(basic);
  });

  it('fails on a managed policy whose document it does not hold', () => {
    const translated = minimal({ ManagedPolicyArns: ['arn:aws:iam::aws:policy/AdministratorAccess'] });

    expect(() => rolesOf(translated, resolverFor(translated))).toThrow(UnknownManagedPolicyError);
  });

  it('adds the policies an AWS::IAM::Policy attaches to the role', () => {
    const translated = minimal({ ManagedPolicyArns: [] });
    translated.Resources.Extra = {
      Type: 'AWS::IAM::Policy',
      Properties: {
        Roles: [{ Ref: 'FnRole' }],
        PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'sns:Publish', Resource: '*' }] },
      },
    };

    const [role] = rolesOf(translated, resolverFor(translated));

    expect(role?.policies).toHaveLength(2);
    expect(evaluate(role?.policies ?? [], 'sns:Publish', 'arn:aws:sns:us-east-1:1:t').decision).toBe('allow');
  });

  it('reads the state machine’s role from RoleArn', () => {
    const translated = minimal();
    translated.Resources.Machine = {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: { RoleArn: { 'Fn::GetAtt': ['FnRole', 'Arn'] } },
    };

    const roles = rolesOf(translated, resolverFor(translated));

    expect(roles.map((role) => [role.functionLogicalId, role.resourceType])).toEqual([
      ['Fn', 'AWS::Lambda::Function'],
      ['Machine', 'AWS::StepFunctions::StateMachine'],
    ]);
  });

  it('fails on a function whose role is not a role of the template', () => {
    const translated = minimal();
    translated.Resources.Fn = {
      Type: 'AWS::Lambda::Function',
      Properties: { Role: `arn:aws:iam::${ACCOUNT}:role/existing` },
    };

    expect(() => rolesOf(translated, resolverFor(translated))).toThrow(RoleOutsideTemplateError);
  });
});

describe('asPolicyDocument', () => {
  it('rejects a statement whose Effect is neither Allow nor Deny', () => {
    const document = { Statement: [{ Effect: 'allow', Action: '*', Resource: '*' }] };

    expect(() => asPolicyDocument(document, 'test')).toThrow(InvalidPolicyError);
  });

  it('rejects an Action that is not a string or strings', () => {
    const document = { Statement: [{ Effect: 'Allow', Action: { 'Fn::Sub': 's3:*' }, Resource: '*' }] };

    expect(() => asPolicyDocument(document, 'test')).toThrow(InvalidPolicyError);
  });
});

describe('translateTemplate', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('translates template.yaml without calling AWS', () => {
    // Every boto3 client of the translator would go to a closed loopback port, and fail.
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');

    const translated = translateTemplate(ROOT, join(ROOT, 'template.yaml'), { region: REGION });

    expect(translated.Resources.ProcessRecordsFunctionRole?.Type).toBe('AWS::IAM::Role');
  });
});

describe('rolesOf the SAM translation of template.yaml', () => {
  let translated: Template;
  let policiesOf: (logicalId: string) => PolicyDocument[];
  const decision = (logicalId: string, action: string, resource: string) =>
    evaluate(policiesOf(logicalId), action, resource).decision;
  const table = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Table`;
  const bucket = 'arn:aws:s3:::DataBucket';

  beforeAll(() => {
    translated = translateTemplate(ROOT, join(ROOT, 'template.yaml'), { region: REGION });
    const roles = rolesOf(translated, resolverFor(translated));
    policiesOf = (logicalId) => {
      const role = roles.find((candidate) => candidate.functionLogicalId === logicalId);
      if (role === undefined) throw new Error(`no role for ${logicalId}`);
      return role.policies;
    };
  }, 60_000);

  it('holds the document of every managed policy the translation attaches', () => {
    const attached = Object.values(translated.Resources)
      .filter((resource) => resource.Type === 'AWS::IAM::Role')
      .flatMap((resource) => resource.Properties?.ManagedPolicyArns ?? []);

    expect(attached.length).toBeGreaterThan(0);
    for (const arn of attached) expect(Object.keys(managedPoliciesFile.policies)).toContain(arn);
  });

  it('gives every function and the state machine a role', () => {
    const ids = Object.entries(translated.Resources)
      .filter(([, resource]) =>
        ['AWS::Lambda::Function', 'AWS::StepFunctions::StateMachine'].includes(resource.Type),
      )
      .map(([id]) => id);

    expect(ids).toContain('PipelineStateMachine');
    for (const id of ids) expect(policiesOf(id).length).toBeGreaterThan(0);
  });

  it('lets ProcessRecords batch-write events to the table', () => {
    expect(decision('ProcessRecordsFunction', 'dynamodb:BatchWriteItem', table)).toBe('allow');
  });

  it('does not let ProcessRecords read or delete items (DynamoDBWritePolicy only writes)', () => {
    expect([
      decision('ProcessRecordsFunction', 'dynamodb:GetItem', table),
      decision('ProcessRecordsFunction', 'dynamodb:DeleteItem', table),
    ]).toEqual(['implicit-deny', 'implicit-deny']);
  });

  it('does not let ProcessRecords publish to the alerts topic', () => {
    const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:AlertsTopic`;

    expect(decision('ProcessRecordsFunction', 'sns:Publish', topic)).toBe('implicit-deny');
  });

  it('lets ProcessRecords write its logs through the basic execution role', () => {
    const stream = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/ProcessRecordsFunction:log-stream:s`;

    expect(decision('ProcessRecordsFunction', 'logs:PutLogEvents', stream)).toBe('allow');
  });

  it('lets StartWorkflow start executions of the pipeline only', () => {
    const machine = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;

    expect([
      decision('StartWorkflowFunction', 'states:StartExecution', machine('PipelineStateMachine')),
      decision('StartWorkflowFunction', 'states:StartExecution', machine('Other')),
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('lets StartWorkflow read uploads but not write them (S3ReadPolicy)', () => {
    expect([
      decision('StartWorkflowFunction', 's3:GetObject', `${bucket}/uploads/a.csv`),
      decision('StartWorkflowFunction', 's3:PutObject', `${bucket}/uploads/a.csv`),
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('does not let the analytics API write to the table (DynamoDBReadPolicy)', () => {
    expect([
      decision('AnalyticsApiFunction', 'dynamodb:Query', `${table}/index/GSI1`),
      decision('AnalyticsApiFunction', 'dynamodb:PutItem', table),
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('lets the stream aggregator read the table stream through AWSLambdaDynamoDBExecutionRole', () => {
    expect(decision('StreamAggregatorFunction', 'dynamodb:GetRecords', `${table}/stream/2026`)).toBe('allow');
  });

  it('lets Inference receive from its queue through AWSLambdaSQSQueueExecutionRole', () => {
    const queue = `arn:aws:sqs:${REGION}:${ACCOUNT}:InferenceQueue`;

    expect(decision('InferenceFunction', 'sqs:ReceiveMessage', queue)).toBe('allow');
  });

  it('lets the state machine invoke its task functions but not StartWorkflow', () => {
    const fn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

    expect([
      decision('PipelineStateMachine', 'lambda:InvokeFunction', fn('ValidateDataFunction')),
      decision('PipelineStateMachine', 'lambda:InvokeFunction', fn('StartWorkflowFunction')),
    ]).toEqual(['allow', 'implicit-deny']);
  });
});
