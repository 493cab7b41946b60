// A MailSpec (./mail-spec.ts) → RFC 5322 bytes, written straight into one string: the same bytes
// as MailComposer's tree written by ./serialise.ts (./composer.ts), but for the random part of
// the boundaries, without building the tree. MailComposer's compile() and buildHeaders() (header
// key regexes, a MimeNode per part, a CSPRNG call per node) were most of the component's MIME
// CPU (docs/performance.md). The shapes are the ones render.ts asks for:
//   multipart/alternative: text/plain (7bit when short ASCII lines, else quoted-printable),
//     text/html (the same rule), application/xmpp+xml (quoted-printable, attachment) last;
//   multipart/mixed around it when there are attachments (base64, each with its filename, an
//     inline image with its Content-ID) or hidden headers (./chat-structure.ts: Chat-Edit on the
//     alternative part); a reaction's text part carries Content-Disposition: reaction.
// Anything else (an attachment type nodemailer treats specially, an empty address or stanza, a
// custom header that would replace a standard one) returns undefined, and render.ts asks
// MailComposer. The encoders are nodemailer's own (lib/qp, lib/base64, lib/mime-funcs) or ports
// of MimeNode's glue (./mime-fields.ts); test/unit/mime-writer.test.ts compares both writers.
import { randomBytes } from "node:crypto";
import * as base64 from "nodemailer/lib/base64/index.js";
import * as qp from "nodemailer/lib/qp/index.js";
import { XMPP_MEDIA_TYPE } from "../namespaces.js";
import { addressValue, attachmentTypes, dateValue, field, headerKey, msgId, references, unstructured } from "./mime-fields.js";
import type { MailAttachment, MailShape, MailSpec } from "./mail-spec.js";

