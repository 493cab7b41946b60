// Atomic Maildir delivery (https://cr.yp.to/proto/maildir.html):
//   write the whole message into tmp/, fsync it, rename it into new/, fsync new/.
// A reader (Dovecot) only ever looks at new/ and cur/, and rename(2) is atomic within one file
// system, so it never sees a half-written message; after a crash a partial file can only be
// left in tmp/, which readers ignore and Dovecot cleans up after 36 hours.
// A message delivered with flags (Seen, keywords) goes to cur/<name>:2,<flags> instead of new/:
// new/ is for messages no reader has seen, whose names carry no info (Maildir spec), and cur/ with
// an info suffix is where Dovecot itself saves a flagged message (checked: IMAP APPEND with
// \Seen $XMPP lands in cur/…:2,Sa). The tmp/ → fsync → rename guarantee is the same.
import { mkdir } from "node:fs/promises";
import { renameSync } from "node:fs";
import path from "node:path";
import { StorageError } from "../errors.js";
import { createBatchSync, type BatchOptions } from "./batch-sync.js";
import { createDirSyncer } from "./dir-sync.js";
import { ensureFolder, folderDir } from "./folders.js";
import { createKeywordMap, infoSuffix, type KeywordMap } from "./keywords.js";
import { createNameSource, type NameSource } from "./name.js";
import { traceDelivery } from "./stage-trace.js";
import { fsyncFd, syncAndClose, syncDir, unlinkQuietly, writeTmp, writeTmpSync } from "./sync-io.js";

/** Directories 0700 and files 0600: mail is private to the mail user. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const SUBDIRS = ["tmp", "new", "cur"] as const;

export interface Delivered {
  /** The final path: in new/, or in cur/ with an info suffix when delivered with flags. */
  readonly path: string;
  readonly size: number;
  /** The folder's directory (the Maildir itself for INBOX). */
  readonly folderDir: string;
  /** The unique name, without the info suffix. */
  readonly base: string;
  /** Keywords not set because the folder's 26 keyword letters are all taken. */
  readonly droppedKeywords: readonly string[];
}

export interface DeliverOptions {
  /**
   * Runs once the message is complete and synced in tmp/, just before the rename makes it
   * visible, with the final path. The dedupe journal records the path here, so that a crash at
   * any point either leaves no trace or leaves a journal entry that can be checked. If it throws,
   * the message is not delivered and tmp/ is cleaned up.
   */
  beforeRename?: (finalPath: string) => Promise<void>;
  /** A Maildir++ folder path below INBOX (["Chats", "room"]); default INBOX. */
  folder?: readonly string[];
  /** Deliver as read (\Seen). */
  seen?: boolean;
  /** IMAP keywords, mapped to letters through the folder's dovecot-keywords. */
  keywords?: readonly string[];
  /**
   * When the message arrived (ms since the epoch), for the time in its file name. Dovecot gives
   * new files UIDs in the order of that time (maildir_filename_sort_cmp: seconds, then the M
   * microseconds), so stamping arrival rather than the end of the write keeps a conversation's
   * UIDs in the order it was said, however the concurrent writes finish.
   */
  arrivedAt?: number;
}

export interface MaildirWriter {
  deliver(maildir: string, message: Buffer, options?: DeliverOptions): Promise<Delivered>;
  /** The keyword letters this writer uses, shared with flag changes on delivered mail. */
  readonly keywords?: KeywordMap;
}

export interface MaildirWriterOptions {
  /** Skip fsync only for throwaway data (benchmarks of the rest of the pipeline). Default true. */
  fsync?: boolean;
  names?: NameSource;
  keywords?: KeywordMap;
  /**
   * Bulk writes (import, replay): fsync and rename mails in batches (./batch-sync.ts) instead of
   * one by one. deliver() still resolves only once its mail is durable, but it waits for the
   * batch, so use it with many deliveries in flight (at least `size`). Not with `beforeRename`.
   */
  batch?: BatchOptions;
}

