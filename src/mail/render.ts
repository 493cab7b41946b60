// ArchiveRecord → RFC 5322 bytes: a multipart/alternative (RFC 2046 §5.1.4) whose first part is
// the plain text any mail client shows, and whose last part is the original stanza as
// application/xmpp+xml (RFC 3923 §9), so nothing is lost and an archive can be replayed.
// What goes into the mail is decided here, as a MailSpec (./mail-spec.ts: MailComposer's options);
// ./mime-writer.ts writes it straight into bytes, the headers and parts as nodemailer's
// MailComposer writes them (its RFC 2047 words, address rules, folding and quoted-printable, byte
// for byte but for the random boundary), without building a MIME tree. A shape the writer does not
// take on (rare attachment types, odd addresses) goes to MailComposer itself (./composer.ts).
import { bare, bareJid, full, type Jid } from "../jid.js";
import { XMPP_MEDIA_TYPE } from "../namespaces.js";
import type { ArchiveRecord } from "../capture/index.js";
import { chatHeaders } from "./chat-headers.js";
import { composeMail } from "./composer.js";
import { ENCRYPTION_HEADER, encryptedSubject, encryptedText } from "./encrypted.js";
import { fileParts, withFileLines } from "./files.js";
import { messageIdFor, threadIdFor } from "./message-id.js";
import { textView } from "./reply.js";
import { richParts } from "./rich.js";
import { headerSafe } from "./safe.js";
import { roomStanzaId, STANZA_ID_HEADER, stanzaIdHeader } from "./stanza-id.js";
import type { MailShape, MailSpec } from "./mail-spec.js";
import { writeMail } from "./mime-writer.js";

export { headerSafe };

export const XMPP_CONTENT_TYPE = `${XMPP_MEDIA_TYPE}; charset=utf-8`;

/** Long enough to recognise a message in a list, short enough to fit one line of a client. */
const SUBJECT_FROM_BODY_MAX = 60;

export interface RenderOptions {
  /** Right-hand side of generated Message-IDs: the component domain. */
  readonly domain: string;
  /**
   * With chat history (docs/chat-history.md): chat-over-email headers and conversation threads on
   * chats, and rich content (HTML, links, attachments) on every mail. Absent: the mail as before.
   */
  readonly chat?: { readonly maxAttachmentBytes: number };
  /** The Message-ID of the message a correction or retraction refers to, when the archive has it. */
  readonly related?: string | undefined;
  /** The Message-ID of the message a reply (XEP-0461) answers, when the archive has it. */
  readonly replyTo?: string | undefined;
}

export interface RenderedMail {
  readonly messageId: string;
  readonly bytes: Buffer;
}

export async function renderMail(record: ArchiveRecord, options: RenderOptions): Promise<RenderedMail> {
  const { messageId, spec, shape } = mailSpec(record, options);
  return { messageId, bytes: writeMail(spec, shape) ?? composeMail(spec, shape) };
}

/** The same mail through MailComposer (./composer.ts): the reference for tests and bench/mime.ts. */
export async function renderMailComposed(record: ArchiveRecord, options: RenderOptions): Promise<RenderedMail> {
  const { messageId, spec, shape } = mailSpec(record, options);
  return { messageId, bytes: composeMail(spec, shape) };
}

