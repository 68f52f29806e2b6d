import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrincipalSummary } from '../../local/iam/authorizer.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import type { Json, Template } from '../../local/template.ts';
import { api, csv, fileMetadata, HEADER, startPipeline, uploadAndWait, userRows } from './support.ts';

// Every call a function, its event-source poller or the state machine makes offline is checked against the
// role SAM's transform gives it. Three things are shown here: a run of every path makes no call its role
// does not allow; every action a role grants is one its code used in that run, or is explained below; and
// a grant taken out of a role makes the run fail with AccessDeniedException, as the deployed stack would.

/** Actions granted for a path this run does not take, each with the reason it is granted. */
const EXPLAINED: Record<string, Record<string, string>> = {
  '*': {
    's3:ListBucket': 'a missing key must answer 404, not 403 (ObjectNotFoundError, ChunkNotFoundError)',
  },
  StartWorkflowFunction: {
    's3:GetObject': 'HeadObject when an event carries no ETag, in a bucket without versioning',
    's3:GetObjectVersion': 'HeadObject of the event’s version when the event carries no ETag',
    'sqs:SendMessage':
      'Lambda delivers a failed asynchronous invocation to StartFailuresQueue with this role',
  },
  ValidateDataFunction: {
    's3:GetObject': 'reading an upload in a bucket without versioning (pinned by its ETag)',
    's3:AbortMultipartUpload': 'lib-storage aborts the rejects upload when one of its parts fails',
  },
  StoreResultsFunction: {
    's3:GetObject':
      'copying an upload in a bucket without versioning; HeadObject of archive/ on a repeated move',
    's3:DeleteObject': 'deleting an upload in a bucket without versioning',
  },
  RecordOutcomeFunction: {
    's3:GetObject':
      'copying an upload in a bucket without versioning; HeadObject of rejected/ on a repeated move',
    's3:DeleteObject': 'deleting an upload in a bucket without versioning',
  },
  PipelineStateMachine: {
    'logs:CreateLogDelivery': 'Step Functions sets up log delivery with the role when the stack deploys',
    'logs:GetLogDelivery': 'as above',
    'logs:UpdateLogDelivery': 'as above',
    'logs:DeleteLogDelivery': 'as above',
    'logs:ListLogDeliveries': 'as above',
    'logs:PutResourcePolicy': 'as above',
    'logs:DescribeResourcePolicies': 'as above',
    'logs:DescribeLogGroups': 'as above',
  },
};

const THRESHOLD = 5;
let pipeline: OfflinePipeline;

const summaryOf = (principal: string): PrincipalSummary | undefined =>
  pipeline.iam.summary().find((summary) => summary.principal === principal);