const LINE_LENGTH = 76;
const XMPP_CONTENT_TYPE = `${XMPP_MEDIA_TYPE}; charset=utf-8`;
/** The header keys MailComposer sets itself; a custom header by one of these names would be replaced in place. */
const STANDARD_KEYS = new Set(["From", "Sender", "To", "Cc", "Bcc", "Reply-To", "In-Reply-To", "References", "Subject", "Message-ID", "Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]);
/** MimeNode's 7bit test for text: printable ASCII, tab and line breaks, no line over 76 (mime-funcs isPlainText, hasLongerLines). */
const NOT_PLAIN = /[\x00-\x08\x0b\x0c\x0e-\x1f\u0080-\uFFFF]/; // eslint-disable-line no-control-regex
const LONG_LINE = /^.{77,}/m;

export function writeMail(spec: MailSpec, shape: MailShape): Buffer | undefined {
  const attachments = spec.attachments ?? [];
  const [stanza] = spec.alternatives;
  if (stanza.content === "" || stanza.contentType !== XMPP_CONTENT_TYPE || spec.text === "" || spec.html === "" || !spec.messageId) return undefined;
  // markReaction marks the first text/plain part breadth-first: a text/plain attachment, if any.
  if (shape.reaction && attachments.some((a) => /^text\/plain\b/i.test(a.contentType))) return undefined;
  const rootFields = headerFields(spec);
  if (!rootFields) return undefined;
  const attached: string[] = [];
  for (const attachment of attachments) {
    const part = attachmentPart(attachment);
    if (part === undefined) return undefined;
    attached.push(part);
  }
  const text = textPart("text/plain; charset=utf-8", spec.text, shape.reaction ? ["Content-Disposition: reaction"] : []);
  const leaves = [text];
  if (spec.html) leaves.push(textPart("text/html; charset=utf-8", spec.html, []));
  leaves.push(stanzaPart(stanza.content));
  const hidden = shape.hidden ? Object.entries(shape.hidden).map(([key, value]) => [headerKey(key), unstructured(value, undefined)] as const) : [];
  const mixed = attachments.length > 0 || shape.hidden !== undefined;
  const base = boundaryBase([...leaves, ...hidden.map(([, value]) => value)]);
  // MimeNode numbers the nodes of a tree in creation order, and a boundary ends in its node's
  // number: the root is 1; with attachments the alternative is created next (2), then the leaves
  // and the attachments; withHiddenHeaders creates its alternative after all of them.
  const boundary = (node: number) => `--_NmP-${base}-Part_${node}`;
  const rootBoundary = boundary(1);
  const head = rootFields.join("\r\n") + "\r\n" + field("Content-Type", `multipart/${mixed ? "mixed" : "alternative"}; boundary="${rootBoundary}"`) + "\r\n\r\n";
  if (!mixed) return Buffer.from(head + multipart(rootBoundary, leaves), "utf8");
  const withAttachments = attachments.length > 0;
  // The hidden headers go on the alternative, the first part of the mixed root, beside any
  // attachments (./chat-structure.ts withHiddenHeaders).
  const children = [alternativePart(boundary(withAttachments ? 2 : 2 + leaves.length), leaves, hidden), ...attached];
  return Buffer.from(head + multipart(rootBoundary, children), "utf8");
}

function alternativePart(boundary: string, parts: readonly string[], hidden: readonly (readonly [string, string])[]): string {
  const fields = [field("Content-Type", `multipart/alternative; boundary="${boundary}"`)];
  for (const [key, value] of hidden) if (value.trim()) fields.push(field(key, value));
  return fields.join("\r\n") + "\r\n\r\n" + multipart(boundary, parts);
}

/** The message's own header block, in MailComposer's order, without the Content-Type that ends it. */
function headerFields(spec: MailSpec): string[] | undefined {
  const lines: string[] = [];
  const add = (key: string, value: string) => {
    if (value.trim()) lines.push(field(key, value));
  };
  for (const [name, value] of Object.entries(spec.headers)) {
    const key = headerKey(name);
    if (STANDARD_KEYS.has(key)) return undefined;
    add(key, unstructured(value, "Q"));
  }
  for (const [key, address] of [["From", spec.from], ["Sender", spec.sender], ["To", spec.to]] as const) {
    if (!address) continue;
    const value = addressValue(address, "Q");
    if (value === undefined) return undefined;
    add(key, value);
  }
  if (spec.inReplyTo) add("In-Reply-To", msgId(spec.inReplyTo));
  if (spec.references) add("References", references(spec.references));
  if (spec.subject) add("Subject", unstructured(spec.subject, "Q"));
  add("Message-ID", msgId(spec.messageId));
  add("Date", dateValue(spec.date));
  lines.push("MIME-Version: 1.0");
  return lines;
}

/** Parts between delimiter lines, as serialise.ts writes a multipart node. */
function multipart(boundary: string, parts: readonly string[]): string {
  let out = "";
  for (let i = 0; i < parts.length; i++) out += `${i > 0 ? "\r\n" : ""}--${boundary}\r\n${parts[i]}`;
  return out + `\r\n--${boundary}--\r\n`;
}

function textPart(contentType: string, content: string | Buffer, extra: readonly string[]): string {
  const head = [`Content-Type: ${contentType}`, ...extra];
  if (typeof content === "string" && !NOT_PLAIN.test(content) && !(content.length > 128 * 1024 || LONG_LINE.test(content))) {
    return `${head.join("\r\n")}\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${content}`;
  }
  return `${head.join("\r\n")}\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${content.length > 0 ? qp.wrap(qp.encode(content), LINE_LENGTH) : ""}`;
}

function stanzaPart(xml: string): string {
  // Outside text a lone CR or LF is data: encoded, as serialise.ts does (nodemailer's binary mode).
  const encoded = qp.encode(xml).replace(/\r\n|\r|\n/g, (m) => (m === "\r\n" ? m : m === "\r" ? "=0D" : "=0A"));
  return `Content-Type: ${XMPP_CONTENT_TYPE}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Disposition: attachment\r\n\r\n${qp.wrap(encoded, LINE_LENGTH)}`;
}

function attachmentPart(a: MailAttachment): string | undefined {
  if (!a.contentType || !a.filename) return undefined;
  const types = attachmentTypes(a.contentType, a.contentDisposition, a.filename);
  if (!types) return undefined;
  const lines = [field("Content-Type", types.type)];
  if (a.headers) lines.push(field("Content-ID", msgId(a.headers["Content-ID"])));
  lines.push("Content-Transfer-Encoding: base64", field("Content-Disposition", types.disposition));
  return `${lines.join("\r\n")}\r\n\r\n${base64.wrap(base64.encode(a.content), LINE_LENGTH)}`;
}

// 64 random bits per mail, as MimeNode's baseBoundary, but drawn from a pool refilled with one
// CSPRNG call per 256 mails (a call per MimeNode was 4.8 % of the component's CPU).
const POOL_MAILS = 256;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * A boundary base no part contains (RFC 2046 §5.1.1: a delimiter line must not occur in the
 * encapsulated parts). Base64 parts cannot hold one: their alphabet has no "-". The text parts
 * could in theory (quoted-printable and 7bit leave "-", "_" and hex digits as they are), so the
 * base is checked against them and drawn again if one holds it; header lines of a part cannot
 * start with "--" (a field name, or a fold that starts with white space).
 */
function boundaryBase(parts: readonly string[]): string {
  for (;;) {
    if (poolAt >= pool.length) {
      pool = randomBytes(8 * POOL_MAILS);
      poolAt = 0;
    }
    const base = pool.toString("hex", poolAt, poolAt + 8);
    poolAt += 8;
    if (!parts.some((p) => p.includes(base))) return base;
  }
}
