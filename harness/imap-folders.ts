/**
 * The folder list a mail client sees (IMAP LIST with subscription state), and polling a mailbox
 * until its messages reach some state (flags set by the archiver after delivery).
 */
import { ImapFlow } from "imapflow";
import { listMailbox, type ImapAccount, type ListedMessage } from "./imap.js";
import { pollUntil } from "./poll.js";

const POLL_INTERVAL_MS = 100;
const DEFAULT_TIMEOUT_MS = 15_000;

export interface ListedFolder {
  readonly path: string;
  readonly delimiter: string;
  readonly subscribed: boolean;
}

export async function listFolders(account: Omit<ImapAccount, "mailbox">): Promise<ListedFolder[]> {
  const client = new ImapFlow({
    host: account.host ?? "127.0.0.1",
    port: account.port,
    secure: false,
    doSTARTTLS: false,
    logger: false,
    auth: { user: account.user, pass: account.password },
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const folders = await client.list();
    return folders.map((f) => ({ path: f.path, delimiter: f.delimiter, subscribed: f.subscribed === true })).sort((a, b) => a.path.localeCompare(b.path));
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Lists `mailbox` until `done` accepts what it holds; a mailbox not created yet counts as empty. */
export async function waitForMailbox(account: ImapAccount, done: (messages: ListedMessage[]) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ListedMessage[]> {
  let seen: ListedMessage[] = [];
  return pollUntil(
    async () => {
      try {
        seen = await listMailbox(account);
      } catch (err) {
        if (!/NONEXISTENT|doesn't exist|does not exist/i.test(String((err as Error).message) + String((err as { cause?: { responseText?: string } }).cause?.responseText ?? ""))) throw err;
        seen = [];
      }
      return done(seen) ? seen : undefined;
    },
    {
      timeoutMs,
      intervalMs: POLL_INTERVAL_MS,
      describe: () => `${account.user}'s ${account.mailbox ?? "INBOX"} never reached the expected state; it holds: ${seen.map((m) => `${JSON.stringify(m.subject)} [${m.flags.join(" ")}]`).join("; ") || "nothing"}`,
    },
  );
}