export function createMaildirWriter(options: MaildirWriterOptions = {}): MaildirWriter {
  const fsync = options.fsync ?? true;
  const names = options.names ?? createNameSource();
  const keywordMap = options.keywords ?? createKeywordMap({ fileMode: FILE_MODE });
  // Folders known to exist, so the common case costs no mkdir. A folder removed behind our back
  // is caught by ENOENT below and created again.
  const created = new Set<string>();
  const dirSyncer = createDirSyncer();
  const batch = options.batch && fsync ? createBatchSync(options.batch, dirSyncer) : undefined;
  let named = 0;

  /** Folders being created now: a burst of first mails to one (an import) waits for one mkdir. */
  const creating = new Map<string, Promise<string>>();

  function ensure(maildir: string, folder: readonly string[]): Promise<string> {
    const dir = folderDir(maildir, folder);
    if (created.has(dir)) return Promise.resolve(dir);
    let running = creating.get(dir);
    if (!running) {
      running = create(maildir, folder, dir).finally(() => creating.delete(dir));
      creating.set(dir, running);
    }
    return running;
  }

  async function create(maildir: string, folder: readonly string[], dir: string): Promise<string> {
    await mkdir(maildir, { recursive: true, mode: DIR_MODE });
    for (const sub of SUBDIRS) await mkdir(path.join(maildir, sub), { recursive: true, mode: DIR_MODE });
    await ensureFolder(maildir, folder, { dirMode: DIR_MODE, fileMode: FILE_MODE });
    if (fsync) await syncDir(path.dirname(maildir));
    if (fsync && folder.length > 0) await syncDir(maildir);
    keywordMap.forget(dir);
    created.add(dir);
    return dir;
  }

  async function writeOnce(maildir: string, message: Buffer, options: DeliverOptions): Promise<Delivered> {
    const dir = await ensure(maildir, options.folder ?? []);
    const { letters, dropped } = await keywordMap.lettersFor(dir, options.keywords ?? []);
    const info = infoSuffix({ seen: options.seen ?? false, letters });
    const name = names.next(message.length, options.arrivedAt);
    const order = (named += 1);
    const tmp = path.join(dir, "tmp", name);
    const final = info ? path.join(dir, "cur", name + info) : path.join(dir, "new", name);
    if (batch && !options.beforeRename) {
      await batch.add({ fd: writeTmpSync(tmp, message), tmp, final, order });
      return { path: final, size: message.length, folderDir: dir, base: name, droppedKeywords: dropped };
    }
    // The create and the fsync in the thread pool, the write on this thread (./sync-io.ts).
    const trace = traceDelivery();
    const fd = await writeTmp(tmp, message);
    trace?.mark("tmp");
    try {
      await syncAndClose(fd, fsync ? fsyncFd : undefined);
      trace?.mark("fsync");
    } catch (err) {
      unlinkQuietly(tmp);
      throw err;
    }
    try {
      // After the mail's own fsync, not alongside it: the journal's group commit then releases
      // concurrent mails in the order they were prepared, which keeps their renames (and so the
      // UIDs Dovecot gives them when it looks in between) in arrival order. Synchronous: the
      // rename happens in the very callback the journal releases it in, so no thread-pool job
      // can reorder two renames released one after the other.
      if (options.beforeRename) await options.beforeRename(final);
      trace?.mark("journal");
      renameSync(tmp, final);
      trace?.mark("rename");
    } catch (err) {
      unlinkQuietly(tmp);
      throw err;
    }
    // Without this the rename itself may not survive a power cut, and we would have confirmed
    // a message that is gone. Renames into the same directory share one fsync (./dir-sync.ts).
    if (fsync) await dirSyncer.sync(path.dirname(final));
    trace?.mark("dir");
    trace?.done(final, options.arrivedAt);
    return { path: final, size: message.length, folderDir: dir, base: name, droppedKeywords: dropped };
  }

  return {
    keywords: keywordMap,
    async deliver(maildir, message, options = {}) {
      // A folder name that cannot be a Maildir++ folder is refused before any I/O.
      const dir = folderDir(maildir, options.folder ?? []);
      try {
        return await writeOnce(maildir, message, options);
      } catch (err) {
        if (err instanceof StorageError) throw err;
        const e = err as NodeJS.ErrnoException;
        if (e.code === "ENOENT" && created.delete(dir)) {
          try {
            return await writeOnce(maildir, message, options);
          } catch (again) {
            if (again instanceof StorageError) throw again;
            throw new StorageError(maildir, again as NodeJS.ErrnoException);
          }
        }
        throw new StorageError(maildir, e);
      }
    },
  };
}
