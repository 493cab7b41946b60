// --rate N: at most N deliveries per second, spaced evenly from the start of the run (so a slow
// delivery is not followed by a burst beyond the average, and no drift accumulates).
import { setTimeout as sleep } from "node:timers/promises";

export interface Pacer {
  wait(signal?: AbortSignal): Promise<void>;
}

export function createPacer(rate: number | undefined, now: () => number = () => performance.now()): Pacer {
  if (!rate) return { wait: async () => undefined };
  const interval = 1000 / rate;
  let start: number | undefined;
  let count = 0;
  return {
    async wait(signal) {
      start ??= now();
      const due = start + count * interval;
      count += 1;
      const delay = due - now();
      if (delay > 0) await sleep(delay, undefined, signal ? { signal } : {}).catch(() => undefined);
    },
  };
}
