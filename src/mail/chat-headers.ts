// The headers that make chat history read as conversations in a mail client:
//   threads: References/In-Reply-To (RFC 5322 §3.6.4) to one synthetic root per <thread/>, or,
//     without one, per conversation (the two bare JIDs, or the room) and UTC day;
//   corrections (XEP-0308) and retractions (XEP-0424): In-Reply-To the original, plus the
//     chat-over-email headers Chat-Edit / Chat-Delete naming it (as Delta Chat does);
//   Chat-Version: 1.0 (COI / Delta Chat), so chat-over-email clients show the mail as a chat;
//   for group chat, Chat-Group-ID and Chat-Group-Name.
import { bare, bareJid } from "../jid.js";
import type { ArchiveRecord } from "../capture/index.js";
import { hashId, messageIdFor, threadIdFor } from "./message-id.js";
import { headerSafe } from "./safe.js";

export interface ChatHeaders {
  readonly inReplyTo: string | undefined;
  readonly references: string[];
  readonly headers: Record<string, string>;
}

/** The conversation's synthetic root for one day: the same in both participants' mailboxes. */
export function dayThreadIdFor(record: ArchiveRecord, domain: string): string {
  const day = record.time.toISOString().slice(0, 10);
  const who = record.type === "groupchat" ? bare(record.from) : [bare(record.from), bare(record.to)].sort().join("\0");
  return `<day.${hashId(`day\0${who}\0${day}`)}@${domain}>`;
}

/**
 * The Message-ID of the message a correction or retraction refers to, when the archive does not
 * know it: the referring message comes from the same sender (XEP-0308 §5, XEP-0424 §4), and a
 * client that sets origin-id sets it to the same value as the id it refers to.
 */
export function guessRelatedId(record: ArchiveRecord, id: string, domain: string): string {
  // XEP-0425: a moderation names the room's stanza-id, and comes from the room's bare JID.
  if (record.chat.moderation) return messageIdFor({ ...record, ids: { originId: undefined, stanzaId: { id, by: bare(record.from) }, id: undefined } }, domain);
  const ids = record.ids.originId ? { originId: id, stanzaId: undefined, id: undefined } : { originId: undefined, stanzaId: undefined, id };
  return messageIdFor({ ...record, ids }, domain);
}

export function chatHeaders(record: ArchiveRecord, options: { domain: string; related?: string | undefined; replyTo?: string | undefined }): ChatHeaders {
  const root = record.thread ? threadIdFor(record.thread, options.domain) : dayThreadIdFor(record, options.domain);
  const headers: Record<string, string> = { "Chat-Version": "1.0" };
  const target = record.chat.replaces ?? record.chat.retracts;
  let related: string | undefined;
  if (target) {
    related = options.related ?? guessRelatedId(record, target, options.domain);
    headers[record.chat.replaces ? "Chat-Edit" : "Chat-Delete"] = related;
  } else if (record.chat.reaction && options.related) {
    // RFC 9078 §2: a reaction is In-Reply-To the message it reacts to (stored only when known).
    related = options.related;
  }
  if (record.type === "groupchat") {
    headers["Chat-Group-ID"] = headerSafe(bare(bareJid(record.from)));
    headers["Chat-Group-Name"] = headerSafe(record.from.local || record.from.domain);
  }
  // XEP-0461: a reply's parent is the message it answers, found in the archive (never guessed).
  const parent = related ?? options.replyTo;
  return { inReplyTo: parent ?? root, references: parent ? [root, parent] : [root], headers };
}

