import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishBatchCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactGetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { type AwsCall, authorizationsOf } from '../../../../local/iam/requests.ts';
import { capturing, ignoreCaptured } from './capture.ts';

const context = { region: 'us-east-1', accountId: '123456789012' };
const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/events';
const OTHER_TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/other';
const STREAM = `${TABLE}/stream/2026-12-01T00:00:00.000`;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:alerts';
const QUEUE_URL = 'http://127.0.0.1:4566/123456789012/inference';
const QUEUE = 'arn:aws:sqs:us-east-1:123456789012:inference';
const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:pipeline';
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:pipeline:run-1';

/** Sends one command through a real SDK client and returns the call the proxy would see. */
type Sender<C> = (client: C) => Promise<unknown>;
const callOf = async <C>(
  makeClient: (config: ReturnType<typeof capturing>['config']) => C,
  send: Sender<C>,
) => {
  const { config, last } = capturing();
  await send(makeClient(config)).catch(ignoreCaptured);
  return last();
};

const ddb = (send: Sender<DynamoDBDocumentClient>) =>
  callOf((config) => DynamoDBDocumentClient.from(new DynamoDBClient(config)), send);
const streams = (send: Sender<DynamoDBStreamsClient>) =>
  callOf((config) => new DynamoDBStreamsClient(config), send);
const s3 = (send: Sender<S3Client>) => callOf((config) => new S3Client(config), send);
const sns = (send: Sender<SNSClient>) => callOf((config) => new SNSClient(config), send);
const sqs = (send: Sender<SQSClient>) => callOf((config) => new SQSClient(config), send);

/** A hand-written call, for protocols no SDK client in this project speaks. */
const rawCall = (fields: Partial<AwsCall> & Pick<AwsCall, 'service' | 'operation'>): AwsCall => ({
  method: 'POST',
  url: new URL('http://127.0.0.1:4566/'),
  headers: {},
  body: Buffer.alloc(0),
  ...fields,
});

