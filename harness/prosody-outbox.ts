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

/** Parses the log's bytes; stops at the first record that is not whole and correct. */
export function parseOutboxLog(data: Buffer): OutboxLog {
  const live = new Map<string, true>();
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
    if (header[1] === "+") {
      const id = /^(\S+) \d+ /.exec(text)?.[1];
      if (id === undefined) break;
      live.set(id, true);
    } else {
      // One confirmation per id, or (modules since 2026-12-02) every id of one event-loop turn.
      for (const id of text.split(" ")) live.delete(id);
    }
    pos = eol + 2 + len;
  }
  return { live: [...live.keys()], goodBytes: pos, tornBytes: data.length - pos };
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
