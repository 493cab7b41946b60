// Stable Message-IDs (RFC 5322 §3.6.4): the same stanza always yields the same id, so a copy that
// arrives twice, a replay, or an import can be recognised as the message already archived.
import { createHash } from "node:crypto";
import { bare } from "../jid.js";
import type { ArchiveRecord } from "../capture/index.js";

/** 128 bits of SHA-256: collisions are not a practical concern, and the id stays short. */
const HASH_HEX_LENGTH = 32;

export function messageIdFor(record: ArchiveRecord, domain: string): string {
  return messageIdOf({ sender: bare(record.from), ids: record.ids, xml: record.xml }, domain);
}

/** The Message-ID for a sender's (bare JID) message with these ids; `xml` only when it has none. */
export function messageIdOf(input: { sender: string; ids: ArchiveRecord["ids"]; xml?: string }, domain: string): string {
  const { ids, sender } = input;
  // XEP-0359 §3: origin-id is unique per sender, stanza-id per the assigning entity ('by').
  // Where neither exists, the id attribute is only unique per sender, and without even that
  // the stanza's own bytes are the only stable thing left.
  const key = ids.originId
    ? `origin-id\0${sender}\0${ids.originId}`
    : ids.stanzaId
      ? `stanza-id\0${ids.stanzaId.by}\0${ids.stanzaId.id}`
      : ids.id
        ? `id\0${sender}\0${ids.id}`
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
