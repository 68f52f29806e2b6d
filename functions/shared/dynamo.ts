import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ddb } from './clients.ts';
import { mapWithConcurrency } from './concurrency.ts';
import { UnprocessedItemsError } from './errors.ts';

export type Item = Record<string, unknown>;
type WriteRequest = { PutRequest: { Item: Item } };

export interface BatchWriteOptions {
  /** BatchWriteItem calls in flight at once. */
  concurrency: number;
  /** Attempts per batch of 25 before giving up with UnprocessedItemsError. */
  maxAttempts: number;
  baseDelayMs: number;
  sleep?: (ms: number) => Promise<void>;
}

const BATCH_SIZE = 25; // BatchWriteItem's limit
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Puts every item in batches of 25, resubmitting UnprocessedItems with capped exponential backoff and full
 * jitter (the SDK retries throttled calls, but not the partial success BatchWriteItem reports as
 * UnprocessedItems). Puts of deterministic keys make the whole call safe to repeat.
 */
export const batchPutAll = async (
  table: string,
  items: Item[],
  options: BatchWriteOptions,
): Promise<void> => {
  const sleep = options.sleep ?? defaultSleep;
  const batches: WriteRequest[][] = [];
  for (let i = 0; i < items.length; i += BATCH_SIZE) {
    batches.push(items.slice(i, i + BATCH_SIZE).map((Item) => ({ PutRequest: { Item } })));
  }

  const writeBatch = async (batch: WriteRequest[]): Promise<void> => {
    let pending = batch;
    for (let attempt = 1; ; attempt += 1) {
      const response = await ddb.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      const unprocessed = (response.UnprocessedItems?.[table] ?? []) as WriteRequest[];
      if (unprocessed.length === 0) return;
      if (attempt >= options.maxAttempts) {
        throw new UnprocessedItemsError(
          `${unprocessed.length} item(s) still unprocessed after ${attempt} BatchWriteItem attempts`,
        );
      }
      pending = unprocessed;
      const cap = options.baseDelayMs * 2 ** (attempt - 1);
      await sleep(Math.random() * cap);
    }
  };

  await mapWithConcurrency(batches, options.concurrency, writeBatch);
};
