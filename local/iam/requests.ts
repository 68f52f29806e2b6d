import type { Authorization } from './policy.ts';

// From one AWS request, as the proxy sees it on the wire, to the IAM authorizations AWS would check for it
// (the Service Authorization Reference's action and resource type per operation). Pure: the proxy passes
// what it already has. A request needs every authorization returned; an operation not known here needs
// `<service>:<Operation>` on `*`, which only a deliberately broad policy allows, so nothing passes unchecked.

export interface AwsCall {
  /** SigV4 credential-scope service name: `s3`, `dynamodb`, `sns`, `sqs`, `states`, `monitoring`, … */
  service: string;
  /** X-Amz-Target suffix or `Action=` for RPC protocols; `s3OperationOf` (local/meter/proxy.ts) for S3. */
  operation: string;
  method: string;
  url: URL;
  /** Lower-case names, as Node's IncomingMessage has them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request body; empty for S3, whose bodies the proxy streams. */
  body: Buffer;
}

export interface CallContext {
  region: string;
  accountId: string;
}

type Params = Readonly<Record<string, unknown>>;

const record = (value: unknown): Params =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Params) : {};

/** A JSON body (JSON protocols) or form fields (query protocol), as one flat view of the top level. */
const paramsOf = (body: Buffer): Params => {
  const source = body.toString('utf8').trim();
  if (source === '') return {};
  if (!source.startsWith('{')) return Object.fromEntries(new URLSearchParams(source));
  try {
    return record(JSON.parse(source));
  } catch {
    // A body AWS would reject as malformed: no parameters, so the call is checked against `*`.
    return {};
  }
};

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const records = (value: unknown): Params[] => (Array.isArray(value) ? value.map(record) : []);

