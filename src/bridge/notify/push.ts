// New mail → a normal message to its online owner, and a reply context (../threads.ts) so that
// the user's answer over XMPP goes out with In-Reply-To and References.
import { randomUUID } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { attachmentMessage, readWholeMail, uploadAttachments, type Uploader } from "../attachments/index.js";
import type { PushedMail } from "../state.js";
import type { Threads } from "../threads.js";
import type { NewMail } from "../watch/index.js";
import { findUid, imapMessageUrl } from "./imap-url.js";
import { pushedMessage } from "./message.js";
import { summarizeMail } from "./summary.js";

/**
 * Dovecot's LMTP renames the mail into new/ a moment before it adds the UID to dovecot-uidlist;
 * one short second look gets the exact IMAP URL instead of the Message-ID search.
 */
const UIDLIST_RETRY_MS = 200;

export interface NotifierOptions {
  readonly componentDomain: string;
  /** --imap-url: server part of the links, no trailing slash. */
  readonly imapUrl: string;
  readonly threads: Threads;
  /** Where the id of each push is kept for read markers. */
  readonly pushed: PushedMail;
  readonly send: (stanza: Element) => Promise<void>;
  /** Shares the mail's attachments over XEP-0363 (../attachments/); undefined: each gets a line saying so. */
  readonly uploader?: Uploader | undefined;
}

/** Returns the push function the scanner calls; it throws if the message could not be sent. */
export function createNotifier(options: NotifierOptions): (mail: NewMail) => Promise<void> {
  return async (mail) => {
    // Attachments need the whole mail, not the scanner's first MAX_READ_BYTES.
    const whole = options.uploader ? await readWholeMail(mail, options.uploader.maxBytes) : { bytes: mail.bytes };
    const summary = await summarizeMail("bytes" in whole ? whole.bytes : mail.bytes);
    const files = await uploadAttachments(summary.attachments, options.uploader, { incomplete: "incomplete" in whole ? whole.incomplete : undefined });
    // The text goes whatever became of the files, with a line for each one not shared.
    const text = [summary.text || files.shared.map((f) => f.name).join(", "), files.lines.join("\n")].filter((t) => t !== "").join("\n\n");
    let uid = await findUid(mail.maildir, mail.base);
    if (!uid) {
      await new Promise((resolve) => setTimeout(resolve, UIDLIST_RETRY_MS));
      uid = await findUid(mail.maildir, mail.base);
    }
    const url = imapMessageUrl({ server: options.imapUrl, user: mail.user, uid, messageId: summary.messageId });
    const { stanza, thread } = pushedMessage({ summary: { ...summary, text }, to: mail.user, componentDomain: options.componentDomain, url, id: randomUUID() });
    await options.send(stanza);
    // Each pushed message stands for the mail: a marker or a reaction on any of them is for it.
    const record = { base: mail.base, peer: String(stanza.attrs.from), ...(summary.messageId ? { messageId: summary.messageId } : {}) };
    options.pushed.remember(mail.user, { id: String(stanza.attrs.id), ...record });
    for (const file of files.shared) {
      const type = stanza.attrs.type === "chat" ? "chat" : "normal";
      const attachment = attachmentMessage({ from: String(stanza.attrs.from), to: mail.user, type, id: randomUUID(), thread, file });
      await options.send(attachment);
      options.pushed.remember(mail.user, { id: String(attachment.attrs.id), ...record });
    }
    if (summary.messageId && summary.fromAddress) {
      options.threads.remember(mail.user, { thread, from: summary.fromAddress, messageId: summary.messageId, references: summary.references, subject: summary.subject, chat: summary.chat });
    }
  };
}
