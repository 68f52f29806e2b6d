import { describe, expect, it } from 'vitest';
import {
  accessDeniedMessage,
  evaluate,
  firstDenied,
  type PolicyDocument,
  type Statement,
} from '../../../../local/iam/policy.ts';

const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/events';
const BUCKET = 'arn:aws:s3:::data';

const policy = (...statements: Statement[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: statements,
});
const allow = (Action: string | string[], Resource: string | string[]): Statement => ({
  Effect: 'Allow',
  Action,
  Resource,
});

describe('evaluate', () => {
  it('allows an action on a resource an Allow statement names', () => {
    const policies = [policy(allow('dynamodb:PutItem', TABLE))];

    const result = evaluate(policies, 'dynamodb:PutItem', TABLE);

    expect(result.decision).toBe('allow');
  });

  it('denies implicitly when no statement covers the request', () => {
    const policies = [policy(allow('dynamodb:PutItem', TABLE))];

    const result = evaluate(policies, 'dynamodb:DeleteItem', TABLE);

    expect(result).toEqual({ decision: 'implicit-deny' });
  });

  it('denies implicitly with no policies at all', () => {
    expect(evaluate([], 's3:GetObject', `${BUCKET}/a`).decision).toBe('implicit-deny');
  });

  it('lets an explicit Deny in any policy win over an Allow in another', () => {
    const deny: Statement = { Effect: 'Deny', Action: 'dynamodb:*', Resource: TABLE };
    const policies = [policy(allow('*', '*')), policy(deny)];

    const result = evaluate(policies, 'dynamodb:PutItem', TABLE);

    expect(result).toEqual({ decision: 'explicit-deny', statement: deny });
  });

  it('returns the first statement that allowed', () => {
    const first = allow('s3:GetObject', `${BUCKET}/*`);
    const policies = [policy(first, allow('s3:*', '*'))];

    const result = evaluate(policies, 's3:GetObject', `${BUCKET}/a.csv`);

    expect(result.statement).toBe(first);
  });

  it('matches action names case-insensitively', () => {
    const policies = [policy(allow('S3:getobject', `${BUCKET}/*`))];

    expect(evaluate(policies, 's3:GetObject', `${BUCKET}/a`).decision).toBe('allow');
  });

  it('matches a prefix wildcard action against actions with that prefix only', () => {
    const policies = [policy(allow('s3:Get*', `${BUCKET}/*`))];

    expect([
      evaluate(policies, 's3:GetObjectVersion', `${BUCKET}/a`).decision,
      evaluate(policies, 's3:PutObject', `${BUCKET}/a`).decision,
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('matches a service wildcard action against every action of that service only', () => {
    const policies = [policy(allow('dynamodb:*', '*'))];

    expect([
      evaluate(policies, 'dynamodb:BatchWriteItem', TABLE).decision,
      evaluate(policies, 'sns:Publish', '*').decision,
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('matches ? against exactly one character', () => {
    const policies = [policy(allow('sqs:?endMessage', '*'))];

    expect([
      evaluate(policies, 'sqs:SendMessage', '*').decision,
      evaluate(policies, 'sqs:endMessage', '*').decision,
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('matches resources case-sensitively', () => {
    const policies = [policy(allow('s3:GetObject', `${BUCKET}/Uploads/*`))];

    expect(evaluate(policies, 's3:GetObject', `${BUCKET}/uploads/a.csv`).decision).toBe('implicit-deny');
  });

  it('lets * in a resource span slashes and colons', () => {
    const policies = [
      policy(allow('logs:PutLogEvents', 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/*')),
    ];

    const result = evaluate(
      policies,
      'logs:PutLogEvents',
      'arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:log-stream:2026/12/01/[$LATEST]abc',
    );

    expect(result.decision).toBe('allow');
  });

  it('treats regular-expression characters in a pattern literally', () => {
    const policies = [policy(allow('s3:GetObject', `${BUCKET}/a.csv`))];

    expect(evaluate(policies, 's3:GetObject', `${BUCKET}/abcsv`).decision).toBe('implicit-deny');
  });

  it('does not let a table ARN pattern cover the table’s indexes', () => {
    const policies = [policy(allow('dynamodb:Query', TABLE))];

    expect(evaluate(policies, 'dynamodb:Query', `${TABLE}/index/GSI1`).decision).toBe('implicit-deny');
  });

  it('accepts a single statement object and single strings', () => {
    const policies: PolicyDocument[] = [
      { Statement: { Effect: 'Allow', Action: 'sns:Publish', Resource: 'arn:aws:sns:us-east-1:1:t' } },
    ];

    expect(evaluate(policies, 'sns:Publish', 'arn:aws:sns:us-east-1:1:t').decision).toBe('allow');
  });

  it('applies a NotAction statement to every action it does not name', () => {
    const policies = [policy({ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' })];

    expect([
      evaluate(policies, 's3:GetObject', `${BUCKET}/a`).decision,
      evaluate(policies, 'iam:CreateUser', '*').decision,
    ]).toEqual(['allow', 'implicit-deny']);
  });

  it('applies a NotResource statement to every resource it does not name', () => {
    const policies = [
      policy(allow('*', '*')),
      policy({ Effect: 'Deny', Action: 's3:*', NotResource: `${BUCKET}/*` }),
    ];

    expect([
      evaluate(policies, 's3:GetObject', `${BUCKET}/a`).decision,
      evaluate(policies, 's3:GetObject', 'arn:aws:s3:::other/a').decision,
    ]).toEqual(['allow', 'explicit-deny']);
  });

  it('ignores a statement with neither Action nor NotAction', () => {
    const policies = [policy({ Effect: 'Allow', Resource: '*' })];

    expect(evaluate(policies, 's3:GetObject', `${BUCKET}/a`).decision).toBe('implicit-deny');
  });

  it('ignores a statement with neither Resource nor NotResource', () => {
    const policies = [policy({ Effect: 'Allow', Action: '*' })];

    expect(evaluate(policies, 's3:GetObject', `${BUCKET}/a`).decision).toBe('implicit-deny');
  });

  it('applies a statement with a Condition as if the condition held (conditions are out of scope)', () => {
    const conditional: Statement = {
      ...allow('s3:GetObject', `${BUCKET}/*`),
      Condition: { Bool: { 'aws:SecureTransport': 'true' } },
    };

    expect(evaluate([policy(conditional)], 's3:GetObject', `${BUCKET}/a`).decision).toBe('allow');
  });
});

describe('firstDenied', () => {
  const policies = [policy(allow('s3:PutObject', `${BUCKET}/*`))];

  it('returns nothing when every authorization is allowed', () => {
    const result = firstDenied(policies, [{ action: 's3:PutObject', resource: `${BUCKET}/a` }]);

    expect(result).toBeUndefined();
  });

  it('returns the first authorization the policies do not allow, with its evaluation', () => {
    const source = { action: 's3:GetObject', resource: 'arn:aws:s3:::other/b' };

    const result = firstDenied(policies, [{ action: 's3:PutObject', resource: `${BUCKET}/a` }, source]);

    expect(result).toEqual({ authorization: source, evaluation: { decision: 'implicit-deny' } });
  });
});

describe('accessDeniedMessage', () => {
  it('words an implicit deny as AWS does', () => {
    const message = accessDeniedMessage('arn:aws:sts::123456789012:assumed-role/FnRole/fn', {
      authorization: { action: 'dynamodb:GetItem', resource: TABLE },
      evaluation: { decision: 'implicit-deny' },
    });

    expect(message).toBe(
      `User: arn:aws:sts::123456789012:assumed-role/FnRole/fn is not authorized to perform: dynamodb:GetItem on resource: ${TABLE} because no identity-based policy allows the dynamodb:GetItem action`,
    );
  });

  it('words an explicit deny as AWS does', () => {
    const message = accessDeniedMessage('arn:aws:sts::1:assumed-role/R/fn', {
      authorization: { action: 's3:GetObject', resource: `${BUCKET}/a` },
      evaluation: { decision: 'explicit-deny' },
    });

    expect(message).toMatch(/with an explicit deny in an identity-based policy$/);
  });
});
