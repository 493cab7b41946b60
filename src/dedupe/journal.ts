// The dedupe journal: which copy ids are already in a Maildir, kept on disk so that a copy the
// server module sends again (after a lost confirmation, a timeout, or our own restart) is
// stored once.
//
// Crash safety comes from the order of writes. For each copy:
//   1. the mail is complete and fsynced in tmp/;
//   2. "P <key> <final path>" is appended to the journal and fsynced (group commit);
//   3. the mail is renamed into new/ (and new/ fsynced), then "C <key>" is appended (not synced);
//   4. the copy is confirmed.
// A crash before 2 leaves no trace: the copy is stored when it comes again. A crash between 2
// and 3 leaves a P entry without a file: lookup() checks for the file, finds none, and the copy
// is stored when it comes again. A crash after 3 leaves a P entry and the file: lookup() finds
// the file (in new/, or in cur/ where Dovecot moves it, or where a flagged mail is delivered) and
// the copy is not stored twice.
//
// Over LMTP (--deliver lmtp://…) there is no file to look for, so the order is:
//   1. "P <key> lmtp:<recipient>" is appended (not synced on its own);
//   2. the mail is sent; on the server's 250, "C <key>" is appended and fsynced (with the P line,
//      which is earlier in the same file), group commit again;
//   3. the copy is confirmed.
// A lookup of a P entry without C answers "in-doubt": the attempt was cut off (crash, timeout,
// lost connection) and the server may or may not have stored the mail. The caller delivers it
// again: at least once, so a crash in that window can store a mail twice but never lose one.
// Old readers of the journal treat such a P line as a path that does not exist: the same outcome.
import { closeSync, fdatasync, openSync, writeSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { ConfigError, StorageError } from "../errors.js";
import { lockStateDir, type StateLock } from "./lock.js";

/**
 * Copies per journal segment. We keep the current and the previous segment, so at least this
 * many of the most recent copies are remembered (in memory too, about 100 bytes each). A copy is
 * re-sent within seconds or minutes, long before this many newer copies have passed.
 */
export const SEGMENT_ENTRIES = 50_000;
const SEGMENT = /^journal-(\d{8})\.log$/;

/** "in-doubt": an LMTP attempt that never got its answer (see above). */
export type LookupResult = "stored" | "unknown" | "in-doubt";

/** Locations of LMTP deliveries in P lines; Maildir paths are absolute. */
export const LMTP_LOCATION_PREFIX = "lmtp:";

export interface DedupeJournal {
  lookup(key: string): Promise<LookupResult>;
  /** Durable (fsynced) when it resolves. Call with the final path before the rename. */
  prepare(key: string, finalPath: string): Promise<void>;
  /** After the rename: lets later lookups skip the file check. Written with the next sync. */
  commit(key: string): void;
  /** Over LMTP, before sending: records the attempt ("P <key> lmtp:<recipient>"), not synced on its own. */
  sending(key: string, recipient: string): void;
  /** Over LMTP, after the server's 250: durable (fsynced) when it resolves. Confirm only then. */
  delivered(key: string): Promise<void>;
  /** Over LMTP, after a reply saying the mail was not stored: forgets the attempt, so a retry is no "in-doubt". */
  abandon(key: string): void;
  close(): Promise<void>;
  /** Entries remembered now (for tests and metrics). */
  size(): number;
}

/** A copy being stored: where its mail goes, and the segment that holds its P line. */
interface Pending {
  readonly path: string;
  readonly segment: number;
}

/**
 * A committed copy is just the number of the segment that holds its P line (the entry is forgotten
 * with that segment): no object and no path, so 100,000 remembered copies cost a few MB of heap.
 */
type Entry = Pending | number;

const segmentOf = (entry: Entry): number => (typeof entry === "number" ? entry : entry.segment);

export async function openJournal(dir: string): Promise<DedupeJournal> {
  const entries = new Map<string, Entry>();
  let segment = 0;
  let segmentEntries = 0;
  /** The current segment, open for appending (a plain descriptor: see flush()). */
  let fd: number;
  let buffer: string[] = [];
  let waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  let flushing: Promise<void> | undefined;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StorageError(dir, err as NodeJS.ErrnoException);
  }
  // A ConfigError when another instance holds it: not retried, exit 2 with the fix.
  const lock: StateLock = await lockStateDir(dir).catch((err: unknown) => {
    if (err instanceof ConfigError) throw err;
    throw new StorageError(dir, err as NodeJS.ErrnoException);
  });
  try {
    const segments = (await readdir(dir)).map((n) => SEGMENT.exec(n)?.[1]).filter((n): n is string => !!n).map(Number).sort((a, b) => a - b);
    for (const n of segments.slice(-2)) {
      const text = await readFile(segmentPath(dir, n), "utf8");
      for (const line of text.split("\n")) apply(entries, line, n);
      segment = n;
      segmentEntries = text.split("\n").filter((l) => l.startsWith("P ")).length;
    }
    fd = openSync(segmentPath(dir, segment), "a", 0o600);
  } catch (err) {
    await lock.release();
    throw new StorageError(dir, err as NodeJS.ErrnoException);
  }

  async function rotate(): Promise<void> {
    closeSync(fd);
    segment += 1;
    segmentEntries = 0;
    fd = openSync(segmentPath(dir, segment), "a", 0o600);
    // Older than the previous segment: forget it, on disk and in memory.
    await rm(segmentPath(dir, segment - 2), { force: true });
    for (const [key, entry] of entries) if (segmentOf(entry) <= segment - 2) entries.delete(key);
  }

  async function flush(): Promise<void> {
    while (buffer.length > 0) {
      const lines = buffer.join("");
      const batch = waiters;
      buffer = [];
      waiters = [];
      try {
        // The append is a page-cache copy, done on this thread; only the fdatasync, which waits
        // for the disk, is a thread-pool job (a FileHandle's write and datasync were two, each
        // with its promise, per group).
        appendAll(fd, lines);
        await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
        for (const w of batch) w.resolve();
      } catch (err) {
        const storage = new StorageError(dir, err as NodeJS.ErrnoException);
        for (const w of batch) w.reject(storage);
      }
      if (segmentEntries >= SEGMENT_ENTRIES) await rotate().catch(() => undefined);
    }
    flushing = undefined;
  }

  function enqueue(line: string, waiter?: (typeof waiters)[number]): void {
    buffer.push(line);
    if (waiter) waiters.push(waiter);
    flushing ??= flush();
  }

  return {
    async lookup(key) {
      const entry = entries.get(key);
      if (entry === undefined) return "unknown";
      if (typeof entry === "number") return "stored";
      if (entry.path.startsWith(LMTP_LOCATION_PREFIX)) return "in-doubt";
      return (await delivered(entry.path)) ? "stored" : "unknown";
    },
    prepare(key, finalPath) {
      entries.set(key, { path: finalPath, segment });
      segmentEntries += 1;
      return new Promise((resolve, reject) => enqueue(`P ${key} ${finalPath}\n`, { resolve, reject }));
    },
    commit(key) {
      const entry = entries.get(key);
      if (entry === undefined) return;
      entries.set(key, segmentOf(entry));
      // Not synced on its own: losing it only costs a file check after a crash.
      buffer.push(`C ${key}\n`);
    },
    sending(key, recipient) {
      entries.set(key, { path: `${LMTP_LOCATION_PREFIX}${recipient}`, segment });
      segmentEntries += 1;
      // Written with the C line (or the next sync): it only turns "unknown" into "in-doubt".
      buffer.push(`P ${key} ${LMTP_LOCATION_PREFIX}${recipient}\n`);
    },
    delivered(key) {
      const entry = entries.get(key);
      if (entry !== undefined) entries.set(key, segmentOf(entry));
      return new Promise((resolve, reject) => enqueue(`C ${key}\n`, { resolve, reject }));
    },
    abandon(key) {
      const entry = entries.get(key);
      if (entry !== undefined && typeof entry !== "number" && entry.path.startsWith(LMTP_LOCATION_PREFIX)) entries.delete(key);
    },
    async close() {
      flushing ??= flush();
      await flushing;
      closeSync(fd);
      await lock.release();
    },
    size: () => entries.size,
  };
}

