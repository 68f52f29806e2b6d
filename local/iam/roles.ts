import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Json, Resolver, Template } from '../template.ts';
import managedPoliciesFile from './managed-policies.json' with { type: 'json' };
import type { OneOrMany, PolicyDocument, Statement } from './policy.ts';

// The IAM policies each Lambda function and the state machine run with, read from the SAM translation of
// template.yaml (local/iam/translate.py): the roles SAM generates, with its policy templates expanded and
// the AWS managed policies it attaches, exactly as CloudFormation would create them. Checking calls against
// these rather than against a hand-written list is what makes an offline run prove the template's IAM.

export class InvalidPolicyError extends Error {
  override name = 'InvalidPolicyError';
}

/** The role is not a resource of the template (e.g. `Role: arn:…` of an existing role): nothing to read. */
export class RoleOutsideTemplateError extends Error {
  override name = 'RoleOutsideTemplateError';
}

/** A ManagedPolicyArn that local/iam/managed-policies.json does not hold: add its document there. */
export class UnknownManagedPolicyError extends Error {
  override name = 'UnknownManagedPolicyError';
}

export interface RolePolicies {
  /** The function's logical id (or the state machine's, see resourceType). */
  functionLogicalId: string;
  resourceType: 'AWS::Lambda::Function' | 'AWS::StepFunctions::StateMachine';
  roleLogicalId: string;
  /** Inline policies, then policies attached by AWS::IAM::Policy, then managed policies, all resolved. */
  policies: PolicyDocument[];
}

const isRecord = (node: unknown): node is Record<string, Json> =>
  typeof node === 'object' && node !== null && !Array.isArray(node);

const isStrings = (node: unknown): node is OneOrMany<string> =>
  typeof node === 'string' || (Array.isArray(node) && node.every((item) => typeof item === 'string'));

const asStatement = (node: Json, where: string): Statement => {
  if (!isRecord(node) || (node.Effect !== 'Allow' && node.Effect !== 'Deny'))
    throw new InvalidPolicyError(`${where}: a statement needs Effect Allow or Deny`);
  const statement: Statement = { Effect: node.Effect };
  for (const field of ['Action', 'NotAction', 'Resource', 'NotResource'] as const) {
    const value = node[field];
    if (value === undefined) continue;
    if (!isStrings(value)) throw new InvalidPolicyError(`${where}: ${field} must be a string or strings`);
    statement[field] = value;
  }
  if (typeof node.Sid === 'string') statement.Sid = node.Sid;
  if (isRecord(node.Condition)) statement.Condition = node.Condition;
  return statement;
};

/** Narrows a resolved document to a PolicyDocument, failing loudly on anything IAM would reject. */
export const asPolicyDocument = (node: Json, where: string): PolicyDocument => {
  if (!isRecord(node) || node.Statement === undefined)
    throw new InvalidPolicyError(`${where}: a policy document needs a Statement`);
  const statements = Array.isArray(node.Statement) ? node.Statement : [node.Statement];
  return {
    ...(typeof node.Version === 'string' ? { Version: node.Version } : {}),
    Statement: statements.map((statement, index) => asStatement(statement, `${where} statement ${index}`)),
  };
};

/** ARN → document, from local/iam/managed-policies.json. */
export const MANAGED_POLICIES: ReadonlyMap<string, PolicyDocument> = new Map(
  Object.entries(managedPoliciesFile.policies).map(([arn, entry]) => [
    arn,
    asPolicyDocument(entry.document, `managed-policies.json ${arn}`),
  ]),
);

const PRINCIPALS = {
  'AWS::Lambda::Function': 'Role',
  'AWS::StepFunctions::StateMachine': 'RoleArn',
} as const;

const listOf = (node: Json | undefined): Json[] =>
  node === undefined ? [] : Array.isArray(node) ? node : [node];

