import { describe, expect, it } from 'vitest';
import { AccessDenied, formatIamSummary, IamAuthorizer } from '../../../../local/iam/authorizer.ts';

// The authorizer as the proxy and the state machine use it: a principal's calls against its role.

const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/t';
const role = (actions: string[]) => ({
  roleLogicalId: 'FnRole',
  principalArn: 'arn:aws:sts::123456789012:assumed-role/s-FnRole/offline',
  policies: [
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow' as const, Action: actions, Resource: TABLE }] },
  ],
});
const putItem = {
  service: 'dynamodb',
  operation: 'PutItem',
  method: 'POST',
  url: new URL('http://proxy/'),
  headers: {},
  body: Buffer.from(JSON.stringify({ TableName: 't', Item: {} })),
};

describe('the IAM authorizer', () => {
  it('allows a call the role grants and counts it under its action', () => {
    const iam = new IamAuthorizer(new Map([['fn.Fn', role(['dynamodb:PutItem'])]]));

    expect(iam.checkCall('fn.Fn', putItem)).toBeUndefined();
    expect(iam.summary()).toEqual([
      {
        principal: 'fn.Fn',
        role: 'FnRole',
        checked: 1,
        denied: 0,
        actions: { 'dynamodb:PutItem': 1 },
        allowed: [`dynamodb:PutItem ${TABLE}`],
        denials: [],
      },
    ]);
  });

  it('denies a call the role does not grant, in AWS’s words', () => {
    const iam = new IamAuthorizer(new Map([['fn.Fn', role(['dynamodb:GetItem'])]]));

    const denial = iam.checkCall('fn.Fn', putItem);

    expect(denial?.authorization).toEqual({ action: 'dynamodb:PutItem', resource: TABLE });
    expect(iam.summary()[0]?.denials).toEqual([
      `User: arn:aws:sts::123456789012:assumed-role/s-FnRole/offline is not authorized to perform: dynamodb:PutItem on resource: ${TABLE} because no identity-based policy allows the dynamodb:PutItem action`,
    ]);
  });

  it('leaves callers without a role (the offline runtime, the user) unchecked', () => {
    const iam = new IamAuthorizer(new Map([['fn.Fn', role([])]]));

    expect(iam.covers('offline')).toBe(false);
    expect(iam.checkCall('offline', putItem)).toBeUndefined();
    expect(iam.summary()).toEqual([]);
  });

  it('throws AccessDeniedException for a call made outside the proxy that the role does not allow', () => {
    const iam = new IamAuthorizer(new Map([['states', role(['dynamodb:GetItem'])]]));

    expect(() => iam.require('states', [{ action: 'lambda:InvokeFunction', resource: 'arn:fn' }])).toThrow(
      AccessDenied,
    );
    expect(() => iam.require('states', [{ action: 'dynamodb:GetItem', resource: TABLE }])).not.toThrow();
  });

  it('summarises the calls per principal with any denial on its own line', () => {
    const iam = new IamAuthorizer(new Map([['fn.Fn', role(['dynamodb:GetItem'])]]));
    iam.checkCall('fn.Fn', putItem);

    expect(formatIamSummary(iam.summary())).toMatch(
      /1 calls checked .* 1 denied[\s\S]*fn\.Fn +1 {2}dynamodb:PutItem\n {4}denied: User: /,
    );
  });
});
