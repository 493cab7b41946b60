// ArchiveRecord → RFC 5322 bytes: a multipart/alternative (RFC 2046 §5.1.4) whose first part is
// the plain text any mail client shows, and whose last part is the original stanza as
// application/xmpp+xml (RFC 3923 §9), so nothing is lost and an archive can be replayed.
// MIME encoding itself is nodemailer's MailComposer: RFC 2047 words, quoted-printable, folding.
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import { bare, full, type Jid } from "../jid.js";
import type { ArchiveRecord } from "../capture/index.js";
import { messageIdFor, threadIdFor } from "./message-id.js";

export const XMPP_CONTENT_TYPE = "application/xmpp+xml; charset=utf-8";

/** Long enough to recognise a message in a list, short enough to fit one line of a client. */
const SUBJECT_FROM_BODY_MAX = 60;

export interface RenderOptions {
  /** Right-hand side of generated Message-IDs: the component domain. */
  readonly domain: string;
}

export interface RenderedMail {
  readonly messageId: string;
  readonly bytes: Buffer;
}

export async function renderMail(record: ArchiveRecord, options: RenderOptions): Promise<RenderedMail> {
  const messageId = messageIdFor(record, options.domain);
  const threadId = record.thread ? threadIdFor(record.thread, options.domain) : undefined;
  const composer = new MailComposer({
    from: address(record.from),
    to: address(record.to),
    subject: subjectOf(record),
    date: record.time,
    messageId,
    ...(threadId ? { inReplyTo: threadId, references: [threadId] } : {}),
    headers: {
      "X-XMPP-Type": record.type,
      "X-XMPP-From": headerSafe(full(record.from)),
      // RFC 7259: the sender's XMPP address, which mail clients may offer to chat with.
      "Jabber-ID": headerSafe(bare(record.from)),
    },
    // MailComposer drops a text part whose content is "" (it tests truthiness), which would turn
    // the mail into a lone application/xmpp+xml attachment. An empty Buffer keeps the part.
    text: record.body === "" ? Buffer.alloc(0) : record.body,
    // Quoted-printable keeps mostly-ASCII chat text readable in the raw file and in grep.
    textEncoding: "quoted-printable",
    alternatives: [
      {
        contentType: XMPP_CONTENT_TYPE,
        content: record.xml,
        contentTransferEncoding: "quoted-printable",
      },
    ],
  });
  const bytes = await build(composer);
  return { messageId, bytes };
}

function build(composer: MailComposer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    composer.compile().build((err, message) => (err ? reject(err) : resolve(message)));
  });
}

/** The <subject/>, else the first line of the body, cut short. Never a CR or LF (RFC 5322 §2.2). */
export function subjectOf(record: ArchiveRecord): string {
  const subject = headerSafe(record.subject ?? "");
  if (subject) return subject;
  const firstLine = headerSafe(record.body.split(/\r\n|\r|\n/).find((line) => line.trim()) ?? "");
  return firstLine.length > SUBJECT_FROM_BODY_MAX ? `${[...firstLine].slice(0, SUBJECT_FROM_BODY_MAX).join("")}…` : firstLine;
}

// Controls (CR, LF, NUL, …) would end or corrupt a header line; turn any run of them into a space.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f]+/g;

export function headerSafe(value: string): string {
  return value.replace(CONTROLS, " ").trim();
}

/**
 * A JID as a mail address. A server JID (no local part) is not an address, so it becomes
 * postmaster@domain (RFC 5321 §4.5.1) with the JID as the display name.
 */
function address(jid: Jid): { name: string; address: string } {
  return jid.local
    ? { name: "", address: headerSafe(`${jid.local}@${jid.domain}`) }
    : { name: headerSafe(jid.domain), address: `postmaster@${headerSafe(jid.domain)}` };
}
