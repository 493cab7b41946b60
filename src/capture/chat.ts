// The chat extensions a message may carry, read into plain data: corrections (XEP-0308),
// retractions (XEP-0424), receipts (XEP-0184) and chat markers (XEP-0333), links (XEP-0066 OOB,
// XEP-0385 SIMS, XEP-0447 SFS: how XEP-0363 uploads are shared), XEP-0231 bits of binary, and
// XHTML-IM (XEP-0071, turned into safe HTML by xhtml.ts). Pure: no I/O.
import type { Element } from "@xmpp/xml";
import { NS_OOB } from "../namespaces.js";
import { xhtmlToHtml, type EmbeddedData, type HtmlContent } from "./xhtml.js";
import { readModeration, readReply, type Moderation, type Reply } from "./reply.js";

export const NS_RECEIPTS = "urn:xmpp:receipts";
export const NS_MARKERS = "urn:xmpp:chat-markers:0";
export const NS_CORRECT = "urn:xmpp:message-correct:0";
export const NS_RETRACT = "urn:xmpp:message-retract:1";
/** XEP-0424 before 0.4 wrapped the retraction in a XEP-0422 <apply-to/>. Still sent by deployed clients. */
export const NS_RETRACT_0 = "urn:xmpp:message-retract:0";
export const NS_FASTEN = "urn:xmpp:fasten:0";
export const NS_REFERENCE = "urn:xmpp:reference:0";
export const NS_SIMS = "urn:xmpp:sims:1";
export const NS_SFS = "urn:xmpp:sfs:0";
export const NS_URL_DATA = "http://jabber.org/protocol/url-data";
export const NS_BOB = "urn:xmpp:bob";
export const NS_XHTML_IM = "http://jabber.org/protocol/xhtml-im";
export const NS_REACTIONS = "urn:xmpp:reactions:0";

/** A receipt or marker: which message it is about, and what it says. */
export interface Marker {
  readonly kind: "received" | "displayed";
  /** The id the marker refers to (the original's id, origin-id, or for MUC its stanza-id). */
  readonly id: string;
}

export interface Link {
  readonly url: string;
  readonly description: string | undefined;
}

export interface ChatFacts {
  /** XEP-0308 §3: the id of the message this one corrects. */
  readonly replaces: string | undefined;
  /** XEP-0424: the id of the message this one retracts. */
  readonly retracts: string | undefined;
  readonly marker: Marker | undefined;
  readonly links: readonly Link[];
  readonly html: HtmlContent | undefined;
  readonly data: readonly EmbeddedData[];
  /**
   * XEP-0444 §3: the sender's reactions to the message with this id, all of them (each update
   * replaces the last). No emojis: the sender took their reactions back.
   */
  readonly reaction?: Reaction | undefined;
  /** XEP-0461: the message this one replies to, and the quote its fallback marks (./reply.ts). */
  readonly reply?: Reply;
  /** XEP-0425: a room's announcement that a moderator retracted a message; `retracts` names it too. */
  readonly moderation?: Moderation;
}

export interface Reaction {
  readonly id: string;
  readonly emojis: readonly string[];
}

export function readChatFacts(message: Element): ChatFacts {
  const html = readHtml(message);
  const reply = readReply(message, message.getChildText("body") ?? "");
  const moderation = readModeration(message);
  return {
    replaces: attr(message.getChild("replace", NS_CORRECT), "id"),
    retracts: moderation?.id ?? readRetraction(message),
    marker: readMarker(message),
    links: readLinks(message),
    html,
    data: [...readBob(message), ...(html?.data ?? [])],
    reaction: readReaction(message),
    ...(reply ? { reply } : {}),
    ...(moderation ? { moderation } : {}),
  };
}

