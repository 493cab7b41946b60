/**
 * The Unix user that owns test Maildirs and that Dovecot runs mail
 * processes as.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";

export interface MailUser {
  uid: number;
  gid: number;
  name: string;
}

/** Unprivileged account used when the tests run as root. */
const ROOT_FALLBACK_USER = "nobody";

/**
 * Dovecot refuses uid 0 as a mail user (first_valid_uid), so under root we
 * use `nobody`, looked up through NSS because its uid differs between
 * systems. Otherwise the current user owns the mail.
 */
export function mailUser(): MailUser {
  if (process.getuid?.() !== 0) {
    const me = os.userInfo();
    return { uid: me.uid, gid: me.gid, name: me.username };
  }
  // getent passwd: name:password:uid:gid:gecos:home:shell
  const line = execFileSync("getent", ["passwd", ROOT_FALLBACK_USER], { encoding: "utf8" }).trim();
  const [name, , uid, gid] = line.split(":");
  const entry = { uid: Number(uid), gid: Number(gid), name: name ?? "" };
  if (!Number.isInteger(entry.uid) || !Number.isInteger(entry.gid) || entry.name === "") {
    throw new Error(`cannot parse passwd entry for ${ROOT_FALLBACK_USER}: ${line}`);
  }
  return entry;
}
