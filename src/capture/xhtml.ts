// XHTML-IM (XEP-0071) → HTML that is safe to put in a mail: only the elements and attributes of
// the XEP's recommended profile (§7), links only to http(s), mailto and xmpp, images only from
// cid: (XEP-0231 data) or data: URIs (turned into attachments). Styles are dropped: CSS can
// fetch remote resources (url()), which mail clients are careful to block, and so are we.
import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";

/** XEP-0231 data or a data: URI, decoded later (mail/) only if it fits the size limit. */
export interface EmbeddedData {
  /** The Content-ID, without angle brackets. */
  readonly cid: string;
  readonly contentType: string;
  readonly base64: string;
}

export interface HtmlContent {
  /** The sanitised HTML of the <body/>'s children, without <html>/<body>. */
  readonly html: string;
  /** data: images, now referenced as cid:<cid> in `html`. */
  readonly data: readonly EmbeddedData[];
}

/** XEP-0071 §7 "Recommended Profile", minus what only styling needs. */
const ALLOWED = new Set(["a", "blockquote", "br", "cite", "code", "em", "img", "li", "ol", "p", "pre", "q", "span", "strong", "ul"]);
const VOID = new Set(["br", "img"]);
/** Content that is not text for a reader: dropped with everything inside. */
const DROP_WITH_CONTENT = new Set(["script", "style", "head", "title", "object", "iframe"]);
const ATTRIBUTES: Record<string, readonly string[]> = { a: ["href", "title"], img: ["src", "alt", "title", "height", "width"] };
const HREF = /^(https?:|mailto:|xmpp:)/i;
const DATA_URI = /^data:([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)?(?:;[a-z0-9-]+=[^;,]*)*;base64,([A-Za-z0-9+/=\s]*)$/i;

export function xhtmlToHtml(body: Element): HtmlContent {
  const data: EmbeddedData[] = [];
  const html = body.children.map((child) => render(child, data)).join("");
  return { html, data };
}

function render(node: Element | string, data: EmbeddedData[]): string {
  if (typeof node === "string") return escapeText(node);
  const name = node.name.toLowerCase();
  if (DROP_WITH_CONTENT.has(name)) return "";
  const inner = VOID.has(name) ? "" : node.children.map((child) => render(child, data)).join("");
  if (!ALLOWED.has(name)) return inner;
  const attrs = (ATTRIBUTES[name] ?? []).map((a) => attribute(name, a, node.attrs[a], data)).join("");
  if (name === "img" && !attrs.includes(" src=")) return escapeText(node.attrs.alt ?? "");
  return VOID.has(name) ? `<${name}${attrs}>` : `<${name}${attrs}>${inner}</${name}>`;
}

function attribute(element: string, name: string, value: unknown, data: EmbeddedData[]): string {
  if (typeof value !== "string") return "";
  if (name === "href") return HREF.test(value.trim()) ? ` href="${escapeAttr(value.trim())}"` : "";
  if (name === "src") {
    const src = value.trim();
    // RFC 2392: cid: points at a body part of this mail; XEP-0231 data becomes one.
    if (/^cid:/i.test(src)) return ` src="${escapeAttr(src)}"`;
    const m = DATA_URI.exec(src);
    if (element === "img" && m) {
      const base64 = (m[2] ?? "").replace(/\s+/g, "");
      const cid = `${createHash("sha256").update(base64).digest("hex").slice(0, 32)}@data.xmpp-maildir`;
      if (!data.some((d) => d.cid === cid)) data.push({ cid, contentType: (m[1] ?? "application/octet-stream").toLowerCase(), base64 });
      return ` src="cid:${cid}"`;
    }
    return "";
  }
  if ((name === "height" || name === "width") && !/^\d{1,5}$/.test(value)) return "";
  return ` ${name}="${escapeAttr(value)}"`;
}

function escapeText(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function escapeAttr(text: string): string {
  return escapeText(text).replaceAll('"', "&quot;");
}