/** Appends all of `text` (a short write is continued, as FileHandle.write's callers must too). */
function appendAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
}

function segmentPath(dir: string, n: number): string {
  return path.join(dir, `journal-${String(n).padStart(8, "0")}.log`);
}

function apply(entries: Map<string, Entry>, line: string, segment: number): void {
  if (line.startsWith("P ")) {
    const space = line.indexOf(" ", 2);
    if (space > 2) entries.set(line.slice(2, space), { path: line.slice(space + 1), segment });
  } else if (line.startsWith("C ")) {
    const key = line.slice(2);
    const entry = entries.get(key);
    if (entry !== undefined) entries.set(key, segmentOf(entry));
  }
  // Anything else (a line torn by a crash mid-write) is ignored: at worst one copy is checked again.
}

/**
 * Is the mail at `finalPath` there? It was renamed into new/<name>, or into cur/<name>:2,<flags>
 * when delivered with flags; a reader (Dovecot) moves new/<name> to cur/<name>:2,<flags> and
 * renames files in cur/ when their flags change (Maildir spec, "info"). The unique name before
 * the ':' never changes.
 */
async function delivered(finalPath: string): Promise<boolean> {
  try {
    await stat(finalPath);
    return true;
  } catch {
    // Moved or renamed by a reader: look for the same unique name.
  }
  const name = path.basename(finalPath).split(":")[0]!;
  const folder = path.dirname(path.dirname(finalPath));
  try {
    await stat(path.join(folder, "new", name));
    return true;
  } catch {
    // Not in new/ either.
  }
  try {
    return (await readdir(path.join(folder, "cur"))).some((n) => n === name || n.startsWith(`${name}:`));
  } catch {
    return false;
  }
}
