// A stanza's XML (from a mail part, a Prosody store, an NDJSON line) → the same ArchiveRecord live
// capture builds, through capture's own recordFromMessage, so a re-rendered mail is the same mail.
import type { Element } from "@xmpp/xml";
import { recordFromMessage, type CaptureReason } from "../capture/index.js";
import { BadAddressError, MalformedError, RefusedError } from "../errors.js";
import { parseJid, type Jid } from "../jid.js";
import { parseStanzaXml } from "../mail/index.js";
import { inferOwner, type Domains } from "./owner.js";
import type { Loaded } from "./types.js";

/**
 * Far above any archived stanza (live capture refuses big ones at its own limit); a replay must not
 * refuse what is already archived, only guard against a runaway file.
 */
export const REPLAY_MAX_STANZA_BYTES = 64 * 1024 * 1024;

export interface RecordFacts {
  readonly location: string;
  readonly owner: Jid | undefined;
  readonly reason: CaptureReason;
  /** The time when the stanza carries no XEP-0203 delay (the Date header, Prosody's `when`). */
  readonly fallbackTime: Date;
  readonly domains: Domains;
}

export function loadStanzaXml(xmlText: string, facts: RecordFacts): Loaded {
  let message: Element;
  try {
    message = parseStanzaXml(xmlText);
  } catch (err) {
    throw new MalformedError(facts.location, `the stanza is not well-formed XML (${(err as Error).message})`);
  }
  return loadStanza(message, facts);
}

export function loadStanza(message: Element, facts: RecordFacts): Loaded {
  if (message.name !== "message") return { kind: "skip", reason: `not a message (<${message.name}/>)` };
  const to = parseJid(message.attrs.to);
  const owner = facts.owner ?? (to ? inferOwner(to, facts.domains) : undefined);
  if (!owner) throw new MalformedError(facts.location, "the stanza has no valid 'to' and the source names no owner");
  // Built as a variable, not a literal, so this compiles whether or not MessageFacts has grown
  // more (optional) fields; maxBytes is the archiver's size limit.
  const input = { message, owner, reason: facts.reason, fallbackTime: facts.fallbackTime, maxBytes: REPLAY_MAX_STANZA_BYTES };
  try {
    const result = recordFromMessage(input);
    if (result.kind === "archive") return { kind: "record", record: result.record };
    // Replay passes no direction, so capture never turns a stanza into a flag change ("mark") here.
    return { kind: "skip", reason: result.kind === "skip" ? result.reason : "a receipt or marker" };
  } catch (err) {
    if (err instanceof BadAddressError) throw new MalformedError(facts.location, err.message);
    // Types live capture never archives (groupchat, headline): not an error in an old archive.
    if (err instanceof RefusedError) return { kind: "skip", reason: err.message };
    throw err;
  }
}
