import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateBucketCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ACCOUNT_ID, clientConfig, type Endpoint, REGION } from './aws.ts';
import {
  functionsOf,
  type Json,
  Resolver,
  type ResolverContext,
  type Resource,
  resourcesOfType,
  type Template,
} from './template.ts';

// Creates in the emulator what template.yaml declares and the offline pipeline needs, with names derived
// from logical ids. One provisioner per emulated resource type (PROVISIONERS); every other type (alarms,
// log groups, Glue, IAM...) is reported as not emulated.

export interface Physical {
  ref: string;
  attributes: Record<string, string>;
}

export interface EventRuleTarget {
  functionId: string;
  eventName: string;
  queueUrl: string;
}

export interface Provisioned {
  stackName: string;
  resolver: Resolver;
  physical: Map<string, Physical>;
  ruleTargets: EventRuleTarget[];
  skipped: string[];
  ref(logicalId: string): string;
}

const lower = (text: string) => text.toLowerCase().replace(/[^a-z0-9-]/g, '-');

const contextOf = (
  stackName: string,
  physical: ReadonlyMap<string, Physical>,
  parameters: Record<string, string> | undefined,
): ResolverContext => ({
  stackName,
  region: REGION,
  accountId: ACCOUNT_ID,
  parameters,
  ref: (id) => physical.get(id)?.ref,
  getAtt: (id, attribute) => {
    const attributes = physical.get(id)?.attributes;
    return attributes && Object.hasOwn(attributes, attribute) ? attributes[attribute] : undefined;
  },
});

/** What intrinsic functions resolve to offline: for another reading of the template (its SAM translation). */
export const resolverContextOf = (
  provisioned: Provisioned,
  parameters?: Record<string, string>,
): ResolverContext => contextOf(provisioned.stackName, provisioned.physical, parameters);

/** What every provisioner works with: the stack so far, the emulator's clients, and what it reports. */
interface Provisioning {
  stackName: string;
  template: Template;
  physical: Map<string, Physical>;
  resolve: (node: Json | undefined) => Json;
  clients: { s3: S3Client; ddb: DynamoDBClient; sns: SNSClient; sqs: SQSClient; events: EventBridgeClient };
  log: (line: string) => void;
  skipped: string[];
  ruleTargets: EventRuleTarget[];
}

/** Creates a type's resources (those whose Condition holds) in the emulator. */
type Create = (resources: [string, Resource][], stack: Provisioning) => Promise<void>;

interface Provisioner {
  /** The name and ARN CloudFormation would give it, known before anything is created (nothing is called). */
  name?: (id: string, stackName: string) => Physical;
  create?: Create;
}

const createQueue = async (
  sqs: SQSClient,
  name: string,
  attributes?: Record<string, string>,
): Promise<{ url: string; arn: string }> => {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl ?? '';
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: Attributes?.QueueArn ?? '' };
};

const createBuckets: Create = async (resources, { stackName, physical, resolve, clients, log }) => {
  for (const [id, resource] of resources) {
    const name = lower(`${stackName}-${id}`).slice(0, 63);
    await clients.s3.send(new CreateBucketCommand({ Bucket: name }));
    const notification = resource.Properties?.NotificationConfiguration as
      | { EventBridgeConfiguration?: { EventBridgeEnabled?: boolean } }
      | undefined;
    if (notification?.EventBridgeConfiguration?.EventBridgeEnabled) {
      await clients.s3.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: name,
          NotificationConfiguration: { EventBridgeConfiguration: {} },
        }),
      );
    }
    const versioning = resolve(resource.Properties?.VersioningConfiguration) as { Status?: Json } | null;
    const versioned = versioning?.Status === 'Enabled';
    if (versioned) {
      await clients.s3.send(
        new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
    physical.set(id, { ref: name, attributes: { Arn: `arn:aws:s3:::${name}` } });
    log(
      `provision: bucket ${name}${notification?.EventBridgeConfiguration ? ' (EventBridge notifications on)' : ''}${versioned ? ' (versioned)' : ''}`,
    );
  }
};