const unique = (authorizations: Authorization[]): Authorization[] => {
  const seen = new Set<string>();
  return authorizations.filter(({ action, resource }) => {
    const key = `${action} ${resource}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
};

// SigV4 names a few services differently from their IAM action prefix.
const IAM_PREFIX: Record<string, string> = { monitoring: 'cloudwatch', email: 'ses' };
const prefixOf = (service: string): string => IAM_PREFIX[service] ?? service;

const unknownCall = (call: AwsCall): Authorization[] => [
  { action: `${prefixOf(call.service)}:${call.operation}`, resource: '*' },
];

// ------------------------------------------------------------------------------------------ DynamoDB

const dynamodb = (call: AwsCall, { region, accountId }: CallContext): Authorization[] => {
  const params = paramsOf(call.body);
  // TableName may be a table ARN as well as a name.
  const table = (name: string) =>
    name.startsWith('arn:') ? name : `arn:aws:dynamodb:${region}:${accountId}:table/${name}`;
  const on = (action: string, resource: string) => ({ action: `dynamodb:${action}`, resource });
  const op = call.operation;
  // A batch that names no table is malformed; still, nothing passes unchecked.
  const checked = (authorizations: Authorization[]) =>
    authorizations.length > 0 ? authorizations : unknownCall(call);
  switch (op) {
    case 'BatchWriteItem':
    case 'BatchGetItem':
      return checked(Object.keys(record(params.RequestItems)).map((name) => on(op, table(name))));
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      // Each item is authorized as the single-item action it performs, on its own table.
      const actions: Record<string, string> = {
        Put: 'PutItem',
        Update: 'UpdateItem',
        Delete: 'DeleteItem',
        ConditionCheck: 'ConditionCheckItem',
        Get: 'GetItem',
      };
      return checked(
        unique(
          records(params.TransactItems).flatMap((item) =>
            Object.entries(item).flatMap(([kind, request]) => {
              const action = actions[kind];
              const name = text(record(request).TableName);
              return action === undefined || name === undefined ? [] : [on(action, table(name))];
            }),
          ),
        ),
      );
    }
    // DynamoDB Streams signs as `dynamodb` too; its resource is the stream ARN.
    case 'DescribeStream':
    case 'GetShardIterator':
      return [on(op, text(params.StreamArn) ?? '*')];
    case 'GetRecords': {
      // The iterator is `<stream ARN>|1|<opaque>` in DynamoDB and in moto alike; anything else is opaque.
      const streamArn = text(params.ShardIterator)?.split('|')[0] ?? '';
      return [on(op, streamArn.startsWith('arn:') ? streamArn : '*')];
    }
    case 'ListStreams': {
      const name = text(params.TableName);
      return [on(op, name === undefined ? '*' : `${table(name)}/stream/*`)];
    }
  }
  const name = text(params.TableName);
  if (name === undefined) return unknownCall(call);
  // Query and Scan of an index are authorized on the index, not the table.
  const index = (op === 'Query' || op === 'Scan') && text(params.IndexName);
  return [on(op, index ? `${table(name)}/index/${index}` : table(name))];
};

// ------------------------------------------------------------------------------------------------ S3

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (value: string): string =>
  value.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (entity, name: string) =>
    name.startsWith('#x') || name.startsWith('#X')
      ? String.fromCodePoint(Number.parseInt(name.slice(2), 16))
      : name.startsWith('#')
        ? String.fromCodePoint(Number(name.slice(1)))
        : (XML_ENTITIES[name] ?? entity),
  );

/** The objects of a DeleteObjects body: `<Delete><Object><Key>…</Key><VersionId>…</VersionId></Object>…`. */
const deletedObjects = (xml: string): { key: string; versionId?: string }[] =>
  [...xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].flatMap(([, object = '']) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(object)?.[1];
    const versionId = /<VersionId>([\s\S]*?)<\/VersionId>/.exec(object)?.[1];
    if (key === undefined) return [];
    return [versionId === undefined ? { key: unescapeXml(key) } : { key: unescapeXml(key), versionId }];
  });

// Bucket sub-resource requests (s3OperationOf's `GetBucket…`/`PutBucket…`) by sub-resource, to IAM actions.
const BUCKET_SUBRESOURCES: Record<string, { GET?: string; PUT?: string }> = {
  location: { GET: 'GetBucketLocation' },
  lifecycle: { GET: 'GetLifecycleConfiguration', PUT: 'PutLifecycleConfiguration' },
  versioning: { GET: 'GetBucketVersioning', PUT: 'PutBucketVersioning' },
  notification: { GET: 'GetBucketNotification', PUT: 'PutBucketNotification' },
  policy: { GET: 'GetBucketPolicy', PUT: 'PutBucketPolicy' },
  tagging: { GET: 'GetBucketTagging', PUT: 'PutBucketTagging' },
  acl: { GET: 'GetBucketAcl', PUT: 'PutBucketAcl' },
  versions: { GET: 'ListBucketVersions' },
  uploads: { GET: 'ListBucketMultipartUploads' },
};

/** A URL path segment decoded; a malformed escape stays as sent rather than failing the request. */
const decoded = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

/** Path-style only (`/bucket/key`): the offline runtime's clients use forcePathStyle against loopback. */
const s3 = (call: AwsCall): Authorization[] => {
  const [, bucket = '', ...keyParts] = call.url.pathname.split('/');
  const bucketArn = `arn:aws:s3:::${decoded(bucket)}`;
  const objectArn = (key: string) => `${bucketArn}/${key}`;
  const key = decoded(keyParts.join('/'));
  const query = call.url.searchParams;
  const versioned = query.has('versionId');
  const on = (action: string, resource: string) => ({ action: `s3:${action}`, resource });
  const object = (action: string) => [on(action, objectArn(key))];
  const header = (name: string) => text(call.headers[name]);

  // s3OperationOf names an object's sub-resource requests after the object operation; IAM does not.
  const method = call.method.toUpperCase();
  if (key !== '' && query.has('tagging')) {
    const verb = method === 'PUT' ? 'Put' : method === 'DELETE' ? 'Delete' : 'Get';
    return object(`${verb}Object${versioned ? 'Version' : ''}Tagging`);
  }
  if (key !== '' && query.has('acl'))
    return object(`${method === 'PUT' ? 'Put' : 'Get'}Object${versioned ? 'Version' : ''}Acl`);

  switch (call.operation) {
    case 'GetObject':
    case 'HeadObject':
      return object(versioned ? 'GetObjectVersion' : 'GetObject');
    case 'PutObject':
    case 'CreateMultipartUpload':
    case 'UploadPart':
    case 'CompleteMultipartUpload':
      return object('PutObject');
    case 'CopyObject':
    case 'UploadPartCopy': {
      // x-amz-copy-source: [/]bucket/key, URL-encoded, optionally ?versionId=…
      const source = (header('x-amz-copy-source') ?? '').replace(/^\//, '');
      const [path = '', sourceQuery = ''] = source.split('?');
      const sourceVersioned = new URLSearchParams(sourceQuery).has('versionId');
      return [
        on('PutObject', objectArn(key)),
        on(sourceVersioned ? 'GetObjectVersion' : 'GetObject', `arn:aws:s3:::${decoded(path)}`),
      ];
    }
    case 'AbortMultipartUpload':
      return object('AbortMultipartUpload');
    case 'ListParts':
      return object('ListMultipartUploadParts');
    case 'DeleteObject':
      return object(versioned ? 'DeleteObjectVersion' : 'DeleteObject');
    case 'DeleteObjects': {
      const objects = deletedObjects(call.body.toString('utf8'));
      // Without the body (streamed) the keys are unknown: ask for the widest grant the request could need.
      if (objects.length === 0) return [on('DeleteObject', objectArn('*'))];
      return unique(
        objects.map((item) =>
          on(item.versionId === undefined ? 'DeleteObject' : 'DeleteObjectVersion', objectArn(item.key)),
        ),
      );
    }
    case 'ListObjects':
    case 'ListObjectsV2':
    case 'HeadBucket':
      return bucket === '' ? [on('ListAllMyBuckets', '*')] : [on('ListBucket', bucketArn)];
    case 'PutBucket':
      return [on('CreateBucket', bucketArn)];
    case 'DeleteBucket':
      return [on('DeleteBucket', bucketArn)];
  }
  if (key === '' && /^(Get|Put)Bucket/.test(call.operation)) {
    // The first query key s3OperationOf went by may be the SDK's `x-id`; look for a known sub-resource.
    const actions = [...query.keys()].map((name) => BUCKET_SUBRESOURCES[name]).find(Boolean);
    const action = method === 'PUT' ? actions?.PUT : actions?.GET;
    if (action !== undefined) return [on(action, bucketArn)];
  }
  return unknownCall(call);
};

// ------------------------------------------------------------------------------------ SNS, SQS, …

const sns = (call: AwsCall): Authorization[] => {
  const params = paramsOf(call.body);
  // PublishBatch is authorized as sns:Publish; a publish to an endpoint names it in TargetArn.
  const action = call.operation === 'PublishBatch' ? 'Publish' : call.operation;
  const resource = text(params.TopicArn) ?? text(params.TargetArn);
  return resource === undefined ? unknownCall(call) : [{ action: `sns:${action}`, resource }];
};

const sqs = (call: AwsCall, { region, accountId }: CallContext): Authorization[] => {
  const params = paramsOf(call.body);
  // The queue is the QueueUrl's last two path segments (account, name); the query protocol may also post
  // to the queue URL itself.
  const queueOf = (url: string): string | undefined => {
    const [account, name] = new URL(url, 'http://queue').pathname.split('/').filter(Boolean).slice(-2);
    return account === undefined || name === undefined
      ? undefined
      : `arn:aws:sqs:${region}:${account}:${name}`;
  };
  const queueUrl = text(params.QueueUrl);
  const queueName = text(params.QueueName);
  const resource =
    queueUrl !== undefined
      ? queueOf(queueUrl)
      : call.operation === 'GetQueueUrl' && queueName !== undefined
        ? `arn:aws:sqs:${region}:${text(params.QueueOwnerAWSAccountId) ?? accountId}:${queueName}`
        : queueOf(call.url.pathname);
  // SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch need their single-message action.
  const action = call.operation.replace(/Batch$/, '');
  if (resource === undefined) return unknownCall(call);
  return [{ action: `sqs:${action}`, resource }];
};

const states = (call: AwsCall): Authorization[] => {
  const params = paramsOf(call.body);
  const resource = text(params.executionArn) ?? text(params.stateMachineArn);
  return resource === undefined ? unknownCall(call) : [{ action: `states:${call.operation}`, resource }];
};

const events = (call: AwsCall, { region, accountId }: CallContext): Authorization[] => {
  if (call.operation !== 'PutEvents') return unknownCall(call);
  const bus = (name: string | undefined) =>
    name?.startsWith('arn:') ? name : `arn:aws:events:${region}:${accountId}:event-bus/${name ?? 'default'}`;
  const entries = records(paramsOf(call.body).Entries);
  const buses =
    entries.length === 0 ? [bus(undefined)] : entries.map((entry) => bus(text(entry.EventBusName)));
  return unique(buses.map((resource) => ({ action: 'events:PutEvents', resource })));
};

const logs = (call: AwsCall, { region, accountId }: CallContext): Authorization[] => {
  const params = paramsOf(call.body);
  const group = text(params.logGroupName);
  if (group === undefined) return unknownCall(call);
  const groupArn = `arn:aws:logs:${region}:${accountId}:log-group:${group}`;
  const stream = text(params.logStreamName);
  // PutLogEvents is authorized on the log stream; the other group operations on the group.
  const resource =
    call.operation === 'PutLogEvents' && stream !== undefined ? `${groupArn}:log-stream:${stream}` : groupArn;
  return [{ action: `logs:${call.operation}`, resource }];
};

/** Lambda's REST API: only Invoke is told apart; the rest are unknown and so checked against `*`. */
const lambda = (call: AwsCall, { region, accountId }: CallContext): Authorization[] => {
  const invoke = /\/functions\/([^/]+)\/invocations$/.exec(call.url.pathname);
  if (invoke?.[1] === undefined) return unknownCall(call);
  const name = decoded(invoke[1]);
  const resource = name.startsWith('arn:') ? name : `arn:aws:lambda:${region}:${accountId}:function:${name}`;
  return [{ action: 'lambda:InvokeFunction', resource }];
};

// X-Ray's REST paths to its operations (the proxy sees no X-Amz-Target there); none has resource-level permissions.
const XRAY_PATHS: Record<string, string> = {
  '/TraceSegments': 'PutTraceSegments',
  '/TelemetryRecords': 'PutTelemetryRecords',
  '/GetSamplingRules': 'GetSamplingRules',
  '/SamplingTargets': 'GetSamplingTargets',
};

const xray = (call: AwsCall): Authorization[] => [
  { action: `xray:${XRAY_PATHS[call.url.pathname] ?? call.operation}`, resource: '*' },
];

// CloudWatch PutMetricData has no resource-level permissions either (its namespace is a condition key).
const cloudwatch = (call: AwsCall): Authorization[] => {
  const operation = /\/operation\/(\w+)$/.exec(call.url.pathname)?.[1] ?? call.operation;
  return [{ action: `cloudwatch:${operation}`, resource: '*' }];
};

const SERVICES: Record<string, (call: AwsCall, context: CallContext) => Authorization[]> = {
  dynamodb,
  s3,
  sns,
  sqs,
  states,
  events,
  logs,
  lambda,
  xray,
  monitoring: cloudwatch,
};

export const authorizationsOf = (call: AwsCall, context: CallContext): Authorization[] => {
  const authorize = SERVICES[call.service];
  return authorize === undefined ? unknownCall(call) : authorize(call, context);
};
