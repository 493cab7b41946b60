// Reads what the archive needs out of one <message/> element. Pure: no I/O, no clock.
import xml, { type Element } from "@xmpp/xml";
import { BadAddressError, RefusedError } from "../errors.js";
import { bareJid, type Jid, parseJid } from "../jid.js";
import { NS_CLIENT, NS_DELAY, NS_SID } from "../namespaces.js";
import { readChatFacts } from "./chat.js";
import { readEncryption } from "./encryption.js";
import { readShares } from "./shares.js";
import { malformedModeration } from "./reply.js";
import { INBOX, type ArchiveRecord, type CaptureReason, type CaptureResult, type MessageIds } from "./record.js";
import { MARK_KEYWORDS } from "./placement.js";
import type { EncryptedPolicy } from "./settings.js";

export interface MessageFacts {
  readonly message: Element;
  readonly owner: Jid;
  readonly reason: CaptureReason;
  /** The time to use when the message has no XEP-0203 delay of its own. */
  readonly fallbackTime: Date;
  readonly maxBytes: number;
  /** "out" when the owner sent the message (a `sent` copy). Default "in". */
  readonly direction?: "in" | "out";
  /** Archive type=groupchat too (a `groupchat` copy with --groupchat). Default false. */
  readonly allowGroupchat?: boolean;
  /** --encrypted: archive end-to-end encrypted messages (the default) or confirm them unstored. */
  readonly encrypted?: EncryptedPolicy;
}

/** Turns a validated message into a record, or a skip when there is nothing to archive. */
export function recordFromMessage(facts: MessageFacts): CaptureResult {
  const { message, owner, reason } = facts;
  const type = message.attrs.type ?? "normal";
  if (type !== "chat" && type !== "normal" && !(type === "groupchat" && facts.allowGroupchat)) {
    throw new RefusedError(`message of type '${type}' is not archived`, { type: "cancel", condition: "bad-request" });
  }
  const from = requireJid(message.attrs.from, "from");
  const to = requireJid(message.attrs.to, "to");
  const direction = facts.direction ?? "in";
  if (nestingDepth(message) > MAX_NESTING) {
    throw new RefusedError(`message nested deeper than ${MAX_NESTING} elements`, { type: "modify", condition: "policy-violation" });
  }
  const chat = readChatFacts(message);
  const bodyEl = message.getChild("body");
  const encryption = readEncryption(message);
  if (encryption) {
    // XEP-0384 and XEP-0373 messages need no <body/>: the ciphertext is the message. One without a
    // payload and without a body is an OMEMO key transport element (session set-up, heartbeat) or
    // a broken one: nothing a person wrote, so it is confirmed and not stored. With a body it is
    // stored, named as encrypted, like any other.
    if (!encryption.payload && !bodyEl && !chat.retracts) return { kind: "skip", reason: `${encryption.name} element without a payload (key transport)` };
    if (facts.encrypted === "skip") return { kind: "skip", reason: `${encryption.name} encrypted message (--encrypted skip)` };
  }
  // A reaction (XEP-0444) needs no <body/>: the emojis are the message.
  if (!bodyEl && !chat.retracts && !encryption && !chat.reaction) {
    // A receipt or marker the owner sent flags the original in the owner's archive (XEP-0184,
    // XEP-0333); one the owner received says something about the peer's archive, not ours.
    if (chat.marker && direction === "out" && type !== "groupchat") {
      const seen = chat.marker.kind === "displayed";
      return {
        kind: "mark",
        mark: { owner, peer: bareJid(to), id: chat.marker.id, seen, keywords: seen ? [] : [MARK_KEYWORDS.mdnSent] },
      };
    }
    // RFC 6121 §5.2.3: without a body there is no human-readable content (chat states, receipts).
    return { kind: "skip", reason: chat.marker ? "marker for a message the owner sent" : (malformedModeration(message) ?? "no body") };
  }
  const xmlText = standaloneXml(message);
  const size = Buffer.byteLength(xmlText);
  if (size > facts.maxBytes) {
    throw new RefusedError(`message of ${size} bytes is over the ${facts.maxBytes}-byte limit`, { type: "modify", condition: "policy-violation" });
  }
  const shares = readShares(message);
  const record: ArchiveRecord = {
    owner,
    from,
    to,
    type,
    direction,
    body: bodyEl?.text() ?? "",
    subject: message.getChild("subject")?.text(),
    thread: message.getChild("thread")?.text(),
    ids: readIds(message),
    time: delayStamp(message) ?? facts.fallbackTime,
    xml: xmlText,
    reason,
    chat,
    ...(encryption ? { encryption } : {}),
    placement: INBOX,
    ...(shares.length > 0 ? { shares } : {}),
  };
  return { kind: "archive", record };
}

/**
 * Real stanzas nest a dozen levels at most (XHTML-IM included). Far deeper trees only serve to
 * exhaust the stack of recursive code (serialisers, ours and the libraries').
 */
const MAX_NESTING = 128;

/** Depth of the element tree, walked without recursion so a hostile tree cannot overflow it. */
function nestingDepth(root: Element): number {
  let max = 0;
  const stack: Array<[Element, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [el, depth] = stack.pop()!;
    if (depth > max) max = depth;
    if (max > MAX_NESTING) return max;
    for (const child of el.children) if (typeof child !== "string") stack.push([child, depth + 1]);
  }
  return max;
}

export function requireJid(value: string | undefined, attr: string): Jid {
  const jid = parseJid(value);
  if (!jid) throw new BadAddressError(`'${attr}' is missing or not a valid JID`);
  return jid;
}

function readIds(message: Element): MessageIds {
  const origin = message.getChild("origin-id", NS_SID)?.attrs.id;
  const stanza = message.getChild("stanza-id", NS_SID);
  const all = message.getChildren("stanza-id", NS_SID).filter((s) => s.attrs.id && s.attrs.by).map((s) => ({ id: String(s.attrs.id), by: String(s.attrs.by) }));
  return {
    originId: origin || undefined,
    stanzaId: stanza?.attrs.id && stanza.attrs.by ? { id: stanza.attrs.id, by: stanza.attrs.by } : undefined,
    id: message.attrs.id || undefined,
    ...(all.length > 1 ? { stanzaIds: all } : {}),
  };
}

/** XEP-0203 §3: the stamp is an XEP-0082 DateTime in UTC. Anything unparseable is ignored. */
export function delayStamp(element: Element): Date | undefined {
  const stamp = element.getChild("delay", NS_DELAY)?.attrs.stamp;
  if (!stamp) return undefined;
  const ms = Date.parse(stamp);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * The stanza as its own XML document. Archives use the jabber:client namespace whichever stream
 * the stanza came over (a direct message arrives in jabber:component:accept), as XEP-0313 does,
 * so a replay can hand it to any client unchanged.
 */
function standaloneXml(message: Element): string {
  // A new top element sharing the (unmodified) children: the received stanza is never mutated.
  const copy = new xml.Element(message.name, { ...message.attrs, xmlns: NS_CLIENT });
  copy.children = message.children;
  return `<?xml version='1.0' encoding='utf-8'?>\n${copy.toString()}`;
}
