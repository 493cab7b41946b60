/**
 * Poll a check until it yields a value, without ever sleeping a fixed time
 * for a server: each attempt asks the real thing, and the interval only
 * spaces out the questions.
 */
import { setTimeout as delay } from "node:timers/promises";

export interface PollOptions {
  /** Give up after this long and throw an error built from `describe()`. */
  timeoutMs: number;
  /** Pause between two attempts. */
  intervalMs: number;
  /** Stop early (e.g. the server process exited); rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** What we were waiting for, and what we saw last: goes into the timeout error. */
  describe: () => string;
}

/**
 * Calls `check` until it returns something other than `undefined`, then
 * returns that. A `check` that throws ends the wait with its error, so a
 * check that can fail transiently must catch and return `undefined`.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  opts: PollOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined) return value;
    opts.signal?.throwIfAborted();
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms: ${opts.describe()}`);
    }
    try {
      await delay(opts.intervalMs, undefined, opts.signal ? { signal: opts.signal } : {});
    } catch {
      // Aborted while waiting: report the signal's reason, not an AbortError.
      opts.signal?.throwIfAborted();
    }
  }
}
