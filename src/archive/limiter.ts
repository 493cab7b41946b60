// Bounds the work in flight. Stanzas beyond `maxActive` wait in a queue; beyond `maxQueued` they
// are turned away at once (the caller answers `wait`), so a slow disk can never make memory grow
// with the backlog: the backlog stays in the server module's durable outbox instead.
import { RefusedError } from "../errors.js";

export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Resolves when nothing is active or queued. */
  idle(): Promise<void>;
  readonly active: number;
  readonly queued: number;
}

export interface LimiterOptions {
  readonly maxActive: number;
  readonly maxQueued: number;
  /** Told the counts after every change (the in-flight gauge of src/metrics). */
  readonly onChange?: (state: { active: number; queued: number }) => void;
}

export function createLimiter(options: LimiterOptions): Limiter {
  let active = 0;
  const queue: Array<() => void> = [];
  let idleWaiters: Array<() => void> = [];
  const changed = () => options.onChange?.({ active, queued: queue.length });

  const release = () => {
    active -= 1;
    const next = queue.shift();
    if (next) {
      active += 1;
      next();
    } else if (active === 0) {
      for (const wake of idleWaiters) wake();
      idleWaiters = [];
    }
    changed();
  };

  return {
    async run(task) {
      if (active >= options.maxActive) {
        if (queue.length >= options.maxQueued) {
          throw new RefusedError("too many messages in flight; try again shortly", { type: "wait", condition: "resource-constraint" });
        }
        const slot = new Promise<void>((resolve) => queue.push(resolve));
        changed();
        await slot;
      } else {
        active += 1;
        changed();
      }
      try {
        return await task();
      } finally {
        release();
      }
    },
    idle() {
      if (active === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    get active() {
      return active;
    },
    get queued() {
      return queue.length;
    },
  };
}