describe('authorizationsOf: DynamoDB', () => {
  it('authorizes GetItem on the table', async () => {
    const call = await ddb((client) =>
      client.send(new GetCommand({ TableName: 'events', Key: { PK: 'a', SK: 'b' } })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:GetItem', resource: TABLE }]);
  });

  it('authorizes PutItem on the table', async () => {
    const call = await ddb((client) =>
      client.send(new PutCommand({ TableName: 'events', Item: { PK: 'a', SK: 'b' } })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:PutItem', resource: TABLE }]);
  });

  it('authorizes UpdateItem on the table', async () => {
    const call = await ddb((client) =>
      client.send(
        new UpdateCommand({
          TableName: 'events',
          Key: { PK: 'a', SK: 'b' },
          UpdateExpression: 'ADD n :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:UpdateItem', resource: TABLE }]);
  });

  it('authorizes DeleteItem on the table', async () => {
    const call = await ddb((client) =>
      client.send(new DeleteCommand({ TableName: 'events', Key: { PK: 'a', SK: 'b' } })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:DeleteItem', resource: TABLE }]);
  });

  it('authorizes a Query of the table on the table', async () => {
    const call = await ddb((client) =>
      client.send(
        new QueryCommand({
          TableName: 'events',
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': 'USER#a' },
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:Query', resource: TABLE }]);
  });

  it('authorizes a Query of an index on the index', async () => {
    const call = await ddb((client) =>
      client.send(
        new QueryCommand({
          TableName: 'events',
          IndexName: 'GSI1',
          KeyConditionExpression: 'GSI1PK = :pk',
          ExpressionAttributeValues: { ':pk': 'FILES' },
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:Query', resource: `${TABLE}/index/GSI1` },
    ]);
  });

  it('authorizes a Scan of an index on the index', async () => {
    const call = await ddb((client) =>
      client.send(new ScanCommand({ TableName: 'events', IndexName: 'GSI1' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:Scan', resource: `${TABLE}/index/GSI1` },
    ]);
  });

  it('authorizes BatchWriteItem once per table it writes', async () => {
    const call = await ddb((client) =>
      client.send(
        new BatchWriteCommand({
          RequestItems: {
            events: [
              { PutRequest: { Item: { PK: 'a', SK: '1' } } },
              { PutRequest: { Item: { PK: 'a', SK: '2' } } },
            ],
            other: [{ DeleteRequest: { Key: { PK: 'b', SK: '1' } } }],
          },
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:BatchWriteItem', resource: TABLE },
      { action: 'dynamodb:BatchWriteItem', resource: OTHER_TABLE },
    ]);
  });

  it('authorizes BatchGetItem once per table it reads', async () => {
    const call = await ddb((client) =>
      client.send(new BatchGetCommand({ RequestItems: { events: { Keys: [{ PK: 'a', SK: '1' }] } } })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:BatchGetItem', resource: TABLE }]);
  });

  it('authorizes each item of TransactWriteItems as the single-item write it performs', async () => {
    const call = await ddb((client) =>
      client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: 'events', Item: { PK: 'a', SK: '1' } } },
            {
              Update: {
                TableName: 'events',
                Key: { PK: 'a', SK: '2' },
                UpdateExpression: 'SET v = :v',
                ExpressionAttributeValues: { ':v': 1 },
              },
            },
            { Delete: { TableName: 'other', Key: { PK: 'b', SK: '1' } } },
            {
              ConditionCheck: {
                TableName: 'other',
                Key: { PK: 'b', SK: '2' },
                ConditionExpression: 'attribute_exists(PK)',
              },
            },
          ],
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:PutItem', resource: TABLE },
      { action: 'dynamodb:UpdateItem', resource: TABLE },
      { action: 'dynamodb:DeleteItem', resource: OTHER_TABLE },
      { action: 'dynamodb:ConditionCheckItem', resource: OTHER_TABLE },
    ]);
  });

  it('authorizes TransactGetItems as GetItem on each table, once per table', async () => {
    const call = await ddb((client) =>
      client.send(
        new TransactGetCommand({
          TransactItems: [
            { Get: { TableName: 'events', Key: { PK: 'a', SK: '1' } } },
            { Get: { TableName: 'events', Key: { PK: 'a', SK: '2' } } },
          ],
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:GetItem', resource: TABLE }]);
  });

  it('authorizes DescribeTable on the table', () => {
    const call = rawCall({
      service: 'dynamodb',
      operation: 'DescribeTable',
      body: Buffer.from('{"TableName":"events"}'),
    });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:DescribeTable', resource: TABLE }]);
  });

  it('takes a table ARN given as TableName as it is', async () => {
    const call = await ddb((client) =>
      client.send(new GetCommand({ TableName: OTHER_TABLE, Key: { PK: 'a', SK: 'b' } })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:GetItem', resource: OTHER_TABLE }]);
  });

  it('authorizes a BatchWriteItem that names no table on every resource', () => {
    const call = rawCall({
      service: 'dynamodb',
      operation: 'BatchWriteItem',
      body: Buffer.from('{"RequestItems":{}}'),
    });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:BatchWriteItem', resource: '*' }]);
  });

  it('authorizes a call whose body is not valid JSON on every resource', () => {
    const call = rawCall({ service: 'dynamodb', operation: 'PutItem', body: Buffer.from('{"TableName":') });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:PutItem', resource: '*' }]);
  });

  it('authorizes an operation without a table on every resource', () => {
    const call = rawCall({ service: 'dynamodb', operation: 'ListTables', body: Buffer.from('{}') });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:ListTables', resource: '*' }]);
  });
});

describe('authorizationsOf: DynamoDB Streams', () => {
  it('authorizes DescribeStream on the stream', async () => {
    const call = await streams((client) => client.send(new DescribeStreamCommand({ StreamArn: STREAM })));

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:DescribeStream', resource: STREAM },
    ]);
  });

  it('authorizes GetShardIterator on the stream', async () => {
    const call = await streams((client) =>
      client.send(
        new GetShardIteratorCommand({
          StreamArn: STREAM,
          ShardId: 'shardId-1',
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:GetShardIterator', resource: STREAM },
    ]);
  });

  it('authorizes GetRecords on the stream its iterator names', async () => {
    // moto's iterator, like DynamoDB's: `<stream ARN>|1|<opaque>`.
    const call = await streams((client) =>
      client.send(new GetRecordsCommand({ ShardIterator: `${STREAM}|1|${'A'.repeat(40)}==` })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:GetRecords', resource: STREAM }]);
  });

  it('authorizes GetRecords with an iterator it cannot read on every resource', async () => {
    const call = await streams((client) =>
      client.send(new GetRecordsCommand({ ShardIterator: 'opaque-token' })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'dynamodb:GetRecords', resource: '*' }]);
  });

  it('authorizes ListStreams of a table on its streams', () => {
    const call = rawCall({
      service: 'dynamodb',
      operation: 'ListStreams',
      body: Buffer.from('{"TableName":"events"}'),
    });

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'dynamodb:ListStreams', resource: `${TABLE}/stream/*` },
    ]);
  });
});

describe('authorizationsOf: S3', () => {
  it('authorizes GetObject on the object, with its key URL-decoded', async () => {
    const call = await s3((client) =>
      client.send(new GetObjectCommand({ Bucket: 'data', Key: 'uploads/my file é+%.csv' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:GetObject', resource: 'arn:aws:s3:::data/uploads/my file é+%.csv' },
    ]);
  });

  it('authorizes GetObject of a version as GetObjectVersion', async () => {
    const call = await s3((client) =>
      client.send(new GetObjectCommand({ Bucket: 'data', Key: 'a.csv', VersionId: 'v1' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:GetObjectVersion', resource: 'arn:aws:s3:::data/a.csv' },
    ]);
  });

  it('authorizes HeadObject as GetObject', async () => {
    const call = await s3((client) =>
      client.send(new HeadObjectCommand({ Bucket: 'data', Key: 'archive/a.csv' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:GetObject', resource: 'arn:aws:s3:::data/archive/a.csv' },
    ]);
  });

  it('authorizes PutObject on the object', async () => {
    const call = await s3((client) =>
      client.send(new PutObjectCommand({ Bucket: 'data', Key: 'staging/chunk-1.json', Body: '{}' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::data/staging/chunk-1.json' },
    ]);
  });

  it.each<[string, Sender<S3Client>]>([
    [
      'CreateMultipartUpload',
      (client) => client.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key: 'rejected/r.csv' })),
    ],
    [
      'UploadPart',
      (client) =>
        client.send(
          new UploadPartCommand({
            Bucket: 'data',
            Key: 'rejected/r.csv',
            UploadId: 'u1',
            PartNumber: 1,
            Body: 'x',
          }),
        ),
    ],
    [
      'CompleteMultipartUpload',
      (client) =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'data',
            Key: 'rejected/r.csv',
            UploadId: 'u1',
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"e"' }] },
          }),
        ),
    ],
  ])('authorizes %s as PutObject on the object', async (_name, send) => {
    const call = await s3(send);

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::data/rejected/r.csv' },
    ]);
  });

  it('authorizes CopyObject as PutObject on the destination and GetObject on the decoded source', async () => {
    const call = await s3((client) =>
      client.send(
        new CopyObjectCommand({
          Bucket: 'data',
          Key: 'archive/a b.csv',
          CopySource: 'data/uploads/a%20b.csv',
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::data/archive/a b.csv' },
      { action: 's3:GetObject', resource: 'arn:aws:s3:::data/uploads/a b.csv' },
    ]);
  });

  it('authorizes a CopyObject of a source version as GetObjectVersion on the source', async () => {
    const call = await s3((client) =>
      client.send(
        new CopyObjectCommand({
          Bucket: 'data',
          Key: 'archive/a.csv',
          CopySource: '/data/uploads/a.csv?versionId=v3',
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::data/archive/a.csv' },
      { action: 's3:GetObjectVersion', resource: 'arn:aws:s3:::data/uploads/a.csv' },
    ]);
  });

  it('authorizes AbortMultipartUpload on the object', async () => {
    const call = await s3((client) =>
      client.send(new AbortMultipartUploadCommand({ Bucket: 'data', Key: 'rejected/r.csv', UploadId: 'u1' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:AbortMultipartUpload', resource: 'arn:aws:s3:::data/rejected/r.csv' },
    ]);
  });

  it('authorizes ListParts as ListMultipartUploadParts on the object', async () => {
    const call = await s3((client) =>
      client.send(new ListPartsCommand({ Bucket: 'data', Key: 'rejected/r.csv', UploadId: 'u1' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:ListMultipartUploadParts', resource: 'arn:aws:s3:::data/rejected/r.csv' },
    ]);
  });

  it('authorizes DeleteObject on the object', async () => {
    const call = await s3((client) =>
      client.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'uploads/a.csv' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::data/uploads/a.csv' },
    ]);
  });

  it('authorizes DeleteObject of a version as DeleteObjectVersion', async () => {
    const call = await s3((client) =>
      client.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'uploads/a.csv', VersionId: 'v1' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:DeleteObjectVersion', resource: 'arn:aws:s3:::data/uploads/a.csv' },
    ]);
  });

  it('authorizes DeleteObjects per key in its body, versions as DeleteObjectVersion', async () => {
    const call = await s3((client) =>
      client.send(
        new DeleteObjectsCommand({
          Bucket: 'data',
          Delete: { Objects: [{ Key: 'staging/a&b.json' }, { Key: 'staging/c.json', VersionId: 'v1' }] },
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::data/staging/a&b.json' },
      { action: 's3:DeleteObjectVersion', resource: 'arn:aws:s3:::data/staging/c.json' },
    ]);
  });

  it('authorizes DeleteObjects without its (streamed) body on every object of the bucket', async () => {
    const call = await s3((client) =>
      client.send(new DeleteObjectsCommand({ Bucket: 'data', Delete: { Objects: [{ Key: 'a' }] } })),
    );

    expect(authorizationsOf({ ...call, body: Buffer.alloc(0) }, context)).toEqual([
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::data/*' },
    ]);
  });

  it('authorizes ListObjectsV2 as ListBucket on the bucket', async () => {
    const call = await s3((client) =>
      client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: 'staging/' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::data' },
    ]);
  });

  it('authorizes GetObjectTagging on the object', async () => {
    const call = await s3((client) =>
      client.send(new GetObjectTaggingCommand({ Bucket: 'data', Key: 'a.csv' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:GetObjectTagging', resource: 'arn:aws:s3:::data/a.csv' },
    ]);
  });

  it('authorizes PutObjectTagging on the object, not as PutObject', async () => {
    const call = await s3((client) =>
      client.send(new PutObjectTaggingCommand({ Bucket: 'data', Key: 'a.csv', Tagging: { TagSet: [] } })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:PutObjectTagging', resource: 'arn:aws:s3:::data/a.csv' },
    ]);
  });

  it('authorizes GetBucketLocation on the bucket', async () => {
    const call = await s3((client) => client.send(new GetBucketLocationCommand({ Bucket: 'data' })));

    expect(authorizationsOf(call, context)).toEqual([
      { action: 's3:GetBucketLocation', resource: 'arn:aws:s3:::data' },
    ]);
  });
});

describe('authorizationsOf: SNS', () => {
  it('authorizes Publish (query protocol) on the topic', async () => {
    const call = await sns((client) => client.send(new PublishCommand({ TopicArn: TOPIC, Message: '{}' })));

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sns:Publish', resource: TOPIC }]);
  });

  it('authorizes PublishBatch as Publish on the topic', async () => {
    const call = await sns((client) =>
      client.send(
        new PublishBatchCommand({
          TopicArn: TOPIC,
          PublishBatchRequestEntries: [{ Id: '1', Message: '{}' }],
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sns:Publish', resource: TOPIC }]);
  });

  it('authorizes Publish sent with the JSON protocol on the topic', () => {
    const call = rawCall({
      service: 'sns',
      operation: 'Publish',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'SNS.Publish' },
      body: Buffer.from(JSON.stringify({ TopicArn: TOPIC, Message: '{}' })),
    });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sns:Publish', resource: TOPIC }]);
  });
});

describe('authorizationsOf: SQS', () => {
  it('authorizes SendMessage (JSON protocol) on the queue its URL names', async () => {
    const call = await sqs((client) =>
      client.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: 'x' })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sqs:SendMessage', resource: QUEUE }]);
  });

  it('authorizes SendMessage (query protocol) on the queue its URL names', () => {
    const body = new URLSearchParams({ Action: 'SendMessage', QueueUrl: QUEUE_URL, MessageBody: 'x' });
    const call = rawCall({ service: 'sqs', operation: 'SendMessage', body: Buffer.from(body.toString()) });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sqs:SendMessage', resource: QUEUE }]);
  });

  it('authorizes SendMessageBatch as SendMessage', async () => {
    const call = await sqs((client) =>
      client.send(
        new SendMessageBatchCommand({ QueueUrl: QUEUE_URL, Entries: [{ Id: '1', MessageBody: 'x' }] }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sqs:SendMessage', resource: QUEUE }]);
  });

  it('authorizes ReceiveMessage on the queue', async () => {
    const call = await sqs((client) =>
      client.send(new ReceiveMessageCommand({ QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10 })),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sqs:ReceiveMessage', resource: QUEUE }]);
  });

  it('authorizes DeleteMessageBatch as DeleteMessage', async () => {
    const call = await sqs((client) =>
      client.send(
        new DeleteMessageBatchCommand({ QueueUrl: QUEUE_URL, Entries: [{ Id: '1', ReceiptHandle: 'r' }] }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sqs:DeleteMessage', resource: QUEUE }]);
  });

  it('authorizes ChangeMessageVisibilityBatch as ChangeMessageVisibility', async () => {
    const call = await sqs((client) =>
      client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: QUEUE_URL,
          Entries: [{ Id: '1', ReceiptHandle: 'r', VisibilityTimeout: 0 }],
        }),
      ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'sqs:ChangeMessageVisibility', resource: QUEUE },
    ]);
  });

  it('authorizes GetQueueUrl on the queue it names, in the caller’s account', async () => {
    const call = await sqs((client) => client.send(new GetQueueUrlCommand({ QueueName: 'inference' })));

    expect(authorizationsOf(call, context)).toEqual([{ action: 'sqs:GetQueueUrl', resource: QUEUE }]);
  });
});

describe('authorizationsOf: other services', () => {
  it('authorizes StartExecution on the state machine', async () => {
    const call = await callOf(
      (config) => new SFNClient(config),
      (client) =>
        client.send(
          new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'run-1', input: '{}' }),
        ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'states:StartExecution', resource: STATE_MACHINE },
    ]);
  });

  it('authorizes DescribeExecution on the execution', async () => {
    const call = await callOf(
      (config) => new SFNClient(config),
      (client) => client.send(new DescribeExecutionCommand({ executionArn: EXECUTION })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'states:DescribeExecution', resource: EXECUTION },
    ]);
  });

  it('authorizes PutEvents on each entry’s bus, the default bus when none is named', async () => {
    const call = await callOf(
      (config) => new EventBridgeClient(config),
      (client) =>
        client.send(
          new PutEventsCommand({
            Entries: [
              { Source: 'app', DetailType: 'a', Detail: '{}' },
              { Source: 'app', DetailType: 'b', Detail: '{}', EventBusName: 'custom' },
              { Source: 'app', DetailType: 'c', Detail: '{}' },
            ],
          }),
        ),
    );

    expect(authorizationsOf(call, context)).toEqual([
      { action: 'events:PutEvents', resource: 'arn:aws:events:us-east-1:123456789012:event-bus/default' },
      { action: 'events:PutEvents', resource: 'arn:aws:events:us-east-1:123456789012:event-bus/custom' },
    ]);
  });

  it('authorizes Lambda Invoke as InvokeFunction on the function', async () => {
    const call = await callOf(
      (config) => new LambdaClient(config),
      (client) => client.send(new InvokeCommand({ FunctionName: 'validate-data' })),
    );

    expect(authorizationsOf(call, context)).toEqual([
      {
        action: 'lambda:InvokeFunction',
        resource: 'arn:aws:lambda:us-east-1:123456789012:function:validate-data',
      },
    ]);
  });

  it('authorizes CloudWatch PutMetricData (SigV4 name monitoring) on every resource', () => {
    const body = new URLSearchParams({
      Action: 'PutMetricData',
      Version: '2010-08-01',
      Namespace: 'CsvAnalytics',
    });
    const call = rawCall({
      service: 'monitoring',
      operation: 'PutMetricData',
      body: Buffer.from(body.toString()),
    });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'cloudwatch:PutMetricData', resource: '*' }]);
  });

  it('authorizes X-Ray PutTraceSegments, told by its REST path, on every resource', () => {
    const call = rawCall({
      service: 'xray',
      operation: 'unknown',
      url: new URL('http://127.0.0.1:4566/TraceSegments'),
      body: Buffer.from('{"TraceSegmentDocuments":["{}"]}'),
    });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'xray:PutTraceSegments', resource: '*' }]);
  });

  it('authorizes PutLogEvents on the log stream', () => {
    const call = rawCall({
      service: 'logs',
      operation: 'PutLogEvents',
      body: Buffer.from(
        JSON.stringify({ logGroupName: '/aws/lambda/fn', logStreamName: 's1', logEvents: [] }),
      ),
    });

    expect(authorizationsOf(call, context)).toEqual([
      {
        action: 'logs:PutLogEvents',
        resource: 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:log-stream:s1',
      },
    ]);
  });

  it('authorizes an operation of an unknown service as <service>:<Operation> on every resource', () => {
    const call = rawCall({ service: 'kms', operation: 'Decrypt', body: Buffer.from('{}') });

    expect(authorizationsOf(call, context)).toEqual([{ action: 'kms:Decrypt', resource: '*' }]);
  });
});
