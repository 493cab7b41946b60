/**
 * Reading mod_xmpp_maildir's outbox on disk, as Prosody would at start: the append-only log
 * (DATA/<host>/xmpp_maildir_outbox.log, the default) and the storage API's internal driver
 * (DATA/<host>/xmpp_maildir_outbox/<id>.dat, one file per copy). The record format is described
 * in server/prosody/mod_xmpp_maildir.lua; this reader is a second, independent implementation of
 * it, so a test that counts the outbox this way also checks what the module writes.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

export interface OutboxLog {
  /** Ids of the unconfirmed copies, in the order they were written. */
  live: string[];
  /** Bytes of whole records from the start of the file. */
  goodBytes: number;
  /** Bytes after them that do not form a whole, checksummed record (a torn tail). */
  tornBytes: number;
}

/** One whole, checksummed record of the log: "+" a copy written, "-" confirmations. */
export interface OutboxRecord {
  readonly kind: "+" | "-";
  /** "+": "<id> <seq> <copy>"; "-": "<id>" or, from modules since 2026-12-02, "<id> <id> ..." (one event-loop turn). */
  readonly text: string;
}

/** Walks the log's whole records; `end` is where they stop (a torn tail, if any, follows it). */
function walkRecords(data: Buffer): { records: OutboxRecord[]; end: number } {
  const records: OutboxRecord[] = [];
  let pos = 0;
  while (pos < data.length) {
    const eol = data.indexOf(0x0a, pos);
    if (eol < 0) break;
    const header = /^([+-]) (\d+) ([0-9a-f]+)$/.exec(data.subarray(pos, eol).toString("latin1"));
    if (!header) break;
    const len = Number(header[2]);
    const payload = data.subarray(eol + 1, eol + 1 + len);
    if (payload.length !== len || data[eol + 1 + len] !== 0x0a) break;
    if (createHash("sha1").update(payload).digest("hex") !== header[3]) break;
    const text = payload.toString("utf8");
    if (header[1] === "+" && !/^\S+ \d+ /.test(text)) break;
    records.push({ kind: header[1] as "+" | "-", text });
    pos = eol + 2 + len;
  }
  return { records, end: pos };
}

/** Parses the log's bytes; stops at the first record that is not whole and correct. */
export function parseOutboxLog(data: Buffer): OutboxLog {
  const live = new Map<string, true>();
  const { records, end } = walkRecords(data);
  for (const { kind, text } of records) {
    if (kind === "+") live.set(text.slice(0, text.indexOf(" ")), true);
    else for (const id of text.split(" ")) live.delete(id);
  }
  return { live: [...live.keys()], goodBytes: end, tornBytes: data.length - end };
}

/** The ids of every "-" record that confirms more than one copy (the form modules before 2026-12-02 do not know). */
export function groupedConfirmations(data: Buffer): string[][] {
  return walkRecords(data).records.filter((r) => r.kind === "-" && r.text.includes(" ")).map((r) => r.text.split(" "));
}

const listDir = (dir: string) => readdir(dir).catch(() => [] as string[]);

/** Ids of every unconfirmed copy in a Prosody data directory, over all hosts and both outbox kinds. */
export async function outboxCopies(dataDir: string): Promise<string[]> {
  const ids: string[] = [];
  for (const host of await listDir(dataDir)) {
    const log = await readFile(path.join(dataDir, host, "xmpp_maildir_outbox.log")).catch(() => undefined);
    if (log) ids.push(...parseOutboxLog(log).live);
    const files = await listDir(path.join(dataDir, host, "xmpp_maildir_outbox"));
    ids.push(...files.filter((f) => f.endsWith(".dat")).map((f) => decodeURIComponent(f.slice(0, -".dat".length))));
  }
  return ids;
}
