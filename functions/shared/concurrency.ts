/**
 * Runs `task` over `items` with at most `limit` calls in flight and returns the results in input order.
 * A rejected task rejects the whole call (as Promise.all does); tasks that must not fail their siblings
 * catch their own errors and return them as values.
 */
export const mapWithConcurrency = async <T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> => {
  const results = new Array<R>(items.length);
  // One iterator shared by every worker: each pulls the next unclaimed item.
  const pending = items.entries();
  const worker = async (): Promise<void> => {
    for (const [index, item] of pending) results[index] = await task(item, index);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
};
