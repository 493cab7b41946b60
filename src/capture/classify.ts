// Decides what an inbound stanza is: a copy from the server module (an IQ carrying a XEP-0297
// <forwarded/>), a message sent straight to user@<component domain>, or neither.
import type { Element } from "@xmpp/xml";
import { RefusedError } from "../errors.js";
import { bareJid, type Jid, parseJid } from "../jid.js";
import { NS_CLIENT, NS_COPY, NS_FORWARD } from "../namespaces.js";
import { delayStamp, recordFromMessage, requireJid } from "./parse-message.js";
import { placementFor } from "./placement.js";
import type { CaptureReason, CaptureResult } from "./record.js";
import type { ChatSettings, EncryptedPolicy } from "./settings.js";

export interface CaptureContext {
  /** The component's own domain (archive.example.org). */
  readonly componentDomain: string;
  /** The users' domain (example.org): mailboxes live there, and only it may send copies. */
  readonly userDomain: string;
  readonly now: Date;
  /** Larger stanzas are refused with policy-violation. */
  readonly maxStanzaBytes: number;
  /** Chat history settings; absent means off (docs/chat-history.md). */
  readonly chat?: Omit<ChatSettings, "maxAttachmentBytes">;
  /** --encrypted; absent means archive. */
  readonly encrypted?: EncryptedPolicy;
}

const COPY_REASONS: ReadonlySet<string> = new Set<CaptureReason>(["offline", "normal", "chat", "sent", "groupchat"]);

/**
 * A copy from the server module: <iq type='set'><copy xmlns=NS_COPY reason='offline|normal'>
 * <forwarded xmlns='urn:xmpp:forward:0'><delay/><message xmlns='jabber:client'/></forwarded></copy></iq>
 */
export function captureCopy(iq: Element, ctx: CaptureContext): CaptureResult {
  const sender = parseJid(iq.attrs.from);
  // Only the server itself vouches for what its users received. A client cannot forge this
  // from: the server stamps every client stanza with the client's own JID (RFC 6120 §8.1.2.1).
  if (!sender || !isServer(sender, ctx)) {
    throw new RefusedError(`copy from '${iq.attrs.from ?? ""}' refused: only ${ctx.userDomain} may send copies`, {
      type: "cancel",
      condition: "not-allowed",
    });
  }
  const copy = iq.getChild("copy", NS_COPY);
  const reason = copy?.attrs.reason ?? "";
  if (!copy || !COPY_REASONS.has(reason)) {
    throw badRequest(`copy without a known reason ('${reason}')`);
  }
  const forwarded = onlyChild(copy, "forwarded", NS_FORWARD, "copy");
  // XEP-0297 §3: the forwarded stanza keeps its own namespace, which must be stated on it.
  const message = onlyChild(forwarded, "message", NS_CLIENT, "forwarded");
  const copyReason = reason as CaptureReason;
  // A server module may copy chats while this component does not keep them: confirm, store nothing.
  if ((copyReason === "chat" || copyReason === "sent") && !ctx.chat?.history) return { kind: "skip", reason: "chat history is off" };
  if (copyReason === "groupchat" && !ctx.chat?.groupchat) return { kind: "skip", reason: "group chat archiving is off" };
  // A copy of what a local user sent goes into the sender's mailbox; every other copy into the
  // recipient's. Either way the owner must be a user of this server.
  const sent = copyReason === "sent";
  const ownerAttr = sent ? "from" : "to";
  const ownerJid = requireJid(message.attrs[ownerAttr], ownerAttr);
  if (!ownerJid.local || ownerJid.domain !== ctx.userDomain) {
    throw new RefusedError(`copy for '${message.attrs[ownerAttr]}' refused: not a user of ${ctx.userDomain}`, {
      type: "cancel",
      condition: "not-allowed",
    });
  }
  const type = message.attrs.type ?? "normal";
  if (copyReason === "groupchat" && type !== "groupchat") throw badRequest(`a groupchat copy holds a message of type '${type}'`);
  // A room reflects each message to every occupant, the sender included (XEP-0045 §7.4), so a
  // user's own room messages are archived from the reflection, not from the sent copy.
  if (sent && type === "groupchat") return { kind: "skip", reason: "own groupchat message (archived from the room's reflection)" };
  const result = recordFromMessage({
    message,
    owner: bareJid(ownerJid),
    reason: copyReason,
    fallbackTime: delayStamp(forwarded) ?? ctx.now,
    maxBytes: ctx.maxStanzaBytes,
    // The module says which room messages are the reflection of the owner's own (docs/protocol.md).
    direction: sent || (copyReason === "groupchat" && copy.attrs.own === "true") ? "out" : "in",
    allowGroupchat: copyReason === "groupchat",
    ...(ctx.encrypted ? { encrypted: ctx.encrypted } : {}),
  });
  if (result.kind !== "archive") return result;
  const { record } = result;
  if (sent && record.type !== "chat") return { kind: "skip", reason: `sent ${record.type} messages are not archived` };
  const room = record.type === "groupchat" ? bareJid(record.from) : undefined;
  return { kind: "archive", record: { ...record, placement: placementFor({ reason: copyReason, type: record.type, room, userDomain: ctx.userDomain, encrypted: !!record.encryption }, placementSettings(ctx)) } };
}

