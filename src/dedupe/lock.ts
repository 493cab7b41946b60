// One process per state dir. The journal's index lives in the memory of the process that owns
// it, and that process rotates and deletes segment files on its own: a second instance sharing
// the directory would neither see the first one's copies nor keep its segments intact.
import { readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../errors.js";

export interface StateLock {
  release(): Promise<void>;
}

export async function lockStateDir(dir: string): Promise<StateLock> {
  const file = path.join(dir, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return { release: () => unlink(file).catch(() => undefined) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (pid && pid !== process.pid && (await isOurs(pid))) {
      throw new ConfigError("state-dir", `${dir} is in use by xmpp-maildir process ${pid}; give each instance its own --state-dir`);
    }
    // Left behind by a process that is gone (a crash, a reboot): take it over.
    await unlink(file).catch(() => undefined);
  }
  throw new ConfigError("state-dir", `cannot take the lock in ${dir}; remove ${file} if no xmpp-maildir runs`);
}

/** Is `pid` alive and an xmpp-maildir process (not an unrelated one that reused the pid)? */
async function isOurs(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  // Without /proc we cannot tell; assume it is ours rather than risk two writers.
  return cmdline === undefined || /xmpp-maildir|cli\/main\.js/.test(cmdline);
}
