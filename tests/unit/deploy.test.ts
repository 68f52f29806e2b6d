import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate, type PolicyDocument } from '../../local/iam/policy.ts';
import { translateTemplate } from '../../local/iam/roles.ts';
import type { Json, Template } from '../../local/template.ts';

// What a first deploy meets is the SAM translation, not template.yaml: each breaker found in review is
// checked there (the SAM translator from the project's virtualenv, as `sam validate` runs it).

const ROOT = join(import.meta.dirname, '..', '..');
let translated: Template;
const resource = (id: string) => translated.Resources[id];
const ofType = (type: string) => Object.entries(translated.Resources).filter(([, r]) => r.Type === type);
type Methods = Record<string, Record<string, Record<string, Json>>>;
/** The translated API's OpenAPI paths: SAM writes the API as one body. */
const apiPaths = (): Methods => {
  const [[, api] = []] = ofType('AWS::ApiGateway::RestApi');
  return ((api?.Properties?.Body ?? {}) as { paths?: Methods }).paths ?? {};
};

beforeAll(() => {
  translated = translateTemplate(ROOT, join(ROOT, 'template.yaml'), { region: 'us-east-1' });
}, 60_000);

describe('the analytics API, as SAM translates it', () => {
  it('invokes its function through a resource permission, never with the caller’s credentials', () => {
    const paths = apiPaths();
    const integrations = Object.values(paths).flatMap((methods) =>
      Object.values(methods).map(
        (method) => method['x-amazon-apigateway-integration'] as Record<string, Json>,
      ),
    );
    const apiPermissions = ofType('AWS::Lambda::Permission').filter(
      ([, permission]) => permission.Properties?.Principal === 'apigateway.amazonaws.com',
    );

    expect(integrations.length).toBeGreaterThanOrEqual(4);
    expect(integrations.filter((integration) => 'credentials' in integration)).toEqual([]);
    expect(apiPermissions).toHaveLength(integrations.length);
  });

  it('still requires SigV4 (AWS_IAM) on every method', () => {
    const paths = apiPaths();

    expect(Object.keys(paths).length).toBeGreaterThanOrEqual(4);
    for (const methods of Object.values(paths)) {
      for (const method of Object.values(methods)) expect(method.security).toEqual([{ AWS_IAM: [] }]);
    }
  });
});

describe('alarm actions', () => {
  it('publish only to topics under a customer managed key whose policy lets CloudWatch use it', () => {
    const topics = new Set(
      ofType('AWS::CloudWatch::Alarm').flatMap(([, alarm]) =>
        ((alarm.Properties?.AlarmActions ?? []) as { Ref?: string }[]).map((action) => String(action.Ref)),
      ),
    );

    expect(topics.size).toBeGreaterThan(0);
    for (const topic of topics) {
      const keyId = (resource(topic)?.Properties?.KmsMasterKeyId as { Ref?: string } | undefined)?.Ref ?? '';
      const key = resource(keyId);
      expect(key?.Type, `${topic}'s key`).toBe('AWS::KMS::Key');
      const policy = key?.Properties?.KeyPolicy as {
        Statement: { Effect: string; Principal?: { Service?: string }; Action: Json }[];
      };
      const forCloudWatch = policy.Statement.filter(
        (statement) =>
          statement.Effect === 'Allow' && statement.Principal?.Service === 'cloudwatch.amazonaws.com',
      );
      expect(forCloudWatch.flatMap((statement) => [statement.Action].flat())).toEqual(
        expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']),
      );
    }
  });

  it('has every topic encrypted', () => {
    for (const [id, topic] of ofType('AWS::SNS::Topic')) {
      expect(topic.Properties?.KmsMasterKeyId, id).toBeDefined();
      expect(topic.Properties?.KmsMasterKeyId, id).not.toBe('alias/aws/sns');
    }
  });
});

describe('ValidateData’s role', () => {
  it('may abort the rejects file’s multipart upload, so a failed part is not masked by AccessDenied', () => {
    const role = resource('ValidateDataFunctionRole');
    const policies = ((role?.Properties?.Policies ?? []) as { PolicyDocument: Json }[]).map(
      (policy) => resolveArns(policy.PolicyDocument) as unknown as PolicyDocument,
    );

    expect(
      evaluate(policies, 's3:AbortMultipartUpload', 'arn:aws:s3:::bucket/rejected/a.csv.f.rejects.csv')
        .decision,
    ).toBe('allow');
    expect(evaluate(policies, 's3:DeleteObject', 'arn:aws:s3:::bucket/uploads/a.csv').decision).toBe(
      'implicit-deny',
    );
  });
});

/** `${DataBucket.Arn}` → `arn:aws:s3:::bucket`, enough to evaluate the role's S3 statements. */
const resolveArns = (node: Json): Json => {
  if (Array.isArray(node)) return node.map(resolveArns);
  if (node === null || typeof node !== 'object') return node;
  if ('Fn::Sub' in node)
    return String(node['Fn::Sub']).replace(/^\$\{DataBucket\.Arn\}/, 'arn:aws:s3:::bucket');
  if ('Fn::GetAtt' in node)
    return (node['Fn::GetAtt'] as string[])[0] === 'DataBucket' ? 'arn:aws:s3:::bucket' : 'other';
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolveArns(value)]));
};