/** The actions a role's own policies (not the AWS managed ones) grant, per function or state machine. */
const grantedActions = (translated: Template): Map<string, Set<string>> => {
  const granted = new Map<string, Set<string>>();
  for (const [id, resource] of Object.entries(translated.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function' && resource.Type !== 'AWS::StepFunctions::StateMachine')
      continue;
    const role = (resource.Properties?.Role ?? resource.Properties?.RoleArn) as { 'Fn::GetAtt'?: string[] };
    const roleId = role['Fn::GetAtt']?.[0] ?? '';
    const policies = (translated.Resources[roleId]?.Properties?.Policies ?? []) as {
      PolicyDocument: { Statement: { Action: Json }[] };
    }[];
    const actions = new Set<string>();
    for (const { PolicyDocument } of policies) {
      for (const statement of PolicyDocument.Statement) {
        for (const action of [statement.Action].flat()) actions.add(String(action));
      }
    }
    granted.set(id, actions);
  }
  return granted;
};

let translated: Template | undefined;

beforeAll(async () => {
  pipeline = await startPipeline({
    parameters: { AlertThreshold: String(THRESHOLD), AlertEveryMultiple: 'true' },
    editTranslation: (template) => {
      translated = template;
      return template;
    },
  });
  // A stored file with an anomalous user (scores), a threshold crossing (alerts), a rejected file.
  const steady = (day: string) =>
    Array.from({ length: 12 }, (_, i) => ['iam-cy', 'view', 5, `2026-11-${day}T0${i % 10}:00:00Z`]);
  await uploadAndWait(
    pipeline,
    'uploads/iam/one.csv',
    csv(HEADER, [...userRows('iam-amy', 8), ...steady('01')]),
  );
  await uploadAndWait(
    pipeline,
    'uploads/iam/two.csv',
    csv(HEADER, [
      ...userRows('iam-amy', 3),
      ...Array.from({ length: 3 }, (_, i) => ['iam-cy', 'view', 900, `2026-11-02T0${i}:00:00Z`]),
    ]),
  );
  await uploadAndWait(pipeline, 'uploads/iam/bad.csv', 'not,the,header\n1,2,3\n');
  await pipeline.waitIdle(120_000);
  for (const path of [
    '/files/uploads%2Fiam%2Fone.csv',
    '/users/iam-amy/aggregates?from=2026-11-01&to=2026-11-30',
    '/users/iam-amy/events',
    '/users/iam-cy/scores',
  ]) {
    expect((await api(pipeline, path)).status).toBe(200);
  }
}, 600_000);

afterAll(async () => {
  await pipeline?.stop();
});

describe('the roles SAM generates, enforced offline', () => {
  it('allow every call a run of every path makes', () => {
    const summaries = pipeline.iam.summary();

    expect(summaries.flatMap((summary) => summary.denials)).toEqual([]);
    expect(summaries.map((summary) => summary.principal)).toEqual(
      expect.arrayContaining([
        'fn.StartWorkflowFunction',
        'fn.ValidateDataFunction',
        'fn.ProcessRecordsFunction',
        'fn.AggregateResultsFunction',
        'fn.StoreResultsFunction',
        'fn.RecordOutcomeFunction',
        'fn.StreamAggregatorFunction',
        'fn.InferenceFunction',
        'fn.AnalyticsApiFunction',
        'esm.StreamAggregatorFunction',
        'esm.InferenceFunction',
        'states',
      ]),
    );
  });

  it('grant no action the code did not use in that run, unless it is explained', () => {
    const unexplained: string[] = [];
    for (const [id, actions] of grantedActions(translated ?? { Resources: {} })) {
      const principal = id === 'PipelineStateMachine' ? 'states' : `fn.${id}`;
      const used = new Set(Object.keys(summaryOf(principal)?.actions ?? {}));
      for (const action of actions) {
        if (used.has(action) || EXPLAINED['*']?.[action] || EXPLAINED[id]?.[action]) continue;
        unexplained.push(`${id}: ${action}`);
      }
    }

    expect(translated).toBeDefined();
    expect(unexplained).toEqual([]);
  });

  it('explain only actions the roles grant', () => {
    const granted = grantedActions(translated ?? { Resources: {} });
    const stale = Object.entries(EXPLAINED)
      .filter(([id]) => id !== '*')
      .flatMap(([id, actions]) =>
        Object.keys(actions)
          .filter((action) => !granted.get(id)?.has(action))
          .map((action) => `${id}: ${action}`),
      );

    expect(stale).toEqual([]);
  });
});

describe('a role without a grant its code needs', () => {
  let denied: OfflinePipeline;

  beforeAll(async () => {
    // ProcessRecords' role without the statement that lets it write the events.
    denied = await startPipeline({
      stackName: 'it-denied',
      editTranslation: (template) => {
        const role = template.Resources.ProcessRecordsFunctionRole?.Properties as {
          Policies: { PolicyDocument: { Statement: { Action: Json }[] } }[];
        };
        for (const policy of role.Policies) {
          policy.PolicyDocument.Statement = policy.PolicyDocument.Statement.filter(
            (statement) => ![statement.Action].flat().includes('dynamodb:BatchWriteItem'),
          );
        }
        return template;
      },
    });
  }, 300_000);

  afterAll(async () => {
    await denied?.stop();
  });

  it('fails the file with AccessDeniedException, as the deployed stack would', async () => {
    const { execution } = await uploadAndWait(
      denied,
      'uploads/iam/denied.csv',
      csv(HEADER, userRows('iam-dee', 3)),
    );
    const metadata = await fileMetadata(denied, 'uploads/iam/denied.csv');
    const processRecords = denied.iam
      .summary()
      .find((summary) => summary.principal === 'fn.ProcessRecordsFunction');

    expect(execution.status).toBe('FAILED');
    expect(metadata).toMatchObject({ status: 'FAILED' });
    expect(JSON.stringify(metadata?.error)).toContain('AccessDeniedException');
    expect(processRecords?.denials[0]).toMatch(
      /assumed-role\/it-denied-ProcessRecordsFunctionRole\/offline is not authorized to perform: dynamodb:BatchWriteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table\/it-denied-Table/,
    );
  });
});
