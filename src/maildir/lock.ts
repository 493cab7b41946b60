// Dovecot's dot-locks (src/lib/file-dotlock.c): a lock is the file "<name>.lock", created
// exclusively, removed when done; one older than Dovecot's stale timeout is taken over. We take
// the same locks Dovecot takes before changing the files it also changes (subscriptions;
// dovecot-keywords, which Dovecot writes only while holding dovecot-uidlist.lock), so neither side
// loses the other's update.
import { open, stat, unlink } from "node:fs/promises";
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { StorageError } from "../errors.js";

/** Dovecot's own stale timeouts for these locks are 2 minutes (KEYWORDS_LOCK_STALE_TIMEOUT et al.). */
const STALE_MS = 120_000;
/** Dovecot holds these locks for milliseconds; a lock still held after this is an outage. */
const TIMEOUT_MS = 30_000;
const RETRY_MIN_MS = 5;
const RETRY_MAX_MS = 200;

/** Reported as EAGAIN, which is transient: the sender keeps the message and retries. */
function lockTimeout(lockPath: string): StorageError {
  return new StorageError(lockPath, new Error(`timed out waiting for ${lockPath}`), { reason: "EAGAIN" });
}

export async function withDovecotLock<T>(lockPath: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  let delay = RETRY_MIN_MS;
  for (;;) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      // What Dovecot writes for a plain lock: pid and host, for whoever looks.
      await handle.writeFile(`${process.pid}:${os.hostname()}`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const age = await stat(lockPath).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > STALE_MS) {
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw lockTimeout(lockPath);
    await sleep(delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}
