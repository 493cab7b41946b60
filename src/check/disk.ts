// Can this user write where the component writes: the Maildir root and the state dir?
import { constants } from "node:fs";
import { access, open, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { RunConfig } from "../config/index.js";
import { templateRoot } from "../maildir/index.js";
import type { CheckResult } from "./types.js";

function whoami(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "?"}`;
  }
}

/** Writes, fsyncs and removes a probe file, exactly the operations delivery needs. */
async function probeWrite(dir: string): Promise<void> {
  const probe = path.join(dir, `.xmpp-maildir-check-${process.pid}`);
  const file = await open(probe, "wx", 0o600);
  try {
    await file.writeFile("probe\n");
    await file.sync();
  } finally {
    await file.close();
    await rm(probe, { force: true });
  }
}

export async function checkMaildirRoot(template: string): Promise<CheckResult> {
  const root = templateRoot(template);
  const user = whoami();
  try {
    if (!(await stat(root)).isDirectory()) {
      return { name: "maildir", status: "fail", detail: `${root} is not a directory`, fix: `remove it and create the directory: install -d -o ${user} -m 700 ${root}` };
    }
    await probeWrite(root);
    return { name: "maildir", status: "ok", detail: `${root} is writable by ${user}` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    if (code === "ENOENT") return { name: "maildir", status: "fail", detail: `${root} does not exist`, fix: `install -d -o ${user} -m 700 ${root}` };
    return { name: "maildir", status: "fail", detail: `${user} cannot write to ${root} (${code})`, fix: `chown ${user} ${root}, or run as the user that owns it (the user Dovecot reads mail as)` };
  }
}

export async function checkStateDir(config: RunConfig): Promise<CheckResult> {
  const dir = config.stateDir;
  try {
    // `run` creates the state dir; a check only looks, so test the nearest existing directory.
    const exists = await stat(dir).then(() => true, () => false);
    const target = exists ? dir : path.dirname(dir);
    await access(target, constants.W_OK);
    await probeWrite(target);
    return { name: "state", status: "ok", detail: exists ? `${dir} is writable` : `${dir} can be created` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return { name: "state", status: "fail", detail: `cannot write the dedupe journal in ${dir} (${code})`, fix: `install -d -o ${whoami()} -m 700 ${dir}, or set --state-dir` };
  }
}

/** Files written as root are unreadable for Dovecot, which refuses uid 0 for mail access. */
export function checkUser(): CheckResult {
  if (process.getuid?.() === 0) {
    return { name: "user", status: "warn", detail: "running as root: mail would be owned by root, which Dovecot cannot read", fix: "run as the mail user, e.g. sudo -u vmail xmpp-maildir ..." };
  }
  return { name: "user", status: "ok", detail: `running as ${whoami()}` };
}
