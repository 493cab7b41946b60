// What a reply (XEP-0461) and a moderator's retraction (XEP-0425) look like in the text part.
//   A reply's sender put a quote of the replied message at the start of the body and marked it as
//   an XEP-0428 fallback. The mail shows that quote once, as a mail quote ("> …" lines, as
//   RFC 3676 §4.5 clients display them), followed by what the sender wrote; the Subject comes from
//   what they wrote, not from the quote. The application/xmpp+xml part keeps the body as sent.
//   A moderation has no body: the text says who retracted what, and why, when the room said so.
import type { ArchiveRecord } from "../capture/index.js";

export interface TextView {
  /** The record with the body a person should read (the reply without its quote, or the moderation notice). */
  readonly record: ArchiveRecord;
  /** The reply's quote as "> " lines, shown above the text; undefined when there is none. */
  readonly quote: string | undefined;
}

export function textView(record: ArchiveRecord): TextView {
  const { reply, moderation } = record.chat;
  // An encrypted message's body is only a fallback sentence; its reply, if any, is inside the ciphertext.
  if (record.encryption) return { record, quote: undefined };
  if (moderation && record.body.trim() === "") return { record: { ...record, body: moderationText(moderation) }, quote: undefined };
  if (!reply?.fallback || reply.fallback.quote.trim() === "") return { record, quote: undefined };
  return { record: { ...record, body: reply.fallback.rest.replace(/^\s*\n/, "") }, quote: asQuote(reply.fallback.quote) };
}

/** Every line of the fallback as a quoted line; lines the sender already quoted stay as they are. */
function asQuote(fallback: string): string {
  const lines = fallback.replace(/\s+$/, "").split(/\r\n|\r|\n/);
  return lines.map((line) => (line.startsWith(">") ? line : `> ${line}`)).join("\n");
}

function moderationText(moderation: NonNullable<ArchiveRecord["chat"]["moderation"]>): string {
  const nick = moderation.by?.split("/").slice(1).join("/");
  const who = nick ? `A moderator (${nick})` : "A moderator";
  return `(${who} retracted an earlier message in this room.${moderation.reason ? ` Reason: ${moderation.reason}` : ""})`;
}
