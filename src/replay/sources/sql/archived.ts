// A row of a server's archive or offline store → the record live capture would have made of the
// same message, with the same placement (capture/placement.ts, docs/chat-history.md):
//   offline store → reason offline → INBOX, unseen;
//   archive, sent by the owner (type chat) → reason sent → the chats folder, seen;
//   archive, received chat → reason chat → the chats folder, seen; received normal → INBOX;
//   archive, groupchat → the chats folder's room subfolder, seen.
// Parsing is capture's own recordFromMessage, so the Message-ID is the one live capture gives.
import xml, { type Element } from "@xmpp/xml";
import { placementFor, recordFromMessage, type CaptureReason } from "../../../capture/index.js";
import { BadAddressError, MalformedError, RefusedError } from "../../../errors.js";
import { bare, bareJid, parseJid, type Jid } from "../../../jid.js";
import { parseStanzaXml } from "../../../mail/index.js";
import { NS_SID } from "../../../namespaces.js";
import type { Domains } from "../../owner.js";
import { REPLAY_MAX_STANZA_BYTES } from "../../records.js";
import type { ArchivedRow, Loaded, SourceEntry } from "../../types.js";

export type { ArchivedRow } from "../../types.js";

/** The chats folder of live chat history (--chats-folder's default). */
export const CHATS_FOLDER = "Chats";

export function archivedEntry(row: ArchivedRow, domains: Domains): SourceEntry {
  return {
    key: row.key,
    time: row.time,
    tiebreak: row.tiebreak,
    folder: "INBOX",
    owner: row.owner,
    location: row.location,
    load: async () => loadArchived(row, domains),
    // The row is plain data: a render worker can run loadArchived itself (replay/targets/render-pool.ts).
    portable: { loader: "archived", row, domains },
  };
}

/** The row's message as live capture would archive it; run on the main thread or a render worker. */
export function loadArchived(row: ArchivedRow, domains: Domains): Loaded {
  const { owner, location } = row;
  if (domains.userDomain && owner.domain !== domains.userDomain.toLowerCase()) {
    throw new MalformedError(location, `user ${bare(owner)} is outside the user domain ${domains.userDomain} (--user-domain)`);
  }
  let message: Element;
  try {
    message = parseStanzaXml(row.xml);
  } catch (err) {
    throw new MalformedError(location, `the stanza is not well-formed XML (${(err as Error).message})`);
  }
  if (message.name !== "message") return { kind: "skip", reason: `not a message (<${message.name}/>)` };
  const ownerBare = bare(owner);
  // What a client sent is stored as sent: without from/to it is from/to the account itself
  // (RFC 6120 §8.1.2.1, §8.1.1.1).
  message.attrs.from ??= ownerBare;
  message.attrs.to ??= ownerBare;
  const type = message.attrs.type ?? "normal";
  const parsedFrom = parseJid(message.attrs.from);
  if (!parsedFrom) throw new MalformedError(location, `the stanza's from '${String(message.attrs.from)}' is not a JID`);
  const from = bareJid(parsedFrom);
  const sent = row.store === "archive" && bare(from) === ownerBare && type !== "groupchat";
  // A room's messages carry the room's stanza-id, not the owner's archive id: left as stored.
  if (row.archiveId !== undefined && !sent && type !== "groupchat") addStanzaId(message, ownerBare, row.archiveId);
  const reason: CaptureReason = row.store === "offline" ? "offline" : type === "groupchat" ? "groupchat" : sent ? "sent" : type === "chat" ? "chat" : "normal";
  if (sent && type !== "chat") return { kind: "skip", reason: `sent ${type} messages are not archived` };
  try {
    const result = recordFromMessage({
      message,
      owner,
      reason,
      fallbackTime: row.time,
      maxBytes: REPLAY_MAX_STANZA_BYTES,
      direction: sent ? "out" : "in",
      allowGroupchat: true,
    });
    if (result.kind !== "archive") return { kind: "skip", reason: result.kind === "skip" ? result.reason : "a receipt or marker" };
    const record = result.record;
    const room = record.type === "groupchat" ? from : undefined;
    const placement = placementFor({ reason, type: record.type, room, userDomain: owner.domain, encrypted: !!record.encryption }, { chatsFolder: CHATS_FOLDER, keywords: false });
    return { kind: "record", record: { ...record, placement } };
  } catch (err) {
    if (err instanceof BadAddressError) throw new MalformedError(location, err.message);
    if (err instanceof RefusedError) return { kind: "skip", reason: err.message };
    throw err;
  }
}

function addStanzaId(message: Element, by: string, id: string): void {
  const to = message.attrs.to?.split("/")[0]?.toLowerCase();
  if (to !== by) return;
  if (message.getChildren("stanza-id", NS_SID).some((el) => el.attrs.by === by)) return;
  message.append(xml("stanza-id", { xmlns: NS_SID, by, id }));
}

/**
 * The XEP-0359 stanza-ids a stored stanza carries for its owner ("by" = the owner's bare JID), as
 * `owner\0id` keys. The server's MAM module gives a message its archive id before the offline
 * module stores it, so an offline row and the archive row of the same message share this id.
 */
export function ownerStanzaIds(xmlText: string, ownerBare: string): string[] {
  const keys: string[] = [];
  for (const tag of xmlText.match(/<stanza-id\b[^>]*>/g) ?? []) {
    const by = /\bby=(?:"([^"]*)"|'([^']*)')/.exec(tag);
    const id = /\bid=(?:"([^"]*)"|'([^']*)')/.exec(tag);
    const byValue = by?.[1] ?? by?.[2];
    const idValue = id?.[1] ?? id?.[2];
    if (byValue?.toLowerCase() === ownerBare && idValue) keys.push(`${ownerBare}\0${idValue}`);
  }
  return keys;
}

/** An archive row whose message is still waiting offline: live capture files it in INBOX only. */
export function waitingOffline(row: { key: string; location: string; owner: Jid }): SourceEntry {
  return {
    key: row.key,
    time: undefined,
    tiebreak: 0,
    folder: "INBOX",
    owner: row.owner,
    location: row.location,
    load: async () => ({ kind: "skip", reason: "still in the offline store (imported from there, into INBOX)" }),
  };
}
