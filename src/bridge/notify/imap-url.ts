// The IMAP URL (RFC 5092) of a message in a user's INBOX, for the XEP-0066 link in a pushed
// message. With the UID Dovecot gave the message it points at exactly that message
// (RFC 5092 §6 `imessagepart`: /INBOX;UIDVALIDITY=v/;UID=n); before Dovecot has seen the mail
// (delivered by another MDA) it is a search for its Message-ID (§6 `imessagelist` with a query).
import { readFile } from "node:fs/promises";
import path from "node:path";

export interface MessageUid {
  readonly uidValidity: number;
  readonly uid: number;
}

/**
 * Reads the message's UID from Dovecot's dovecot-uidlist (format v3: a header line
 * `3 V<uidvalidity> N<next uid> …`, then `<uid> [extensions] :<base name>` per message;
 * https://doc.dovecot.org/2.3/admin_manual/mailbox_formats/maildir/#dovecot-uidlist).
 * Returns undefined when there is no list or the message is not in it yet.
 */
export async function findUid(maildir: string, base: string): Promise<MessageUid | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(maildir, "dovecot-uidlist"), "utf8");
  } catch {
    return undefined;
  }
  const lines = text.split("\n");
  const validity = /(?:^|\s)V(\d+)/.exec(lines[0] ?? "")?.[1];
  if (!validity || !lines[0]!.startsWith("3 ")) return undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(" :");
    if (colon === -1) continue;
    const name = line.slice(colon + 2);
    // The list may hold the name with or without its :2,<flags> info suffix.
    if (name === base || name.startsWith(`${base}:`)) {
      const uid = Number(line.slice(0, line.indexOf(" ")));
      if (Number.isSafeInteger(uid) && uid > 0) return { uidValidity: Number(validity), uid };
    }
  }
  return undefined;
}

/** RFC 5092 §3.2: the user is percent-encoded (its '@' becomes %40). */
export function imapMessageUrl(input: { server: string; user: string; uid?: MessageUid | undefined; messageId?: string | undefined }): string {
  const base = `${input.server.replace(/\/+$/, "")}`.replace(/^imap:\/\//, `imap://${encodeURIComponent(input.user)}@`);
  if (input.uid) return `${base}/INBOX;UIDVALIDITY=${input.uid.uidValidity}/;UID=${input.uid.uid}`;
  if (input.messageId) return `${base}/INBOX?${encodeURIComponent(`HEADER Message-ID ${input.messageId}`)}`;
  return `${base}/INBOX`;
}
