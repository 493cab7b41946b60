// Per-user limits on mail sent from XMPP (--smtp-max-per-minute, --smtp-max-per-day), so that a
// stolen or scripted XMPP account cannot use the component as a spam cannon, and the server's
// mail reputation survives a bad day. Sliding windows: a send counts for exactly a minute and a
// day after it was handed to the smarthost. Every mail handed over counts, refused by the
// smarthost or not (a spammer's mail to made-up addresses is refused too).
//
// The counts live in the state dir (one small JSON file, replaced atomically, synced before the
// mail goes out), so a restart does not hand out a fresh allowance.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { RefusedError } from "../../errors.js";
import { writeStateFile } from "../state-file.js";

export const LIMITS_FILE = "smtp-limits.json";
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

export interface SendLimits {
  readonly perMinute: number;
  readonly perDay: number;
}

/** Which limit refused a mail; also the metric's label. */
export type LimitName = "per-minute" | "per-day";

export class LimitError extends RefusedError {
  constructor(
    readonly limit: LimitName,
    message: string,
  ) {
    // RFC 6120 §8.3.3.12: the entity "has violated some local service policy".
    super(message, { type: "wait", condition: "policy-violation" });
  }
}

export interface SendCounter {
  /**
   * Counts one mail for `user` and saves the count, or throws LimitError (over a limit: nothing
   * counted) or StorageError (the count could not be saved: the mail must not go).
   */
  take(user: string, now?: number): Promise<void>;
}

export async function openSendCounter(stateDir: string, limits: SendLimits): Promise<SendCounter> {
  const file = path.join(stateDir, LIMITS_FILE);
  let sends = new Map<string, number[]>();
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    for (const [user, times] of Object.entries(parsed)) {
      if (Array.isArray(times)) sends.set(user, times.filter((t): t is number => typeof t === "number"));
    }
  } catch (err) {
    // A torn file: start empty rather than refuse to run; the next send writes a whole one.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") sends = new Map();
  }
  // One save at a time, in order: two users' sends never interleave their writes.
  let saving: Promise<void> = Promise.resolve();

  async function save(): Promise<void> {
    const data: Record<string, number[]> = {};
    for (const [user, times] of sends) if (times.length > 0) data[user] = times;
    await writeStateFile(stateDir, file, data);
  }

  const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

  return {
    async take(user, now = Date.now()) {
      const times = (sends.get(user) ?? []).filter((t) => t > now - DAY_MS);
      sends.set(user, times);
      const lastMinute = times.filter((t) => t > now - MINUTE_MS);
      // The day first: when both apply, waiting for the minute would not help.
      if (times.length >= limits.perDay) {
        throw new LimitError("per-day", `over the limit of ${limits.perDay} mails per day (smtp-max-per-day); the next can go at ${at(times[times.length - limits.perDay]! + DAY_MS)}`);
      }
      if (lastMinute.length >= limits.perMinute) {
        throw new LimitError("per-minute", `over the limit of ${limits.perMinute} mails per minute (smtp-max-per-minute); the next can go at ${at(lastMinute[lastMinute.length - limits.perMinute]! + MINUTE_MS)}`);
      }
      times.push(now);
      const saved = saving.then(save);
      saving = saved.catch(() => undefined);
      try {
        await saved;
      } catch (err) {
        // Not saved, so not sent: take the count back, the user may try again.
        times.splice(times.indexOf(now), 1);
        throw err;
      }
    },
  };
}