function placementSettings(ctx: CaptureContext) {
  return { chatsFolder: ctx.chat?.folder ?? "Chats", keywords: ctx.chat?.keywords ?? false };
}

/** A message addressed to user@<component domain>: archived into user@<user domain>. */
export function captureDirect(message: Element, ctx: CaptureContext): CaptureResult {
  const type = message.attrs.type ?? "normal";
  // RFC 6120 §8.3.1: never answer an error with an error. Headlines are fire-and-forget by
  // definition (RFC 6121 §5.2.2), so we drop them without a reply.
  if (type === "error" || type === "headline") return { kind: "skip", reason: `type ${type}` };
  if (type === "groupchat") {
    throw new RefusedError("groupchat messages are not archived", { type: "cancel", condition: "service-unavailable" });
  }
  const to = requireJid(message.attrs.to, "to");
  if (!to.local) {
    throw new RefusedError(`send to user@${ctx.componentDomain} to archive a message`, {
      type: "cancel",
      condition: "service-unavailable",
    });
  }
  const from = requireJid(message.attrs.from, "from");
  if (message.getChild("forwarded", NS_FORWARD) && !isServer(from, ctx)) {
    throw new RefusedError(`forwarded message from '${message.attrs.from}' refused: only ${ctx.userDomain} may send copies`, {
      type: "cancel",
      condition: "not-allowed",
    });
  }
  const result = recordFromMessage({
    message,
    owner: { local: to.local, domain: ctx.userDomain, resource: "" },
    reason: "direct",
    fallbackTime: ctx.now,
    maxBytes: ctx.maxStanzaBytes,
    ...(ctx.encrypted ? { encrypted: ctx.encrypted } : {}),
  });
  if (result.kind !== "archive") return result;
  const placement = placementFor({ reason: "direct", type: result.record.type, userDomain: ctx.userDomain, encrypted: !!result.record.encryption }, placementSettings(ctx));
  return { kind: "archive", record: { ...result.record, placement } };
}

function isServer(jid: Jid, ctx: CaptureContext): boolean {
  return !jid.local && !jid.resource && jid.domain === ctx.userDomain;
}

/** The one child called `name` (other children, such as a <delay/>, may stand beside it). */
function onlyChild(parent: Element, name: string, ns: string, where: string): Element {
  const matches = parent.getChildElements().filter((el) => el.name === name);
  const [child] = matches;
  if (matches.length !== 1 || !child || child.getNS() !== ns) {
    throw badRequest(`<${where}/> must hold exactly one <${name} xmlns='${ns}'/>`);
  }
  return child;
}

function badRequest(message: string): RefusedError {
  return new RefusedError(message, { type: "modify", condition: "bad-request" });
}
