// IAM policy evaluation for identity-based policies, as AWS documents it: an explicit Deny in any
// statement wins, otherwise any Allow allows, otherwise the request is implicitly denied.
//
// Out of scope, on purpose: Condition blocks are not evaluated (a statement with a Condition applies as
// if its condition held, so a conditional Allow over-allows and a conditional Deny over-denies), and
// neither are policy variables (`${aws:username}`), Principal (identity policies have none), permission
// boundaries, SCPs, session policies or resource-based policies. The roles SAM generates for this
// template use none of them; what they use is exactly what is checked here.

export type OneOrMany<T> = T | readonly T[];

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: OneOrMany<string>;
  NotAction?: OneOrMany<string>;
  Resource?: OneOrMany<string>;
  NotResource?: OneOrMany<string>;
  /** Kept so documents type-check as written; never evaluated (see above). */
  Condition?: Readonly<Record<string, unknown>>;
}

export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: OneOrMany<Statement>;
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

export interface Evaluation {
  decision: Decision;
  /** The statement that decided: the denying one, or the first allowing one; none for an implicit deny. */
  statement?: Statement;
}

export interface Authorization {
  action: string;
  resource: string;
}

const listOf = <T>(value: OneOrMany<T> | undefined): readonly T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value as T];

// Compiled once per pattern and flags: the proxy evaluates every call of a run against the same few policies.
const compiled = new Map<string, RegExp>();

/** IAM's wildcard match: `*` is any run of characters (including `/` and `:`), `?` is one character. */
export const wildcardMatch = (pattern: string, value: string, ignoreCase = false): boolean => {
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = compiled.get(key);
  if (regex === undefined) {
    const body = pattern
      .split('')
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    compiled.set(key, regex);
  }
  return regex.test(value);
};

// Action names are case-insensitive in IAM ("S3:getobject" is s3:GetObject); ARNs are case-sensitive.
const matchesAction = (patterns: readonly string[], action: string): boolean =>
  patterns.some((pattern) => wildcardMatch(pattern, action, true));

const matchesResource = (patterns: readonly string[], resource: string): boolean =>
  patterns.some((pattern) => wildcardMatch(pattern, resource));

/** Whether a statement covers the request; a statement with neither Action nor NotAction covers nothing. */
const applies = (statement: Statement, action: string, resource: string): boolean => {
  const actionApplies =
    statement.Action !== undefined
      ? matchesAction(listOf(statement.Action), action)
      : statement.NotAction !== undefined && !matchesAction(listOf(statement.NotAction), action);
  if (!actionApplies) return false;
  if (statement.Resource !== undefined) return matchesResource(listOf(statement.Resource), resource);
  if (statement.NotResource !== undefined) return !matchesResource(listOf(statement.NotResource), resource);
  return false;
};

export const evaluate = (
  policies: readonly PolicyDocument[],
  action: string,
  resource: string,
): Evaluation => {
  let allowing: Statement | undefined;
  for (const policy of policies) {
    for (const statement of listOf(policy.Statement)) {
      if (!applies(statement, action, resource)) continue;
      if (statement.Effect === 'Deny') return { decision: 'explicit-deny', statement };
      allowing ??= statement;
    }
  }
  return allowing === undefined ? { decision: 'implicit-deny' } : { decision: 'allow', statement: allowing };
};

export interface Denial {
  authorization: Authorization;
  evaluation: Evaluation;
}

/** The first of a request's authorizations the policies do not allow: a request needs all of them. */
export const firstDenied = (
  policies: readonly PolicyDocument[],
  authorizations: readonly Authorization[],
): Denial | undefined => {
  for (const authorization of authorizations) {
    const evaluation = evaluate(policies, authorization.action, authorization.resource);
    if (evaluation.decision !== 'allow') return { authorization, evaluation };
  }
  return undefined;
};

/** AccessDeniedException's message in the words AWS uses, so a log line reads as it would in the cloud. */
export const accessDeniedMessage = (principalArn: string, denial: Denial): string => {
  const { action, resource } = denial.authorization;
  const reason =
    denial.evaluation.decision === 'explicit-deny'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`;
  return `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} ${reason}`;
};
