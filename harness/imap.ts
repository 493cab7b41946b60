/**
 * Reading a mailbox over IMAP, as a mail client would see the archive.
 */
import { ImapFlow, type FetchMessageObject } from "imapflow";
import { pollUntil } from "./poll.js";

/** Delivery to a Maildir is near-instant; poll often so tests stay fast. */
const MAILBOX_POLL_INTERVAL_MS = 100;
/** Covers the XMPP round trip, the archive write and Dovecot's rescan on a slow CI box. */
const DEFAULT_WAIT_TIMEOUT_MS = 15_000;

export interface ImapAccount {
  port: number;
  user: string;
  password: string;
  /** Defaults to INBOX. */
  mailbox?: string;
  host?: string;
}

export interface ListedMessage {
  uid: number;
  flags: string[];
  subject: string | undefined;
  from: string | undefined;
  messageId: string | undefined;
  source: Buffer;
}

function toListed(msg: FetchMessageObject): ListedMessage {
  const sender = msg.envelope?.from?.[0];
  return {
    uid: msg.uid,
    flags: [...(msg.flags ?? [])].sort(),
    subject: msg.envelope?.subject,
    from: sender?.address,
    messageId: msg.envelope?.messageId,
    source: msg.source ?? Buffer.alloc(0),
  };
}

interface ImapFlowErrorFields {
  message?: string;
  serverResponseCode?: string;
  responseText?: string;
}

/** imapflow says "Command failed"; the server's code and text say why. */
function imapErrorText(err: unknown): string {
  const e = (err ?? {}) as ImapFlowErrorFields;
  const code = e.serverResponseCode ? ` [${e.serverResponseCode}]` : "";
  return `${e.message ?? String(err)}${code}${e.responseText ? `: ${e.responseText}` : ""}`;
}

/**
 * All messages in a mailbox, oldest first. The mailbox is opened read-only
 * (EXAMINE), so listing changes nothing: no \Seen, and Dovecot leaves the
 * files in new/ instead of moving them to cur/.
 */
export async function listMailbox(opts: ImapAccount): Promise<ListedMessage[]> {
  const client = new ImapFlow({
    host: opts.host ?? "127.0.0.1",
    port: opts.port,
    secure: false,
    doSTARTTLS: false,
    logger: false,
    auth: { user: opts.user, pass: opts.password },
  });
  // Socket errors after a failed command are emitted as well; the command's
  // rejection already reports them.
  client.on("error", () => {});
  try {
    await client.connect();
    const lock = await client.getMailboxLock(opts.mailbox ?? "INBOX", { readOnly: true });
    try {
      if (client.mailbox === false || client.mailbox.exists === 0) return [];
      const messages = await client.fetchAll("1:*", { uid: true, flags: true, envelope: true, source: true });
      return messages.map(toListed).sort((a, b) => a.uid - b.uid);
    } finally {
      lock.release();
    }
  } catch (err) {
    throw new Error(`IMAP listing of ${opts.user}'s ${opts.mailbox ?? "INBOX"} failed: ${imapErrorText(err)}`, {
      cause: err,
    });
  } finally {
    await client.logout().catch(() => client.close());
  }
}

export interface WaitForMessagesOptions extends ImapAccount {
  count: number;
  timeoutMs?: number;
}

function isMissingMailbox(err: unknown): boolean {
  const e = (err as { cause?: ImapFlowErrorFields } | undefined)?.cause;
  return e?.serverResponseCode === "NONEXISTENT" || /doesn't exist|does not exist/i.test(e?.responseText ?? "");
}

function summary(messages: ListedMessage[]): string {
  if (messages.length === 0) return "none";
  return messages.map((m) => `#${m.uid} ${JSON.stringify(m.subject)} from ${m.from ?? "?"}`).join("; ");
}

/**
 * Polls until the mailbox holds at least `count` messages and returns them
 * all. A mailbox that does not exist yet counts as empty (the archiver may
 * create it); any other IMAP error ends the wait.
 */
export async function waitForMessages(opts: WaitForMessagesOptions): Promise<ListedMessage[]> {
  let seen: ListedMessage[] = [];
  const mailbox = opts.mailbox ?? "INBOX";
  return pollUntil(
    async () => {
      try {
        seen = await listMailbox(opts);
      } catch (err) {
        if (!isMissingMailbox(err)) throw err;
        seen = [];
      }
      return seen.length >= opts.count ? seen : undefined;
    },
    {
      timeoutMs: opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
      intervalMs: MAILBOX_POLL_INTERVAL_MS,
      describe: () =>
        `expected at least ${opts.count} message(s) in ${opts.user}'s ${mailbox}, saw ${seen.length}: ${summary(seen)}`,
    },
  );
}
