// Mail bytes → what a pushed XMPP message shows: subject, sender, plain text (from text/plain, or
// converted from text/html by mailparser's html-to-text) and the ids a reply needs.
import { simpleParser } from "mailparser";
import { firstAddress } from "../../mail/index.js";
import type { MailAttachment } from "../attachments/to-xmpp.js";

/**
 * XMPP servers cap stanza size (Prosody's c2s default is 256 kB, and some clients choke earlier);
 * a notification is a preview, the whole mail is one click away through the IMAP URL.
 */
export const MAX_TEXT_CHARS = 16_000;

export interface MailSummary {
  readonly subject: string;
  /** The From address (lower-cased domain), or undefined when the mail has none we can parse. */
  readonly fromAddress: string | undefined;
  readonly fromName: string | undefined;
  readonly text: string;
  /** With angle brackets, as in the header; undefined when the mail has none. */
  readonly messageId: string | undefined;
  /** The mail's own References, for a reply's References (RFC 5322 §3.6.4). */
  readonly references: readonly string[];
  /** Chat-over-email (a `Chat-Version` header, as Delta Chat sends): pushed as a chat message. */
  readonly chat: boolean;
  /** Attached files (not inline parts of an HTML body), for ../attachments/. */
  readonly attachments: readonly MailAttachment[];
}

export async function summarizeMail(bytes: Buffer): Promise<MailSummary> {
  const mail = await simpleParser(bytes, { skipImageLinks: true, skipTextToHtml: true });
  const from = firstAddress(mail.from);
  let text = (mail.text ?? "").replace(/\r\n/g, "\n").trim();
  if (text.length > MAX_TEXT_CHARS) text = `${text.slice(0, MAX_TEXT_CHARS)}…`;
  const refs = mail.references === undefined ? [] : Array.isArray(mail.references) ? mail.references : [mail.references];
  return {
    subject: mail.subject ?? "",
    fromAddress: from?.address ? normalizeAddress(from.address) : undefined,
    fromName: from?.name || undefined,
    text,
    messageId: mail.messageId,
    references: refs,
    chat: mail.headers.has("chat-version"),
    // `related` parts are images an HTML body shows inline (logos, signatures): not files to share.
    attachments: mail.attachments.filter((a) => !a.related).map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
  };
}

/** Domains are case-insensitive (RFC 5321 §2.4); local parts are kept as sent. */
export function normalizeAddress(address: string): string {
  const at = address.lastIndexOf("@");
  return at === -1 ? address : `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
}
