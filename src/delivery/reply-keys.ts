// Where a reply's original may be in the message index (XEP-0461 §2, §4): in a room, under the
// stanza-id the room gave it; in a one-to-one chat, under its author's id or origin-id, or the
// stanza-id the user's own server gave it (clients that reply by MAM id). The author is the
// reply's 'to'; a client that leaves it out can only mean one of the two participants.
import type { ArchiveRecord, Reply } from "../capture/index.js";
import { bare, parseJid } from "../jid.js";
import { messageIdOf } from "../mail/index.js";
import { idKey, stanzaIdKey } from "../maildir/index.js";

export function replyKeys(record: ArchiveRecord, reply: Reply, domain: string): string[] {
  const none = { originId: undefined, stanzaId: undefined, id: undefined };
  if (record.type === "groupchat") {
    const room = bare(record.from);
    return [stanzaIdKey(room, reply.id), messageIdOf({ sender: room, ids: { ...none, stanzaId: { id: reply.id, by: room } } }, domain)];
  }
  const author = parseJid(reply.to);
  const authors = author ? [bare(author)] : [bare(record.from), bare(record.to)];
  return [
    ...authors.flatMap((a) => [
      idKey(a, reply.id),
      messageIdOf({ sender: a, ids: { ...none, originId: reply.id } }, domain),
      messageIdOf({ sender: a, ids: { ...none, id: reply.id } }, domain),
    ]),
    stanzaIdKey(bare(record.owner), reply.id),
  ];
}
