// Reads what the archive needs out of one <message/> element. Pure: no I/O, no clock.
import xml, { type Element } from "@xmpp/xml";
import { BadAddressError, RefusedError } from "../errors.js";
import { type Jid, parseJid } from "../jid.js";
import { NS_CLIENT, NS_DELAY, NS_SID } from "./namespaces.js";
import type { ArchiveRecord, CaptureReason, CaptureResult, MessageIds } from "./record.js";

export interface MessageFacts {
  readonly message: Element;
  readonly owner: Jid;
  readonly reason: CaptureReason;
  /** The time to use when the message has no XEP-0203 delay of its own. */
  readonly fallbackTime: Date;
  readonly maxBytes: number;
}

/** Turns a validated message into a record, or a skip when there is nothing to archive. */
export function recordFromMessage(facts: MessageFacts): CaptureResult {
  const { message, owner, reason } = facts;
  const type = message.attrs.type ?? "normal";
  if (type !== "chat" && type !== "normal") {
    throw new RefusedError(`message of type '${type}' is not archived`, { type: "cancel", condition: "bad-request" });
  }
  const from = requireJid(message.attrs.from, "from");
  const to = requireJid(message.attrs.to, "to");
  const bodyEl = message.getChild("body");
  // RFC 6121 §5.2.3: without a body there is no human-readable content (chat states, receipts).
  if (!bodyEl) return { kind: "skip", reason: "no body" };

  if (nestingDepth(message) > MAX_NESTING) {
    throw new RefusedError(`message nested deeper than ${MAX_NESTING} elements`, { type: "modify", condition: "policy-violation" });
  }
  const xmlText = standaloneXml(message);
  const size = Buffer.byteLength(xmlText);
  if (size > facts.maxBytes) {
    throw new RefusedError(`message of ${size} bytes is over the ${facts.maxBytes}-byte limit`, { type: "modify", condition: "policy-violation" });
  }
  const record: ArchiveRecord = {
    owner,
    from,
    to,
    type,
    body: bodyEl.text(),
    subject: message.getChild("subject")?.text(),
    thread: message.getChild("thread")?.text(),
    ids: readIds(message),
    time: delayStamp(message) ?? facts.fallbackTime,
    xml: xmlText,
    reason,
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
  return {
    originId: origin || undefined,
    stanzaId: stanza?.attrs.id && stanza.attrs.by ? { id: stanza.attrs.id, by: stanza.attrs.by } : undefined,
    id: message.attrs.id || undefined,
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
