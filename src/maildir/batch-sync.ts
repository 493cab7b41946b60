// Group commit for bulk writes (import, replay into a Maildir): the same tmp/ → fsync → rename →
// fsync of the directory as ./deliver.ts, but per batch instead of per mail. Each mail is written
// to tmp/ and waits; once `size` mails wait (or no new one came for `idleMs`), the batch is
// committed:
//   1. every file of the batch is fsynced (all at once: the file system folds them into few
//      journal commits, where one mail at a time pays a whole commit each);
//   2. the files are renamed into new/ or cur/, in the order their names were made;
//   3. every directory that got a rename is fsynced once;
//   4. only then does each mail's deliver() resolve, so a caller that records progress after it
//      (the replay checkpoint) never records a mail that a crash could still take away.
// A crash before 3 leaves files in tmp/ (ignored by readers, cleaned by Dovecot) and maybe some
// renamed ones; the checkpoint does not list them, so the next run writes them again or finds
// them by Message-ID (src/replay/targets/maildir.ts). A failed fsync fails its mail (or, for a
// directory, every mail renamed into it): none of them resolves.
import { renameSync } from "node:fs";
import path from "node:path";
import type { DirSyncer } from "./dir-sync.js";
import { fsyncFd, syncAndClose, unlinkQuietly } from "./sync-io.js";

export interface BatchOptions {
  /** Mails per commit. */
  readonly size: number;
  /** Commit a partial batch once no mail was added for this long. */
  readonly idleMs: number;
}

export interface PendingMail {
  /** Open for writing, the whole message written; closed by the batch. */
  readonly fd: number;
  readonly tmp: string;
  readonly final: string;
  /** Renames go in this order (the order the names were made: time, then counter). */
  readonly order: number;
}

export interface BatchSync {
  /** Resolves once the mail is renamed and both it and its directory entry are durable. */
  add(mail: PendingMail): Promise<void>;
}

interface Waiting extends PendingMail {
  resolve(): void;
  reject(err: unknown): void;
}

/** `fsyncFile`: tests only (a slow fsync for one batch); default fsync(2) in libuv's pool. */
export function createBatchSync(options: BatchOptions, dirSyncer: DirSyncer, fsyncFile: (fd: number) => Promise<void> = fsyncFd): BatchSync {
  let batch: Waiting[] = [];
  let timer: NodeJS.Timeout | undefined;
  // Batches rename one after the other too: a later batch whose fsyncs finish first waits, so
  // names made earlier are always renamed earlier, across batches as within one.
  let renamed: Promise<void> = Promise.resolve();

  function commitNow(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const mails = batch;
    batch = [];
    if (mails.length > 0) renamed = commit(mails, { dirSyncer, fsyncFile }, renamed);
  }

  return {
    add(mail) {
      return new Promise<void>((resolve, reject) => {
        batch.push({ ...mail, resolve, reject });
        if (batch.length >= options.size) return commitNow();
        if (timer) clearTimeout(timer);
        timer = setTimeout(commitNow, options.idleMs);
      });
    },
  };
}

function discard(m: Waiting, err: unknown): void {
  unlinkQuietly(m.tmp);
  m.reject(err);
}

/** Resolves once this batch's renames are done (not its directory fsyncs), for the next batch. */
async function commit(mails: Waiting[], io: { dirSyncer: DirSyncer; fsyncFile: (fd: number) => Promise<void> }, previous: Promise<void>): Promise<void> {
  const { dirSyncer, fsyncFile } = io;
  const synced = await Promise.all(
    mails.map(async (m) => {
      try {
        await syncAndClose(m.fd, fsyncFile);
        return true;
      } catch (err) {
        discard(m, err);
        return false;
      }
    }),
  );
  await previous;
  const renamed: Waiting[] = [];
  // One after the other, in the order their names were made (writes may finish in another), so
  // Dovecot, looking in between, gives them UIDs in that order. Synchronous: a rename is a
  // directory update in the page cache, cheaper than a trip to the thread pool, and the loop
  // then runs whole, with no other batch's rename in between.
  const ready = mails.filter((_, i) => synced[i]).sort((a, b) => a.order - b.order);
  for (const m of ready) {
    try {
      renameSync(m.tmp, m.final);
      renamed.push(m);
    } catch (err) {
      discard(m, err);
    }
  }
  const byDir = new Map<string, Waiting[]>();
  for (const m of renamed) {
    const dir = path.dirname(m.final);
    const list = byDir.get(dir);
    if (list) list.push(m);
    else byDir.set(dir, [m]);
  }
  // Not awaited by the next batch: its renames may go while these directories are fsynced.
  void Promise.all(
    [...byDir].map(async ([dir, list]) => {
      try {
        await dirSyncer.sync(dir);
        for (const m of list) m.resolve();
      } catch (err) {
        for (const m of list) m.reject(err);
      }
    }),
  );
}