function attr(el: Element | undefined, name: string): string | undefined {
  const value = el?.attrs[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function readRetraction(message: Element): string | undefined {
  const v1 = attr(message.getChild("retract", NS_RETRACT), "id");
  if (v1) return v1;
  const applyTo = message.getChild("apply-to", NS_FASTEN);
  return applyTo?.getChild("retract", NS_RETRACT_0) ? attr(applyTo, "id") : undefined;
}

function readMarker(message: Element): Marker | undefined {
  // XEP-0184 §4: <received id=.../> acknowledges delivery of the message with that id.
  const receipt = attr(message.getChild("received", NS_RECEIPTS), "id");
  if (receipt) return { kind: "received", id: receipt };
  // XEP-0333 §3: displayed (and acknowledged, which implies it) means the user has seen it.
  for (const name of ["displayed", "acknowledged"]) {
    const id = attr(message.getChild(name, NS_MARKERS), "id");
    if (id) return { kind: "displayed", id };
  }
  const received = attr(message.getChild("received", NS_MARKERS), "id");
  return received ? { kind: "received", id: received } : undefined;
}

/** Only URLs a mail client can open without surprises. */
const LINK_SCHEMES = /^(https?|aesgcm|xmpp|geo):/i;

function readLinks(message: Element): Link[] {
  const links: Link[] = [];
  const add = (url: string | undefined, description: string | undefined) => {
    const clean = url?.trim();
    if (!clean || !LINK_SCHEMES.test(clean) || links.some((l) => l.url === clean)) return;
    links.push({ url: clean, description: description?.trim() || undefined });
  };
  // XEP-0066 §3: <x xmlns='jabber:x:oob'><url/><desc/></x>; XEP-0363 uploads are shared this way.
  for (const x of message.getChildren("x", NS_OOB)) add(x.getChildText("url") ?? undefined, x.getChildText("desc") ?? undefined);
  // XEP-0385 §2: <reference><media-sharing><sources><reference uri=.../></sources></media-sharing></reference>.
  for (const ref of message.getChildren("reference", NS_REFERENCE)) {
    const sharing = ref.getChild("media-sharing", NS_SIMS);
    const name = sharing?.getChild("file", "urn:xmpp:jingle:apps:file-transfer:5")?.getChildText("name") ?? undefined;
    for (const source of sharing?.getChild("sources")?.getChildren("reference", NS_REFERENCE) ?? []) add(source.attrs.uri, name);
  }
  // XEP-0447 §3: <file-sharing><sources><url-data target=.../></sources></file-sharing>.
  for (const sharing of message.getChildren("file-sharing", NS_SFS)) {
    for (const source of sharing.getChild("sources")?.getChildren("url-data", NS_URL_DATA) ?? []) add(source.attrs.target, undefined);
  }
  return links;
}

/** XEP-0231 §2: the cid is "algo+hash@bob.xmpp.org"; the content is base64. */
function readBob(message: Element): EmbeddedData[] {
  const out: EmbeddedData[] = [];
  for (const data of message.getChildren("data", NS_BOB)) {
    const cid = attr(data, "cid");
    const base64 = data.text().replace(/\s+/g, "");
    if (!cid || !base64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) continue;
    out.push({ cid, contentType: safeType(data.attrs.type), base64 });
  }
  return out;
}

/** A media type as type/subtype only; anything else becomes application/octet-stream. */
export function safeType(value: string | undefined): string {
  const type = value?.split(";")[0]?.trim().toLowerCase() ?? "";
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : "application/octet-stream";
}

function readHtml(message: Element): HtmlContent | undefined {
  const body = message.getChild("html", NS_XHTML_IM)?.getChild("body", "http://www.w3.org/1999/xhtml");
  return body ? xhtmlToHtml(body) : undefined;
}

/** XEP-0444 §5: a sane number of distinct reactions per message; more is abuse, not a person. */
const MAX_REACTIONS = 20;
/** Long enough for any emoji ZWJ sequence (family, flags with tags), short enough to be one. */
const MAX_REACTION_CHARS = 32;

function readReaction(message: Element): Reaction | undefined {
  const reactions = message.getChild("reactions", NS_REACTIONS);
  const id = attr(reactions, "id");
  if (!reactions || !id) return undefined;
  const emojis: string[] = [];
  for (const el of reactions.getChildren("reaction")) {
    const emoji = el.text().trim();
    if (emoji && !/\s/.test(emoji) && [...emoji].length <= MAX_REACTION_CHARS && !emojis.includes(emoji)) emojis.push(emoji);
    if (emojis.length >= MAX_REACTIONS) break;
  }
  return { id, emojis };
}
