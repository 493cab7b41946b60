// One user's INBOX → a push for each mail not handled yet and not \Seen, whichever trigger noticed
// it (a chokidar event or a Dovecot push_notification). The mail is looked for in new/ and, since
// an idling IMAP client moves it there at once, in cur/ (./inbox-files.ts). Scans of one user run
// one at a time; a scan asked for while one runs is folded into a single rescan, so a burst of
// deliveries costs little.
import path from "node:path";
import { bare } from "../../jid.js";
import type { Logger } from "../../log/index.js";
import { peekHeaders } from "../../mail/index.js";
import { readHead, type MailboxOwner, type MaildirResolver } from "../../maildir/index.js";
import type { HandledMail } from "../state.js";
import { CUR_WINDOW_MS, findInbox, listInbox, type InboxFile } from "./inbox-files.js";

/** Enough for the text of any real mail; attachments past this are not needed for a preview. */
export const MAX_READ_BYTES = 4 * 1024 * 1024;

/** What the scanner decided for one mail, for logs and tests. */
export type Outcome = "pushed" | "offline" | "own" | "seen" | "gone" | "failed";

export interface NewMail {
  readonly owner: MailboxOwner;
  readonly user: string;
  readonly maildir: string;
  /** The unique name, without the :2,… info suffix. */
  readonly base: string;
  readonly bytes: Buffer;
}

export interface ScannerOptions {
  readonly resolve: MaildirResolver;
  readonly state: HandledMail;
  readonly logger: Logger;
  readonly isOnline: (user: string) => boolean;
  /** Sends the mail to the user. Throws if it could not (the mail is not retried: at most once). */
  readonly push: (mail: NewMail) => Promise<void>;
}

export interface Scanner {
  /** Looks for new mail of this user; resolves when the scan (and any folded rescan) is done. */
  scan(owner: MailboxOwner): Promise<void>;
  /** Marks everything in new/ and cur/ as handled without pushing: for Maildirs found at first start. */
  baseline(owner: MailboxOwner): Promise<void>;
  idle(): Promise<void>;
}

export function createScanner(options: ScannerOptions): Scanner {
  const { state, logger } = options;
  const running = new Map<string, { done: Promise<void>; again: boolean }>();

  /** The mail's bytes and where they were read, following it once if Dovecot renamed it meanwhile. */
  async function readMail(maildir: string, file: InboxFile): Promise<{ bytes: Buffer; file: InboxFile } | undefined> {
    let current: InboxFile | undefined = file;
    for (let attempt = 0; attempt < 2 && current; attempt++) {
      try {
        return { bytes: await readHead(path.join(maildir, current.dir, current.name), MAX_READ_BYTES), file: current };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        // new/ → cur/ by an IMAP client between readdir and open: the same mail, under its new name.
        current = await findInbox(maildir, file.base);
      }
    }
    return undefined;
  }

  async function handle(owner: MailboxOwner, user: string, maildir: string, found: InboxFile): Promise<{ outcome: Outcome; dir?: string }> {
    // Maildir spec: the letters after ":2," are the flags; S is Seen.
    if (found.flags.includes("S")) return { outcome: "seen", dir: found.dir };
    const read = await readMail(maildir, found);
    if (!read) return { outcome: "gone" };
    const { bytes, file } = read;
    if (file.flags.includes("S")) return { outcome: "seen", dir: file.dir };
    // Our own archived copies carry X-XMPP-Type (src/mail/render.ts): pushing them would echo
    // every archived XMPP message back to its owner.
    if (peekHeaders(bytes)?.has("x-xmpp-type")) return { outcome: "own", dir: file.dir };
    if (!options.isOnline(user)) return { outcome: "offline", dir: file.dir };
    try {
      await options.push({ owner, user, maildir, base: file.base, bytes });
      return { outcome: "pushed", dir: file.dir };
    } catch (err) {
      logger.warn({ user, mail: file.base, err: (err as Error).message }, "could not push new mail");
      return { outcome: "failed", dir: file.dir };
    }
  }

  /** cur/ mail older than this is not news: before the user's baseline, or out of the window. */
  const curSince = (user: string): number => Math.max(state.since(user), Date.now() - CUR_WINDOW_MS);

  async function scanOnce(owner: MailboxOwner): Promise<void> {
    const user = bare(owner);
    const maildir = options.resolve(owner);
    const files = await listInbox(maildir, curSince(user));
    for (const file of files) {
      if (state.isHandled(user, file.base)) continue;
      // Marked before pushing: a crash mid-push loses one notification, never sends it twice.
      state.markHandled(user, file.base);
      const { outcome, dir } = await handle(owner, user, maildir, file);
      logger.info({ user, mail: file.base, outcome, dir }, outcome === "pushed" ? "pushed new mail" : "new mail not pushed");
    }
    state.retain(user, new Set(files.map((f) => f.base)));
  }

  return {
    scan(owner) {
      const key = bare(owner);
      const current = running.get(key);
      if (current) {
        current.again = true;
        return current.done;
      }
      const slot = { done: Promise.resolve(), again: false };
      slot.done = (async () => {
        try {
          do {
            slot.again = false;
            await scanOnce(owner);
          } while (slot.again);
        } catch (err) {
          logger.warn({ user: key, err: (err as Error).message }, "cannot scan the Maildir for new mail");
        } finally {
          running.delete(key);
        }
      })();
      running.set(key, slot);
      return slot.done;
    },
    async baseline(owner) {
      const user = bare(owner);
      state.startAt(user, Date.now());
      const files = await listInbox(options.resolve(owner), curSince(user));
      for (const file of files) state.markHandled(user, file.base);
      state.retain(user, new Set(files.map((f) => f.base)));
    },
    async idle() {
      await Promise.all([...running.values()].map((s) => s.done));
    },
  };
}
