// What bench/e2e.ts checks on disk after each run, so a rate is never reported for messages that
// were lost or stored twice: every token in exactly one mail in its recipient's Maildir, Prosody's
// own offline storage untouched by our module, and no copy left unconfirmed in the module's outbox.
import { open, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { outboxCopies } from "../harness/prosody-outbox.js";
import { mapLimit } from "../src/replay/limit.js";

/** The Subject header sits in the first few hundred bytes of the mails we render. */
const HEAD_BYTES = 4096;
/** Files are small; enough in flight to hide the disk's latency without a storm of open files. */
const READ_CONCURRENCY = 32;

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

async function subjectOf(file: string): Promise<string> {
  const handle = await open(file, "r");
  try {
    const { buffer, bytesRead } = await handle.read({ buffer: Buffer.alloc(HEAD_BYTES), position: 0 });
    const head = buffer.subarray(0, bytesRead).toString("utf8");
    // The component takes the subject from the body's first line; ours is a short ASCII token,
    // so it is neither folded nor RFC 2047 encoded.
    return /^Subject: (.*)\r?$/m.exec(head)?.[1] ?? "";
  } finally {
    await handle.close();
  }
}

/** The Subject of every mail in each user's INBOX (new/ and cur/). */
export async function storedSubjects(maildirOf: (user: string) => string, users: readonly string[]): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>();
  for (const user of users) {
    const root = maildirOf(user);
    const files = [
      ...(await listDir(path.join(root, "new"))).map((f) => path.join(root, "new", f)),
      ...(await listDir(path.join(root, "cur"))).map((f) => path.join(root, "cur", f)),
    ];
    seen.set(user, await mapLimit(files, READ_CONCURRENCY, subjectOf));
  }
  return seen;
}

/** Problems, one line each; empty when every expected token is there exactly once and nothing else. */
export function exactlyOnce(expected: ReadonlyMap<string, readonly string[]>, seen: ReadonlyMap<string, readonly string[]>): string[] {
  const problems: string[] = [];
  for (const [user, tokens] of expected) {
    const counts = new Map<string, number>();
    for (const s of seen.get(user) ?? []) counts.set(s, (counts.get(s) ?? 0) + 1);
    const missing = tokens.filter((t) => !counts.has(t));
    const twice = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
    const wanted = new Set(tokens);
    const extra = [...counts.keys()].filter((t) => !wanted.has(t));
    if (missing.length > 0) problems.push(`${user}: ${missing.length} of ${tokens.length} missing (${missing.slice(0, 3).join(", ")})`);
    if (twice.length > 0) problems.push(`${user}: ${twice.length} stored more than once (${twice.slice(0, 3).join(", ")})`);
    if (extra.length > 0) problems.push(`${user}: ${extra.length} not sent by this run (${extra.slice(0, 3).join(", ")})`);
  }
  return problems;
}

/** Prosody's per-host store directories (data/<host, %-encoded>/<store>) with this name. */
async function storeDirs(dataDir: string, store: string): Promise<string[]> {
  const hosts = await listDir(dataDir);
  const dirs: string[] = [];
  for (const host of hosts) {
    if ((await listDir(path.join(dataDir, host))).includes(store)) dirs.push(path.join(dataDir, host, store));
  }
  return dirs;
}

/** Copies still in the module's durable outbox (not yet confirmed by the component). */
export async function outboxSize(dataDir: string): Promise<number> {
  return (await outboxCopies(dataDir)).length;
}

/** Messages in mod_offline's store (one `item(` line each in the internal storage's .list files). */
export async function offlineCount(dataDir: string): Promise<number> {
  let n = 0;
  for (const dir of await storeDirs(dataDir, "offline")) {
    for (const file of (await listDir(dir)).filter((f) => f.endsWith(".list"))) {
      n += (await readFile(path.join(dir, file), "utf8")).split("\n").filter((line) => line.startsWith("item(")).length;
    }
  }
  return n;
}
