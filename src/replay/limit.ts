// Bounded concurrency for I/O over many small files: over a list, keeping results in input order;
// over a stream of items (a directory being read), keeping nothing.

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Runs `fn` on every item of `items` as it arrives, at most `limit` at a time. */
export async function forEachLimit<T>(items: AsyncIterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  // Several workers may wait on next() at once: an async generator queues them in order.
  async function worker(): Promise<void> {
    for (let item = await iterator.next(); !item.done; item = await iterator.next()) await fn(item.value);
  }
  await Promise.all(Array.from({ length: limit }, worker));
}
