// One user's INBOX new/ → a push for each mail not handled yet, whichever trigger noticed it
// (a chokidar event or a Dovecot push_notification). Scans of one user run one at a time; a scan
// asked for while one runs is folded into a single rescan, so a burst of deliveries costs little.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { bare } from "../../jid.js";
import type { Logger } from "../../log/index.js";
import { peekHeaders } from "../../mail/index.js";
import { readHead, type MailboxOwner, type MaildirResolver } from "../../maildir/index.js";
import type { HandledMail } from "../state.js";

/** Enough for the text of any real mail; attachments past this are not needed for a preview. */
const MAX_READ_BYTES = 4 * 1024 * 1024;

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
  /** Marks everything in new/ as handled without pushing: for Maildirs found at first start. */
  baseline(owner: MailboxOwner): Promise<void>;
  idle(): Promise<void>;
}

export function createScanner(options: ScannerOptions): Scanner {
  const { state, logger } = options;
  const running = new Map<string, { done: Promise<void>; again: boolean }>();

  async function listNew(maildir: string): Promise<string[]> {
    try {
      return (await readdir(path.join(maildir, "new"))).filter((n) => !n.startsWith(".")).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  async function readMail(file: string): Promise<Buffer | undefined> {
    try {
      return await readHead(file, MAX_READ_BYTES);
    } catch (err) {
      // Moved to cur/ by an IMAP client between readdir and open: seen, not ours to push.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async function handle(owner: MailboxOwner, user: string, maildir: string, name: string): Promise<Outcome> {
    const [base, info = ""] = name.split(":2,") as [string, string?];
    // Maildir spec: the letters after ":2," are the flags; S is Seen.
    if (info.includes("S")) return "seen";
    const bytes = await readMail(path.join(maildir, "new", name));
    if (!bytes) return "gone";
    // Our own archived copies carry X-XMPP-Type (src/mail/render.ts): pushing them would echo
    // every archived XMPP message back to its owner.
    if (peekHeaders(bytes)?.has("x-xmpp-type")) return "own";
    if (!options.isOnline(user)) return "offline";
    try {
      await options.push({ owner, user, maildir, base, bytes });
      return "pushed";
    } catch (err) {
      logger.warn({ user, mail: base, err: (err as Error).message }, "could not push new mail");
      return "failed";
    }
  }

  async function scanOnce(owner: MailboxOwner): Promise<void> {
    const user = bare(owner);
    const maildir = options.resolve(owner);
    const names = await listNew(maildir);
    const present = new Set(names.map((n) => n.split(":2,")[0]!));
    for (const name of names) {
      const base = name.split(":2,")[0]!;
      if (state.isHandled(user, base)) continue;
      // Marked before pushing: a crash mid-push loses one notification, never sends it twice.
      state.markHandled(user, base);
      const outcome = await handle(owner, user, maildir, name);
      logger.info({ user, mail: base, outcome }, outcome === "pushed" ? "pushed new mail" : "new mail not pushed");
    }
    state.retain(user, present);
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
      const names = await listNew(options.resolve(owner));
      for (const name of names) state.markHandled(user, name.split(":2,")[0]!);
      state.retain(user, new Set(names.map((n) => n.split(":2,")[0]!)));
    },
    async idle() {
      await Promise.all([...running.values()].map((s) => s.done));
    },
  };
}