/** `Ref X` where X is a resource of the given type, else undefined. */
const refTo = (translated: Template, node: Json, type: string): string | undefined => {
  if (!isRecord(node) || typeof node.Ref !== 'string') return undefined;
  return translated.Resources[node.Ref]?.Type === type ? node.Ref : undefined;
};

const policiesOfRole = (
  translated: Template,
  roleLogicalId: string,
  resolver: Resolver,
  managed: ReadonlyMap<string, PolicyDocument>,
): PolicyDocument[] => {
  const properties = translated.Resources[roleLogicalId]?.Properties ?? {};
  const document = (node: Json | undefined, where: string) =>
    asPolicyDocument(resolver.resolve(node ?? null), where);

  const inline = listOf(properties.Policies).map((policy, index) =>
    document(isRecord(policy) ? policy.PolicyDocument : undefined, `${roleLogicalId} Policies[${index}]`),
  );
  // SAM puts everything inline, but a template may also attach policies to the role it generates.
  const attached = Object.entries(translated.Resources)
    .filter(
      ([, resource]) =>
        resource.Type === 'AWS::IAM::Policy' &&
        listOf(resource.Properties?.Roles).some((role) => isRecord(role) && role.Ref === roleLogicalId),
    )
    .map(([policyId, resource]) => document(resource.Properties?.PolicyDocument, policyId));
  const managedPolicies = listOf(properties.ManagedPolicyArns).map((entry) => {
    const own = refTo(translated, entry, 'AWS::IAM::ManagedPolicy');
    if (own !== undefined) return document(translated.Resources[own]?.Properties?.PolicyDocument, own);
    const arn = String(resolver.resolve(entry));
    const policy = managed.get(arn);
    if (policy === undefined)
      throw new UnknownManagedPolicyError(`${roleLogicalId} attaches ${arn}, not in managed-policies.json`);
    return policy;
  });
  return [...inline, ...attached, ...managedPolicies];
};

/** Each Lambda function's and state machine's role in the translation, with its policies resolved. */
export const rolesOf = (
  translated: Template,
  resolver: Resolver,
  managed: ReadonlyMap<string, PolicyDocument> = MANAGED_POLICIES,
): RolePolicies[] =>
  Object.entries(translated.Resources).flatMap(([logicalId, resource]) => {
    if (resource.Type !== 'AWS::Lambda::Function' && resource.Type !== 'AWS::StepFunctions::StateMachine')
      return [];
    const role = resource.Properties?.[PRINCIPALS[resource.Type]];
    const getAtt = isRecord(role) ? role['Fn::GetAtt'] : undefined;
    const [roleLogicalId, attribute] = Array.isArray(getAtt) ? getAtt : [];
    if (
      typeof roleLogicalId !== 'string' ||
      attribute !== 'Arn' ||
      translated.Resources[roleLogicalId]?.Type !== 'AWS::IAM::Role'
    )
      throw new RoleOutsideTemplateError(`${logicalId}'s role is not an AWS::IAM::Role of the template`);
    return [
      {
        functionLogicalId: logicalId,
        resourceType: resource.Type,
        roleLogicalId,
        policies: policiesOfRole(translated, roleLogicalId, resolver, managed),
      },
    ];
  });

export interface TranslateOptions {
  region?: string;
  parameters?: Record<string, string>;
}

/** Runs local/iam/translate.py with the project's .venv: the template as the SAM transform deploys it. */
export const translateTemplate = (
  projectRoot: string,
  templatePath: string,
  options: TranslateOptions = {},
): Template => {
  const args = [join(projectRoot, 'local', 'iam', 'translate.py'), templatePath];
  if (options.region !== undefined) args.push('--region', options.region);
  for (const [name, value] of Object.entries(options.parameters ?? {}))
    args.push('--parameter', `${name}=${value}`);
  const output = execFileSync(join(projectRoot, '.venv', 'bin', 'python'), args, {
    cwd: projectRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(output) as Template;
};
