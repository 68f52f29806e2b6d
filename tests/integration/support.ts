import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { item } from '../../local/ledger.ts';
import { type OfflineOptions, OfflinePipeline } from '../../local/pipeline.ts';

// The reads the Ledger makes live beside it in local/ledger.ts (the fault soak in bench/ uses them too).
export { dailyAggregates, eventItems, item, subscribeQueue, take } from '../../local/ledger.ts';

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The whole offline pipeline, quiet, on its own emulator; stop it in afterAll. */
export const startPipeline = (options: Partial<OfflineOptions> = {}): Promise<OfflinePipeline> =>
  OfflinePipeline.start({ root: projectRoot, stackName: 'it', ...options });

/** A CSV with a header and the given rows, each a record of column → value. */
export const csv = (header: string[], rows: (string | number)[][]): string =>
  `${[header.join(','), ...rows.map((row) => row.join(','))].join('\n')}\n`;

/** n rows for one user, values 1..n, one per minute from a fixed instant. */
export const userRows = (userId: string, n: number, eventType = 'click'): (string | number)[][] =>
  Array.from({ length: n }, (_, i) => [
    userId,
    eventType,
    i + 1,
    new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString(),
  ]);

export const HEADER = ['user_id', 'event_type', 'value', 'timestamp'];

/** The upload key a workflow task's input names (the file the workflow carries as $.file), for fault predicates. */
export const taskFileKey = (input: unknown): string | undefined =>
  (input as { file?: { key?: string } }).file?.key;

export const uploadAndWait = async (
  pipeline: OfflinePipeline,
  key: string,
  body: Uint8Array | string,
  timeoutMs = 120_000,
) => {
  const upload = await pipeline.upload(key, { key, body });
  const execution = await pipeline.waitForExecution(upload.executionName, timeoutMs);
  return { upload, execution };
};

export const fileMetadata = (pipeline: OfflinePipeline, key: string) =>
  item(pipeline, `FILE#${key}`, 'METADATA');

export const objectExists = async (pipeline: OfflinePipeline, key: string): Promise<boolean> =>
  pipeline.clients.s3
    .send(new HeadObjectCommand({ Bucket: pipeline.bucket, Key: key }))
    .then(() => true)
    .catch(() => false);

export const objectText = async (pipeline: OfflinePipeline, key: string): Promise<string> => {
  const object = await pipeline.clients.s3.send(new GetObjectCommand({ Bucket: pipeline.bucket, Key: key }));
  const bytes = await object.Body?.transformToByteArray();
  const buffer = Buffer.from(bytes ?? []);
  return (key.endsWith('.gz') ? gunzipSync(buffer) : buffer).toString('utf8');
};

export const listKeys = async (pipeline: OfflinePipeline, prefix: string): Promise<string[]> => {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await pipeline.clients.s3.send(
      new ListObjectsV2Command({ Bucket: pipeline.bucket, Prefix: prefix, ContinuationToken }),
    );
    keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken);
  return keys;
};

/** Receives (and leaves) every message currently in a queue. */
export const drain = async (pipeline: OfflinePipeline, queueUrl: string): Promise<Message[]> => {
  const seen = new Map<string, Message>();
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await pipeline.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    const fresh = Messages.filter((message) => !seen.has(String(message.MessageId)));
    for (const message of fresh) seen.set(String(message.MessageId), message);
    empty = fresh.length === 0 ? empty + 1 : 0;
  }
  return [...seen.values()];
};

export const queueDepth = async (pipeline: OfflinePipeline, queueLogicalId: string): Promise<number> => {
  const { Attributes } = await pipeline.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: pipeline.provisioned.ref(queueLogicalId),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
};

export const api = async (pipeline: OfflinePipeline, path: string) => {
  const response = await fetch(`${pipeline.apiUrl}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