const createTables: Create = async (resources, { stackName, physical, resolve, clients, log }) => {
  for (const [id, resource] of resources) {
    const props = resolve(resource.Properties as Json) as Record<string, Json>;
    const name = `${stackName}-${id}`;
    const stream = props.StreamSpecification as { StreamViewType?: string } | undefined;
    // An attached emulator (--endpoint) may already have the table from an earlier run: reuse it.
    await clients.ddb
      .send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: (props.BillingMode as CreateTableCommandInput['BillingMode']) ?? 'PAY_PER_REQUEST',
          AttributeDefinitions: props.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
          KeySchema: props.KeySchema as CreateTableCommandInput['KeySchema'],
          GlobalSecondaryIndexes:
            props.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'],
          StreamSpecification: stream?.StreamViewType
            ? { StreamEnabled: true, StreamViewType: stream.StreamViewType as 'NEW_AND_OLD_IMAGES' }
            : undefined,
        }),
      )
      .catch((error: unknown) => {
        if ((error as Error).name !== 'ResourceInUseException') throw error;
      });
    const described = await clients.ddb.send(new DescribeTableCommand({ TableName: name }));
    physical.set(id, {
      ref: name,
      attributes: {
        Arn: described.Table?.TableArn ?? '',
        StreamArn: described.Table?.LatestStreamArn ?? '',
      },
    });
    log(
      `provision: table ${name} (GSIs: ${(props.GlobalSecondaryIndexes as Json[] | undefined)?.length ?? 0}, stream: ${stream?.StreamViewType ?? 'off'})`,
    );
  }
};

const createTopics: Create = async (resources, { stackName, physical, clients, log }) => {
  for (const [id] of resources) {
    const name = `${stackName}-${id}`;
    const arn = (await clients.sns.send(new CreateTopicCommand({ Name: name }))).TopicArn ?? '';
    physical.set(id, { ref: arn, attributes: { TopicArn: arn, TopicName: name } });
    log(`provision: topic ${name}`);
  }
};

// Two passes: create every queue, then attach redrive policies (they name other queues' ARNs).
const createQueues: Create = async (resources, { stackName, physical, resolve, clients, log }) => {
  for (const [id, resource] of resources) {
    const name = `${stackName}-${id}`;
    const props = resource.Properties ?? {};
    const attributes: Record<string, string> = {};
    for (const key of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds'] as const) {
      const value = resolve(props[key]);
      if (value !== null) attributes[key] = String(value);
    }
    const { url, arn } = await createQueue(clients.sqs, name, attributes);
    physical.set(id, { ref: url, attributes: { Arn: arn, QueueName: name, QueueUrl: url } });
  }
  for (const [id, resource] of resources) {
    const redrive = resource.Properties?.RedrivePolicy;
    if (redrive !== undefined) {
      await clients.sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: physical.get(id)?.ref ?? '',
          Attributes: { RedrivePolicy: JSON.stringify(resolve(redrive)) },
        }),
      );
    }
    log(
      `provision: queue ${physical.get(id)?.attributes.QueueName}${redrive ? ' (with redrive policy)' : ''}`,
    );
  }
};

const createSubscriptions: Create = async (resources, { resolve, clients, log, skipped }) => {
  for (const [id, resource] of resources) {
    const props = resolve(resource.Properties as Json) as Record<string, Json>;
    if (props.Protocol !== 'sqs') {
      skipped.push(`${id} (protocol ${String(props.Protocol)})`);
      continue;
    }
    const attributes: Record<string, string> = {};
    if (props.RawMessageDelivery !== undefined)
      attributes.RawMessageDelivery = String(props.RawMessageDelivery);
    if (props.FilterPolicy !== undefined) attributes.FilterPolicy = JSON.stringify(props.FilterPolicy);
    if (props.RedrivePolicy !== undefined) attributes.RedrivePolicy = JSON.stringify(props.RedrivePolicy);
    await clients.sns.send(
      new SubscribeCommand({
        TopicArn: String(props.TopicArn),
        Protocol: 'sqs',
        Endpoint: String(props.Endpoint),
        Attributes: attributes,
      }),
    );
    log(`provision: subscription ${id}`);
  }
};