export function mailSpec(record: ArchiveRecord, options: RenderOptions): { messageId: string; spec: MailSpec; shape: MailShape } {
  const messageId = messageIdFor(record, options.domain);
  const chat = options.chat && record.type !== "normal" ? chatHeaders(record, options) : undefined;
  const threadId = record.thread ? threadIdFor(record.thread, options.domain) : undefined;
  const threading = chat
    ? { ...(chat.inReplyTo ? { inReplyTo: chat.inReplyTo } : {}), references: chat.references }
    : threadId ? { inReplyTo: threadId, references: [threadId] } : {};
  const { encryption } = record;
  const reaction = record.chat.reaction;
  // An encrypted message's links and HTML, if any, belong to its fallback, not to the message.
  // A reply shows its fallback quote once, above what was written; a moderation says what happened.
  const view = textView(record);
  const rich = options.chat && !encryption && !reaction ? richParts(view.record, options.chat) : undefined;
  // Files fetched with --upload-origins (./files.ts): attachments, and a line each in the text.
  const files = fileParts(record);
  const shown = withFileLines(encryption ? encryptedText(record, encryption) : (rich?.text ?? view.record.body), files.lines);
  // RFC 9078 §2: a reaction's text is the emoji (none: the sender took their reaction back).
  // RFC 2045 §2.10/RFC 2046 §4.1.1: a text part's line breaks are CRLF, and a bare CR may not
  // appear. Chat text may hold one (XML keeps a CR written as &#13;), and a 7bit part would then
  // carry it raw, which parsers read differently; each CR, LF or CRLF is one line break here. The
  // application/xmpp+xml part keeps the exact characters.
  const text = (reaction ? reaction.emojis.join(" ") : view.quote ? `${view.quote}\n${shown}` : shown).replace(/\r\n?/g, "\n");
  // The owner's own room message (the module marks its reflection): from the owner's address, as
  // the user's own mail is, so chat-over-email clients show it as outgoing; to the room.
  const ownRoom = record.type === "groupchat" && record.direction === "out";
  const spec: MailSpec = {
    from: ownRoom ? { name: headerSafe(record.from.resource), address: headerSafe(bare(record.owner)) } : address(record.from, record.type === "groupchat"),
    to: address(ownRoom ? bareJid(record.from) : record.to),
    // A room's speakers share its address: Sender names the room, From the speaker (the shape
    // Delta Chat gives an overridden sender name, and reads back per message: docs/chat-history.md).
    ...(chat && record.type === "groupchat" ? { sender: address(bareJid(record.from)) } : {}),
    subject: reaction ? reactionSubject(reaction.emojis) : subjectOf(rich ? { ...view.record, body: shown } : view.record),
    date: record.time,
    messageId,
    ...threading,
    headers: {
      "X-XMPP-Type": record.type,
      "X-XMPP-From": headerSafe(full(record.from)),
      // RFC 7259: the sender's XMPP address, which mail clients may offer to chat with.
      "Jabber-ID": headerSafe(bare(record.from)),
      // The stanza's own id: receipts and markers refer to it (XEP-0184 §4), so the flag index
      // can find this mail again by reading headers only.
      ...(options.chat && record.ids.id ? { "X-XMPP-ID": headerSafe(record.ids.id) } : {}),
      // The id a room (or the user's server) assigned (XEP-0359): replies and moderation in a room
      // name it (XEP-0461 §4, XEP-0425), so the index can find this mail again after a restart.
      ...(options.chat && record.ids.stanzaId ? { [STANZA_ID_HEADER]: stanzaIdHeader(roomStanzaId(record) ?? record.ids.stanzaId) } : {}),
      ...chat?.headers,
      ...(encryption ? { [ENCRYPTION_HEADER]: encryption.scheme } : {}),
    },
    // MailComposer drops a text part whose content is "" (it tests truthiness), which would turn
    // the mail into a lone application/xmpp+xml attachment. An empty Buffer keeps the part.
    text: text === "" ? Buffer.alloc(0) : text,
    // Quoted-printable keeps mostly-ASCII chat text readable in the raw file and in grep.
    textEncoding: "quoted-printable",
    // RFC 2046 §5.1.4: alternatives go from plainest to richest; the stanza part stays last so
    // replay finds it where it always was, and clients that cannot show it pick the HTML.
    ...(rich?.html ? { html: rich.html } : {}),
    alternatives: [
      {
        contentType: XMPP_CONTENT_TYPE,
        content: record.xml,
        contentTransferEncoding: "quoted-printable",
      },
    ],
    ...((rich && rich.attachments.length > 0) || files.attachments.length > 0
      ? {
          // The shape, and what every client shows as attachments: multipart/mixed around
          // the alternative. The Content-ID still lets the HTML's cid: images resolve (RFC 2392
          // names any body part of the message); a `cid` option would make nodemailer hide them
          // in a multipart/related inside the alternative instead.
          attachments: [
            ...(rich?.attachments ?? []).map((a) => ({
              contentType: a.contentType,
              content: a.content,
              filename: a.filename,
              contentDisposition: a.contentType.startsWith("image/") ? ("inline" as const) : ("attachment" as const),
              headers: { "Content-ID": `<${a.cid}>` },
            })),
            ...files.attachments.map((a) => ({ ...a, contentDisposition: "attachment" as const })),
          ],
        }
      : {}),
  };
  const edit = chat?.headers["Chat-Edit"];
  return { messageId, spec, shape: { hidden: edit ? { "Chat-Edit": edit } : undefined, reaction: Boolean(reaction) } };
}

function reactionSubject(emojis: readonly string[]): string {
  return emojis.length > 0 ? `Reaction: ${emojis.join(" ")}` : "Reaction removed";
}

/** For encrypted messages, the scheme; else the <subject/>, else the first line of the body, cut short. Never a CR or LF (RFC 5322 §2.2). */
export function subjectOf(record: ArchiveRecord): string {
  // Never the sender's fallback sentence, nor a <subject/> sent in the clear beside the ciphertext.
  if (record.encryption) return encryptedSubject(record.encryption);
  const subject = headerSafe(record.subject ?? "");
  if (subject) return subject;
  const firstLine = headerSafe(record.body.split(/\r\n|\r|\n/).find((line) => line.trim()) ?? "");
  // Code points, not UTF-16 units; the first SUBJECT_FROM_BODY_MAX of them lie within twice as
  // many units, so only that much is split (a chat line may be kilobytes long).
  return firstLine.length > SUBJECT_FROM_BODY_MAX ? `${[...firstLine.slice(0, 2 * SUBJECT_FROM_BODY_MAX)].slice(0, SUBJECT_FROM_BODY_MAX).join("")}…` : firstLine;
}

/**
 * A JID as a mail address. A server JID (no local part) is not an address, so it becomes
 * postmaster@domain (RFC 5321 §4.5.1) with the JID as the display name.
 */
function address(jid: Jid, occupant = false): { name: string; address: string } {
  // XEP-0045 §7.4: a room message comes from room@service/nick; the nick is who said it.
  if (occupant && jid.local) return { name: headerSafe(jid.resource), address: headerSafe(`${jid.local}@${jid.domain}`) };
  return jid.local
    ? { name: "", address: headerSafe(`${jid.local}@${jid.domain}`) }
    : { name: headerSafe(jid.domain), address: `postmaster@${headerSafe(jid.domain)}` };
}
