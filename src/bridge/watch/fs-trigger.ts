// The filesystem trigger: chokidar (inotify on Linux) on each user's INBOX new/. One watch per
// user, so fs.inotify.max_user_watches bounds how many users one process can watch (README,
// "Mail to XMPP"). A Maildir MDA renames a finished file into new/ (Maildir spec), so an 'add'
// event always sees a complete message.
import path from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { Logger } from "../../log/index.js";
import type { MailboxOwner } from "../../maildir/index.js";

export interface FsTrigger {
  /** Starts watching this user's Maildir (idempotent); resolves once the watch is in place. */
  add(owner: MailboxOwner, maildir: string): Promise<void>;
  readonly size: number;
  close(): Promise<void>;
}

export function createFsTrigger(options: { logger: Logger; onChange: (owner: MailboxOwner) => void }): FsTrigger {
  const owners = new Map<string, MailboxOwner>();
  let watcher: FSWatcher | undefined;

  const onAdd = (file: string): void => {
    const owner = owners.get(path.dirname(file));
    if (owner) options.onChange(owner);
  };
  // ENOSPC here is the inotify watch limit, not a full disk.
  const onError = (err: unknown): void => {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === "ENOSPC" ? "; raise fs.inotify.max_user_watches (README) or use --watch push" : "";
    options.logger.error({ err: (err as Error).message, code }, `file watcher error${hint}`);
  };

  return {
    async add(owner, maildir) {
      const dir = path.join(maildir, "new");
      if (owners.has(dir)) return;
      owners.set(dir, owner);
      if (!watcher) {
        // depth 0: only new/ itself, never a watch per subfolder; ignoreInitial: existing mail is
        // the scanner's business, not a burst of events.
        watcher = watch(dir, { ignoreInitial: true, depth: 0, persistent: true });
        watcher.on("add", onAdd);
        watcher.on("error", onError);
        await new Promise<void>((resolve) => watcher!.once("ready", () => resolve()));
        return;
      }
      watcher.add(dir);
    },
    get size() {
      return owners.size;
    },
    async close() {
      const w = watcher;
      watcher = undefined;
      owners.clear();
      if (!w) return;
      w.off("add", onAdd);
      w.off("error", onError);
      await w.close();
    },
  };
}