// EventBridge rules declared as function events: the template's own pattern, and an SQS queue as the
// target the offline runtime drains and turns into asynchronous invocations of the function.
const createEventRules: Create = async (resources, stack) => {
  const { stackName, resolve, clients, log, ruleTargets } = stack;
  const ids = new Set(resources.map(([id]) => id));
  for (const fn of functionsOf(stack.template).filter((candidate) => ids.has(candidate.logicalId))) {
    for (const [eventName, event] of Object.entries(fn.events)) {
      if (event.Type !== 'EventBridgeRule') continue;
      const pattern = resolve(event.Properties.Pattern);
      const ruleName = `${stackName}-${fn.logicalId}-${eventName}`.slice(0, 64);
      const target = await createQueue(clients.sqs, `${ruleName}-target`.slice(0, 80));
      await clients.events.send(
        new PutRuleCommand({ Name: ruleName, EventPattern: JSON.stringify(pattern) }),
      );
      await clients.events.send(
        new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: 'offline-runtime', Arn: target.arn }] }),
      );
      ruleTargets.push({ functionId: fn.logicalId, eventName, queueUrl: target.url });
      log(`provision: rule ${ruleName} → ${fn.logicalId} (pattern ${JSON.stringify(pattern)})`);
    }
  }
};

/**
 * The emulated resource types, created in this order: queues before the subscriptions that deliver to them,
 * buckets before the rules whose patterns name them. Types with a `name` (functions, the state machine, the
 * API, the layer: run by the offline runtime, not the emulator) are named before anything is created, so a
 * function's rule can name it; the others get their names as they are created.
 */
const PROVISIONERS: ReadonlyMap<string, Provisioner> = new Map<string, Provisioner>([
  ['AWS::S3::Bucket', { create: createBuckets }],
  ['AWS::DynamoDB::Table', { create: createTables }],
  ['AWS::SNS::Topic', { create: createTopics }],
  ['AWS::SQS::Queue', { create: createQueues }],
  ['AWS::SNS::Subscription', { create: createSubscriptions }],
  [
    'AWS::Serverless::Function',
    {
      name: (id, stackName) => ({
        ref: `${stackName}-${id}`,
        attributes: { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${stackName}-${id}` },
      }),
      create: createEventRules,
    },
  ],
  [
    'AWS::Serverless::StateMachine',
    {
      name: (id, stackName) => {
        const arn = `arn:aws:states:${REGION}:${ACCOUNT_ID}:stateMachine:${stackName}-${id}`;
        return { ref: arn, attributes: { Arn: arn, Name: `${stackName}-${id}` } };
      },
    },
  ],
  [
    'AWS::Serverless::Api',
    { name: (id) => ({ ref: `offline-${id}`, attributes: { RootResourceId: 'root' } }) },
  ],
  [
    'AWS::Serverless::LayerVersion',
    {
      name: (id, stackName) => ({
        ref: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:layer:${stackName}-${id}:1`,
        attributes: {},
      }),
    },
  ],
]);

/** The resources the offline runtime does not emulate, as `LogicalId (Type)`, in template order. */
export const notEmulated = (template: Template): string[] =>
  Object.entries(template.Resources)
    .filter(([, resource]) => !PROVISIONERS.has(resource.Type))
    .map(([id, resource]) => `${id} (${resource.Type})`);

export const provision = async (
  template: Template,
  endpoint: Endpoint,
  options: { stackName: string; parameters?: Record<string, string>; log: (line: string) => void },
): Promise<Provisioned> => {
  const { stackName, log } = options;
  const config = clientConfig(endpoint);
  const physical = new Map<string, Physical>();
  const resolver = new Resolver(template, contextOf(stackName, physical, options.parameters));
  const stack: Provisioning = {
    stackName,
    template,
    physical,
    resolve: (node) => resolver.resolve(node ?? null),
    clients: {
      s3: new S3Client({ ...config, forcePathStyle: true }),
      ddb: new DynamoDBClient(config),
      sns: new SNSClient(config),
      sqs: new SQSClient(config),
      events: new EventBridgeClient(config),
    },
    log,
    skipped: [],
    ruleTargets: [],
  };
  for (const [type, { name }] of PROVISIONERS) {
    if (name) for (const [id] of resourcesOfType(template, type)) physical.set(id, name(id, stackName));
  }
  for (const [type, { create }] of PROVISIONERS) {
    if (!create) continue;
    const included = resourcesOfType(template, type).filter(
      ([, r]) => r.Condition === undefined || resolver.condition(r.Condition),
    );
    await create(included, stack);
  }

  return {
    stackName,
    resolver,
    physical,
    ruleTargets: stack.ruleTargets,
    skipped: [...stack.skipped, ...notEmulated(template)],
    ref: (logicalId) => {
      const value = physical.get(logicalId)?.ref;
      if (value === undefined) throw new Error(`${logicalId} was not provisioned`);
      return value;
    },
  };
};
