// The mail of one INBOX that may still be news: everything in new/, and what an IMAP client has
// moved to cur/ lately. A client idling on INBOX (phones, desktop clients) makes Dovecot move new
// mail from new/ to cur/ within about half a second, still unread (maildir-sync.c: a session that
// has the mailbox selected takes new/ files in at its next sync), so a mail gone from new/ is not
// a mail read. It is found by its unique name, the part before the info ":2," (Maildir spec,
// "info"), which no rename changes; its flags are the letters after ":2," (S is \Seen).
import { readdir, stat } from "node:fs/promises";
import path from "node:path";

/**
 * How far back cur/ is looked at. Whatever the trigger, a scan follows a delivery by well under a
 * second, so an hour covers a component that was slow or restarted; older mail in cur/ is never
 * news, and the handled list stays as small as an hour of mail.
 */
export const CUR_WINDOW_MS = 60 * 60 * 1000;

export interface InboxFile {
  /** The unique name, without the info. */
  readonly base: string;
  /** "new" or "cur". */
  readonly dir: "new" | "cur";
  /** The file name in that directory. */
  readonly name: string;
  /** The flag letters of the info (usually empty in new/). */
  readonly flags: string;
}

/** The unique name and the flags of a file name in new/ or cur/. */
export function splitName(name: string): { base: string; flags: string } {
  const at = name.indexOf(":2,");
  return at === -1 ? { base: name, flags: "" } : { base: name.slice(0, at), flags: name.slice(at + 3) };
}

/**
 * Delivery time of a file in seconds: the Maildir spec's unique names start with it (Dovecot:
 * "<secs>.M<usecs>P<pid>.<host>"), which saves a stat per file; other names fall back to the
 * mtime, which Dovecot keeps as the message's INTERNALDATE and never changes on a rename.
 */
async function deliveredAt(dir: string, name: string): Promise<number | undefined> {
  const lead = /^(\d{9,11})\./.exec(name);
  if (lead) return Number(lead[1]);
  try {
    return Math.floor((await stat(path.join(dir, name))).mtimeMs / 1000);
  } catch {
    return undefined;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith(".")).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * new/ first, then cur/: a file renamed between the two listings is then seen twice (kept once,
 * as in cur/), never missed. cur/ files delivered before `sinceMs` are left out.
 */
export async function listInbox(maildir: string, sinceMs: number): Promise<InboxFile[]> {
  const byBase = new Map<string, InboxFile>();
  for (const name of await list(path.join(maildir, "new"))) {
    // A name in new/ has no info by the spec, but some MDAs deliver ":2,S" there: honour it.
    const { base, flags } = splitName(name);
    byBase.set(base, { base, dir: "new", name, flags });
  }
  const curDir = path.join(maildir, "cur");
  const since = Math.floor(sinceMs / 1000);
  for (const name of await list(curDir)) {
    const { base, flags } = splitName(name);
    if (!byBase.has(base)) {
      const at = await deliveredAt(curDir, name);
      if (at === undefined || at < since) continue;
    }
    byBase.set(base, { base, dir: "cur", name, flags });
  }
  return [...byBase.values()];
}

/** Where the mail `base` is now (after a rename by Dovecot), or undefined when it is gone. */
export async function findInbox(maildir: string, base: string): Promise<InboxFile | undefined> {
  for (const dir of ["new", "cur"] as const) {
    const name = (await list(path.join(maildir, dir))).find((n) => splitName(n).base === base);
    if (name) return { base, dir, name, flags: splitName(name).flags };
  }
  return undefined;
}
