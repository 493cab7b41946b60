// An XMPP message → RFC 5322 bytes, built once with nodemailer's MailComposer: the same bytes go
// to the smarthost and into the sender's Sent folder.
import { randomUUID } from "node:crypto";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import { markReaction } from "../../mail/index.js";
import type { MailFile } from "../attachments/index.js";
import type { ReplyContext } from "../threads.js";

export interface OutboundMail {
  readonly from: string;
  readonly to: string;
  readonly subject: string | undefined;
  readonly text: string;
  /** The pushed mail this answers, if any: In-Reply-To and References (RFC 5322 §3.6.4). */
  readonly replyTo?: ReplyContext | undefined;
  /** Our domain for the Message-ID's right-hand side. */
  readonly domain: string;
  /** Files the user shared, fetched (../attachments/to-mail.ts): multipart/mixed around the text. */
  readonly attachments?: readonly MailFile[] | undefined;
  /** An RFC 9078 reaction: `text` is the emoji(s), In-Reply-To (replyTo) the message reacted to. */
  readonly reaction?: boolean;
}

export interface ComposedMail {
  readonly bytes: Buffer;
  readonly messageId: string;
  readonly subject: string;
  readonly envelope: { from: string; to: string[] };
}

/** A long conversation would grow References without end; RFC 5322 §3.6.4 lets us keep the tail. */
const MAX_REFERENCES = 20;

/** RFC 5322 §3.6.4: References = the parent's References (or its In-Reply-To) plus its Message-ID. */
export function referencesFor(parent: ReplyContext): string[] {
  return [...parent.references, parent.messageId].slice(-MAX_REFERENCES);
}

/**
 * A chat-over-email reply's subject, as Delta Chat makes it (mimefactory.rs subject_str, 1:1 chat):
 * "Re: " and the last subject with one leading prefix ("Re:", "Fwd:", "AW:", any up to 5
 * characters before a colon) taken off, so it never grows into "Re: Re: …"; with nothing to
 * answer, "Message from <sender>".
 */
export function chatSubject(parent: ReplyContext | undefined, from: string): string {
  const last = parent?.subject.trim();
  if (!last) return `Message from ${from}`;
  const colon = last.slice(0, 5).indexOf(":");
  return `Re: ${(colon === -1 || last.startsWith("Chat:") ? last : last.slice(colon + 1)).trim()}`;
}

/** A reply's subject: the message's own subject, else "Re: " + the parent's (once). */
export function replySubject(subject: string | undefined, parent: ReplyContext | undefined): string {
  if (subject) return subject;
  if (!parent) return "";
  return /^re:/i.test(parent.subject) ? parent.subject : `Re: ${parent.subject}`;
}

export async function composeMail(mail: OutboundMail): Promise<ComposedMail> {
  const messageId = `<${randomUUID()}@${mail.domain}>`;
  const subject = mail.replyTo?.chat ? (mail.subject ?? chatSubject(mail.replyTo, mail.from)) : replySubject(mail.subject, mail.replyTo);
  const composer = new MailComposer({
    from: mail.from,
    to: mail.to,
    subject,
    text: mail.text,
    ...(mail.attachments?.length ? { attachments: mail.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })) } : {}),
    messageId,
    date: new Date(),
    ...(mail.replyTo ? { inReplyTo: mail.replyTo.messageId, references: referencesFor(mail.replyTo) } : {}),
    // Says where the mail came from, for the recipient's admin; not X-XMPP-Type, which marks our
    // archived copies and would keep a local recipient's watcher from pushing it.
    // A chat-over-email conversation goes on as one: Delta Chat and other chat-over-email clients
    // show a mail with Chat-Version as a chat message, and thread it by In-Reply-To.
    headers: { "X-XMPP-Sender": mail.from, ...(mail.replyTo?.chat ? { "Chat-Version": "1.0" } : {}) },
  });
  const root = composer.compile();
  if (mail.reaction) markReaction(root);
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    root.build((err, message) => (err ? reject(err) : resolve(message)));
  });
  return { bytes, messageId, subject, envelope: { from: mail.from, to: [mail.to] } };
}
