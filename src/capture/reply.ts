// Replies (XEP-0461) and moderation (XEP-0425), read into plain data. Pure: no I/O.
//   XEP-0461 §2: <reply xmlns='urn:xmpp:reply:0' to='author full JID' id='…'/>. The id is the
//     replied message's own id (or origin-id, which clients set to the same value) in a one-to-one
//     chat, and the stanza-id the room assigned (XEP-0359) in a group chat (§4: "the stanza's 'id'
//     attribute MUST NOT be used" there). Its XEP-0428 fallback,
//     <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='N'/></fallback>,
//     marks the quote the sender put at the start of the body for clients that know no replies;
//     XEP-0426: start and end count Unicode code points.
//   XEP-0425: a moderator's retraction, sent by the room (from its bare JID) to every occupant.
//     0.2 (urn:xmpp:message-moderate:0, older mod_muc_moderation):
//       <apply-to xmlns='urn:xmpp:fasten:0' id='STANZA-ID'><moderated by='room/nick'>
//         <retract xmlns='urn:xmpp:message-retract:0'/><reason/></moderated></apply-to>
//     0.3 (urn:xmpp:message-moderate:1; ejabberd 24.12 and mod_muc_moderation send both forms at once):
//       <retract xmlns='urn:xmpp:message-retract:1' id='STANZA-ID'><moderated by='room/nick'
//         xmlns='urn:xmpp:message-moderate:1'/><reason/></retract>
import type { Element } from "@xmpp/xml";

export const NS_REPLY = "urn:xmpp:reply:0";
export const NS_FALLBACK = "urn:xmpp:fallback:0";
export const NS_MODERATE_0 = "urn:xmpp:message-moderate:0";
export const NS_MODERATE_1 = "urn:xmpp:message-moderate:1";
const NS_FASTEN = "urn:xmpp:fasten:0";
const NS_RETRACT_0 = "urn:xmpp:message-retract:0";
const NS_RETRACT_1 = "urn:xmpp:message-retract:1";

/** A reason is a moderator's sentence; anything longer is not a reason but a payload. */
const MAX_REASON_CHARS = 500;

export interface Reply {
  /** The replied message's id: its id or origin-id (one-to-one), or the room's stanza-id (group chat). */
  readonly id: string;
  /** The replied message's author as the sender gave it (XEP-0461: the full JID; may be absent). */
  readonly to: string | undefined;
  /**
   * The body split at the XEP-0428 fallback: the quote the sender prepended, and what they wrote.
   * Undefined when there is no usable fallback (no element, or a range outside the body).
   */
  readonly fallback: { readonly quote: string; readonly rest: string } | undefined;
}

export interface Moderation {
  /** The stanza-id (XEP-0359, by the room) of the room message a moderator retracted. */
  readonly id: string;
  /** The moderator's occupant JID, when the room names it. */
  readonly by: string | undefined;
  readonly reason: string | undefined;
  /** "urn:xmpp:message-moderate:0" or ":1": which form the room sent. */
  readonly version: 0 | 1;
}

/** A reply without an id refers to nothing: the message is stored as an ordinary one. */
export function readReply(message: Element, body: string): Reply | undefined {
  const el = message.getChild("reply", NS_REPLY);
  const id = nonEmpty(el?.attrs.id);
  if (!el || !id) return undefined;
  return { id, to: nonEmpty(el.attrs.to), fallback: splitFallback(message, body) };
}

function splitFallback(message: Element, body: string): Reply["fallback"] {
  const fallback = message.getChildren("fallback", NS_FALLBACK).find((f) => f.attrs.for === NS_REPLY);
  const range = fallback?.getChild("body");
  if (!range) return undefined;
  const points = [...body];
  // XEP-0428 §3: without start and end the whole body is fallback.
  const start = range.attrs.start === undefined ? 0 : toIndex(range.attrs.start);
  const end = range.attrs.end === undefined ? points.length : toIndex(range.attrs.end);
  if (start === undefined || end === undefined || start > end || end > points.length) return undefined;
  return { quote: points.slice(start, end).join(""), rest: [...points.slice(0, start), ...points.slice(end)].join("") };
}

function toIndex(value: unknown): number | undefined {
  return typeof value === "string" && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

/** A moderation the room announced; either form, the newer read first. */
export function readModeration(message: Element): Moderation | undefined {
  // XEP-0425 (security considerations): only the room itself announces a moderation, from its bare
  // JID, in a groupchat message. The same elements from room/nick are an occupant's message the room
  // reflected, and in a one-to-one chat they come from no room at all.
  if (message.attrs.type !== "groupchat" || (typeof message.attrs.from === "string" && message.attrs.from.includes("/"))) return undefined;
  const retract = message.getChild("retract", NS_RETRACT_1);
  const moderated1 = retract?.getChild("moderated", NS_MODERATE_1);
  const applyTo = message.getChild("apply-to", NS_FASTEN);
  const moderated0 = applyTo?.getChild("moderated", NS_MODERATE_0);
  // 0.2 also lets a moderator replace a message without retracting it; only retraction is defined.
  const v0 = moderated0?.getChild("retract", NS_RETRACT_0) ? moderated0 : undefined;
  const id = (moderated1 ? nonEmpty(retract?.attrs.id) : undefined) ?? (v0 ? nonEmpty(applyTo?.attrs.id) : undefined);
  if (!id) return undefined;
  // mod_muc_moderation sends both forms in one message, and names the moderator only in the 0.2 one.
  return {
    id,
    by: nonEmpty(moderated1?.attrs.by) ?? nonEmpty(v0?.attrs.by),
    reason: reasonOf(retract?.getChildText("reason") ?? moderated1?.getChildText("reason") ?? v0?.getChildText("reason")),
    version: moderated1 && nonEmpty(retract?.attrs.id) ? 1 : 0,
  };
}

function reasonOf(text: string | null | undefined): string | undefined {
  const clean = text?.replace(/\s+/g, " ").trim();
  return clean ? [...clean].slice(0, MAX_REASON_CHARS).join("") : undefined;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/**
 * Why a bodyless moderation or retraction names no message (no id): nothing to mark, nothing a
 * person wrote, so it is confirmed unstored with this reason in the debug line. Undefined otherwise.
 */
export function malformedModeration(message: Element): string | undefined {
  const retract = message.getChild("retract", NS_RETRACT_1);
  const applyTo = message.getChild("apply-to", NS_FASTEN);
  if (retract?.getChild("moderated", NS_MODERATE_1) || applyTo?.getChild("moderated", NS_MODERATE_0)) return "moderation (XEP-0425) without the id of a message";
  if (retract || applyTo?.getChild("retract", NS_RETRACT_0)) return "retraction (XEP-0424) without the id of a message";
  return undefined;
}
