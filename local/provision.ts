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
  resourcesOfType,
  type Template,
} from './template.ts';

// Creates in the emulator what template.yaml declares and the offline pipeline needs, with names derived
// from logical ids. Resources the emulator has no use for (alarms, log groups, Glue, IAM) are skipped.

interface Physical {
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

export const provision = async (
  template: Template,
  endpoint: Endpoint,
  options: { stackName: string; parameters?: Record<string, string>; log: (line: string) => void },
): Promise<Provisioned> => {
  const { stackName, log } = options;
  const config = clientConfig(endpoint);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const ddb = new DynamoDBClient(config);
  const sns = new SNSClient(config);
  const sqs = new SQSClient(config);
  const events = new EventBridgeClient(config);
  const physical = new Map<string, Physical>();
  const skipped: string[] = [];

  const resolver = new Resolver(template, contextOf(stackName, physical, options.parameters));
  const resolve = (node: Json | undefined): Json => resolver.resolve(node ?? null);
  const included = (condition: string | undefined) =>
    condition === undefined || resolver.condition(condition);

  // Names and ARNs known before anything is created: functions, state machines.
  for (const fn of functionsOf(template)) {
    const name = `${stackName}-${fn.logicalId}`;
    const arn = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${name}`;
    physical.set(fn.logicalId, { ref: name, attributes: { Arn: arn } });
  }
  for (const [id] of resourcesOfType(template, 'AWS::Serverless::StateMachine')) {
    const name = `${stackName}-${id}`;
    const arn = `arn:aws:states:${REGION}:${ACCOUNT_ID}:stateMachine:${name}`;
    physical.set(id, { ref: arn, attributes: { Arn: arn, Name: name } });
  }

  for (const [id] of resourcesOfType(template, 'AWS::Serverless::Api')) {
    physical.set(id, { ref: `offline-${id}`, attributes: { RootResourceId: 'root' } });
  }
  for (const [id] of resourcesOfType(template, 'AWS::Serverless::LayerVersion')) {
    physical.set(id, {
      ref: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:layer:${stackName}-${id}:1`,
      attributes: {},
    });
  }

  for (const [id, resource] of resourcesOfType(template, 'AWS::S3::Bucket')) {
    if (!included(resource.Condition)) continue;
    const name = lower(`${stackName}-${id}`).slice(0, 63);
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    const notification = resource.Properties?.NotificationConfiguration as
      | { EventBridgeConfiguration?: { EventBridgeEnabled?: boolean } }
      | undefined;
    if (notification?.EventBridgeConfiguration?.EventBridgeEnabled) {
      await s3.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: name,
          NotificationConfiguration: { EventBridgeConfiguration: {} },
        }),
      );
    }
    const versioning = resolve(resource.Properties?.VersioningConfiguration) as { Status?: Json } | null;
    const versioned = versioning?.Status === 'Enabled';
    if (versioned) {
      await s3.send(
        new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
    physical.set(id, { ref: name, attributes: { Arn: `arn:aws:s3:::${name}` } });
    log(
      `provision: bucket ${name}${notification?.EventBridgeConfiguration ? ' (EventBridge notifications on)' : ''}${versioned ? ' (versioned)' : ''}`,
    );
  }

  for (const [id, resource] of resourcesOfType(template, 'AWS::DynamoDB::Table')) {
    if (!included(resource.Condition)) continue;
    const props = resolve(resource.Properties as Json) as Record<string, Json>;
    const name = `${stackName}-${id}`;
    const stream = props.StreamSpecification as { StreamViewType?: string } | undefined;
    // An attached emulator (--endpoint) may already have the table from an earlier run: reuse it.
    await ddb
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
    const described = await ddb.send(new DescribeTableCommand({ TableName: name }));
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

  for (const [id, resource] of resourcesOfType(template, 'AWS::SNS::Topic')) {
    if (!included(resource.Condition)) continue;
    const name = `${stackName}-${id}`;
    const created = await sns.send(new CreateTopicCommand({ Name: name }));
    const arn = created.TopicArn ?? '';
    physical.set(id, { ref: arn, attributes: { TopicArn: arn, TopicName: name } });
    log(`provision: topic ${name}`);
  }

  // Queues in two passes: create all, then attach redrive policies (they name other queues' ARNs).
  const queues = resourcesOfType(template, 'AWS::SQS::Queue').filter(([, r]) => included(r.Condition));
  for (const [id, resource] of queues) {
    const name = `${stackName}-${id}`;
    const props = resource.Properties ?? {};
    const attributes: Record<string, string> = {};
    for (const key of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds'] as const) {
      const value = resolve(props[key]);
      if (value !== null) attributes[key] = String(value);
    }
    const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const url = created.QueueUrl ?? '';
    const arn =
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
        .Attributes?.QueueArn ?? '';
    physical.set(id, { ref: url, attributes: { Arn: arn, QueueName: name, QueueUrl: url } });
  }
  for (const [id, resource] of queues) {
    const redrive = resource.Properties?.RedrivePolicy;
    const url = physical.get(id)?.ref ?? '';
    if (redrive !== undefined) {
      await sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: url,
          Attributes: { RedrivePolicy: JSON.stringify(resolve(redrive)) },
        }),
      );
    }
    log(
      `provision: queue ${physical.get(id)?.attributes.QueueName}${redrive ? ' (with redrive policy)' : ''}`,
    );
  }

  for (const [id, resource] of resourcesOfType(template, 'AWS::SNS::Subscription')) {
    if (!included(resource.Condition)) continue;
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
    await sns.send(
      new SubscribeCommand({
        TopicArn: String(props.TopicArn),
        Protocol: 'sqs',
        Endpoint: String(props.Endpoint),
        Attributes: attributes,
      }),
    );
    log(`provision: subscription ${id}`);
  }

  // EventBridge rules declared as function events: the template's own pattern, and an SQS queue as the
  // target the offline runtime drains and turns into asynchronous invocations of the function.
  const ruleTargets: EventRuleTarget[] = [];
  for (const fn of functionsOf(template)) {
    for (const [eventName, event] of Object.entries(fn.events)) {
      if (event.Type !== 'EventBridgeRule') continue;
      const pattern = resolve(event.Properties.Pattern);
      const ruleName = `${stackName}-${fn.logicalId}-${eventName}`.slice(0, 64);
      const queue = await sqs.send(new CreateQueueCommand({ QueueName: `${ruleName}-target`.slice(0, 80) }));
      const queueUrl = queue.QueueUrl ?? '';
      const queueArn =
        (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })))
          .Attributes?.QueueArn ?? '';
      await events.send(new PutRuleCommand({ Name: ruleName, EventPattern: JSON.stringify(pattern) }));
      await events.send(
        new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: 'offline-runtime', Arn: queueArn }] }),
      );
      ruleTargets.push({ functionId: fn.logicalId, eventName, queueUrl });
      log(`provision: rule ${ruleName} → ${fn.logicalId} (pattern ${JSON.stringify(pattern)})`);
    }
  }

  const emulated = new Set([
    'AWS::S3::Bucket',
    'AWS::DynamoDB::Table',
    'AWS::SNS::Topic',
    'AWS::SQS::Queue',
    'AWS::SNS::Subscription',
    'AWS::Serverless::Function',
    'AWS::Serverless::StateMachine',
    'AWS::Serverless::Api',
    'AWS::Serverless::LayerVersion',
  ]);
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (!emulated.has(resource.Type)) skipped.push(`${id} (${resource.Type})`);
  }

  return {
    stackName,
    resolver,
    physical,
    ruleTargets,
    skipped,
    ref: (logicalId) => {
      const value = physical.get(logicalId)?.ref;
      if (value === undefined) throw new Error(`${logicalId} was not provisioned`);
      return value;
    },
  };
};
