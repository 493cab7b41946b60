// The XEP-0359 stanza-id as a header, "ID; by=JID": written on chat mail, read back by the
// message index (maildir/message-index.ts) when it rebuilds itself from the header blocks.
import type { ArchiveRecord, MessageIds } from "../capture/index.js";
import { bare } from "../jid.js";
import { headerSafe } from "./safe.js";

export const STANZA_ID_HEADER = "X-XMPP-Stanza-ID";

export function stanzaIdHeader(stanzaId: NonNullable<MessageIds["stanzaId"]>): string {
  return `${headerSafe(stanzaId.id).replace(/;/g, "")}; by=${headerSafe(stanzaId.by)}`;
}

/** In a room message with several stanza-ids, the room's (the one replies and moderation name). */
export function roomStanzaId(record: ArchiveRecord): MessageIds["stanzaId"] {
  return record.type === "groupchat" ? record.ids.stanzaIds?.find((s) => s.by === bare(record.from)) : undefined;
}

/** The header's id and by, or undefined when it is not one of ours. */
export function parseStanzaIdHeader(value: string | undefined): { id: string; by: string } | undefined {
  const match = /^(.+); by=(\S+)$/.exec(value?.trim() ?? "");
  return match ? { id: match[1]!, by: match[2]! } : undefined;
}
