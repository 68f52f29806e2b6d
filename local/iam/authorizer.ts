import { ACCOUNT_ID, REGION } from '../aws.ts';
import { Resolver, type ResolverContext, type Template } from '../template.ts';
import {
  type Authorization,
  accessDeniedMessage,
  type Denial,
  firstDenied,
  type PolicyDocument,
} from './policy.ts';
import { type AwsCall, authorizationsOf } from './requests.ts';
import { rolesOf } from './roles.ts';

// Every AWS call a function, its event-source poller or the state machine makes offline is checked against
// that role's policies as the SAM transform generates them, and a call the role does not allow fails with
// AccessDeniedException, as it would once deployed. The offline runtime's own calls (`offline`) and the
// user's uploads (`user`) are not a role's and are not checked. Conditions are not evaluated (policy.ts).

interface Role {
  roleLogicalId: string;
  /** What AWS names the caller in an AccessDenied message. */
  principalArn: string;
  policies: PolicyDocument[];
}

export interface PrincipalSummary {
  principal: string;
  role: string;
  checked: number;
  denied: number;
  /** Calls checked per IAM action. */
  actions: Record<string, number>;
  /** Distinct (action, resource) pairs allowed, as `action resource`. */
  allowed: string[];
  /** The first few denials, as AWS would word them. */
  denials: string[];
}

export class AccessDenied extends Error {
  override name = 'AccessDeniedException';
}

const MAX_DENIALS_KEPT = 20;

export class IamAuthorizer {
  private readonly roles: ReadonlyMap<string, Role>;
  private readonly summaries = new Map<string, PrincipalSummary>();
  private readonly allowed = new Map<string, Set<string>>();

  constructor(roles: ReadonlyMap<string, Role>) {
    this.roles = roles;
  }

  /**
   * The roles of a translated template (local/iam/translate.py), their ARNs resolved to the offline
   * resources: `fn.<Function>` and `esm.<Function>` (Lambda's poller acts with the function's role) get the
   * function's role, `states` the state machine's.
   */
  static fromTranslation(
    translated: Template,
    context: ResolverContext,
    stackName: string,
    stateMachineId: string,
  ): IamAuthorizer {
    const roles = new Map<string, Role>();
    for (const role of rolesOf(translated, new Resolver(translated, context))) {
      const entry: Role = {
        roleLogicalId: role.roleLogicalId,
        principalArn: `arn:aws:sts::${context.accountId}:assumed-role/${stackName}-${role.roleLogicalId}/offline`,
        policies: role.policies,
      };
      if (role.resourceType === 'AWS::StepFunctions::StateMachine') {
        if (role.functionLogicalId === stateMachineId) roles.set('states', entry);
        continue;
      }
      roles.set(`fn.${role.functionLogicalId}`, entry);
      roles.set(`esm.${role.functionLogicalId}`, entry);
    }
    return new IamAuthorizer(roles);
  }

  covers(principal: string): boolean {
    return this.roles.has(principal);
  }

  /** The denial of a request, or undefined when the caller's role allows all it needs (or has no role). */
  checkCall(principal: string, call: AwsCall): Denial | undefined {
    if (!this.roles.has(principal)) return undefined;
    return this.check(principal, authorizationsOf(call, { region: REGION, accountId: ACCOUNT_ID }));
  }

  /** Throws AccessDenied when the role does not allow the authorizations (calls made outside the proxy). */
  require(principal: string, authorizations: readonly Authorization[]): void {
    const denial = this.check(principal, authorizations);
    if (denial !== undefined) throw new AccessDenied(this.messageOf(principal, denial));
  }

  messageOf(principal: string, denial: Denial): string {
    const role = this.roles.get(principal);
    return accessDeniedMessage(role?.principalArn ?? principal, denial);
  }

  private check(principal: string, authorizations: readonly Authorization[]): Denial | undefined {
    const role = this.roles.get(principal);
    if (role === undefined) return undefined;
    const summary = this.summaryOf(principal, role);
    const denial = firstDenied(role.policies, authorizations);
    summary.checked += 1;
    for (const { action } of authorizations) summary.actions[action] = (summary.actions[action] ?? 0) + 1;
    if (denial === undefined) {
      const pairs = this.allowed.get(principal) ?? new Set<string>();
      this.allowed.set(principal, pairs);
      for (const { action, resource } of authorizations) pairs.add(`${action} ${resource}`);
    } else {
      summary.denied += 1;
      if (summary.denials.length < MAX_DENIALS_KEPT) summary.denials.push(this.messageOf(principal, denial));
    }
    return denial;
  }

  private summaryOf(principal: string, role: Role): PrincipalSummary {
    let summary = this.summaries.get(principal);
    if (summary === undefined) {
      summary = {
        principal,
        role: role.roleLogicalId,
        checked: 0,
        denied: 0,
        actions: {},
        allowed: [],
        denials: [],
      };
      this.summaries.set(principal, summary);
    }
    return summary;
  }

  /** Calls checked so far, per principal, sorted by principal. */
  summary(): PrincipalSummary[] {
    return [...this.summaries.values()]
      .map((summary) => ({
        ...summary,
        actions: { ...summary.actions },
        allowed: [...(this.allowed.get(summary.principal) ?? [])].sort(),
        denials: [...summary.denials],
      }))
      .sort((a, b) => a.principal.localeCompare(b.principal));
  }
}

/** One line per principal: what was checked against its role, and any denial. */
export const formatIamSummary = (summaries: readonly PrincipalSummary[]): string => {
  const checked = summaries.reduce((total, summary) => total + summary.checked, 0);
  const denied = summaries.reduce((total, summary) => total + summary.denied, 0);
  const lines = [
    `iam: ${checked.toLocaleString('en-US')} calls checked against the roles SAM generates, ${denied} denied (conditions not evaluated):`,
  ];
  for (const summary of summaries) {
    const actions = Object.keys(summary.actions).sort().join(', ');
    lines.push(`  ${summary.principal.padEnd(28)} ${String(summary.checked).padStart(8)}  ${actions}`);
    for (const denial of summary.denials) lines.push(`    denied: ${denial}`);
  }
  return lines.join('\n');
};
