// Stable Message-IDs (RFC 5322 §3.6.4): the same stanza always yields the same id, so a copy that
// arrives twice, a replay, or an import can be recognised as the message already archived.
import { createHash } from "node:crypto";
import { bare } from "../jid.js";
import type { ArchiveRecord } from "../capture/index.js";

/** 128 bits of SHA-256: collisions are not a practical concern, and the id stays short. */
const HASH_HEX_LENGTH = 32;

export function messageIdFor(record: ArchiveRecord, domain: string): string {
  return messageIdOf({ sender: bare(record.from), ids: record.ids, xml: record.xml, type: record.type }, domain);
}

/** The Message-ID for a sender's (bare JID) message with these ids; `xml` only when it has none. */
export function messageIdOf(input: { sender: string; ids: ArchiveRecord["ids"]; xml?: string; type?: string }, domain: string): string {
  const { ids, sender } = input;
  const stanzaIds = ids.stanzaIds ?? (ids.stanzaId ? [ids.stanzaId] : []);
  // XEP-0359 §3: origin-id is unique per sender, stanza-id per the assigning entity ('by').
  // In a room, the room's own stanza-id (by = the room, the sender's bare JID here) names the
  // message for every occupant (XEP-0461 §4, XEP-0425).
  // One-to-one, a stanza-id is the id of one copy in one user's archive, and whether a copy
  // carries it depends on where the server's hooks stand: ejabberd's mod_mam puts it on what a
  // user sends before our module copies it, but on what a user receives only after. An import
  // from the archive cannot know which, so the sender's id attribute comes first: then the live
  // copy and the imported one (and the sender's and the recipient's copies) get the same
  // Message-ID. A stanza-id is used only when there is no id at all, and without even that the
  // stanza's own bytes are the only stable thing left.
  const roomStanzaId = input.type === "groupchat" ? (stanzaIds.find((s) => s.by === sender) ?? stanzaIds[0]) : undefined;
  const key = ids.originId
    ? `origin-id\0${sender}\0${ids.originId}`
    : roomStanzaId
      ? `stanza-id\0${roomStanzaId.by}\0${roomStanzaId.id}`
      : ids.id
        ? `id\0${sender}\0${ids.id}`
        : ids.stanzaId
          ? `stanza-id\0${ids.stanzaId.by}\0${ids.stanzaId.id}`
          : `xml\0${input.xml ?? ""}`;
  return `<${hash(key)}@${domain}>`;
}

/** The same 128-bit digest, for other synthetic ids (conversation roots). */
export function hashId(key: string): string {
  return hash(key);
}

/** A synthetic Message-ID that every message of one <thread/> references (RFC 5322 §3.6.4). */
export function threadIdFor(thread: string, domain: string): string {
  return `<thread.${hash(`thread\0${thread}`)}@${domain}>`;
}

function hash(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, HASH_HEX_LENGTH);
}
