/**
 * Per-test temporary directories.
 */
import { mkdtemp, chmod, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** Set to 1 to keep test directories (configs, logs, Maildirs) for debugging. */
const KEEP_ENV = "XMPP_MAILDIR_KEEP_TMP";

/**
 * Creates a fresh directory under os.tmpdir(). Mode 0755 because Dovecot's
 * unprivileged processes (dovenull, dovecot, the mail user) must traverse it
 * to reach their sockets and Maildirs; mkdtemp alone gives 0700.
 */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** Removes a directory tree, unless XMPP_MAILDIR_KEEP_TMP=1 asks to keep it. */
export async function removeDir(dir: string): Promise<void> {
  if (process.env[KEEP_ENV] === "1") {
    console.log(`[harness] keeping ${dir} (${KEEP_ENV}=1)`);
    return;
  }
  await rm(dir, { recursive: true, force: true });
}
