// RFC 5322 bytes → what replay needs: the original stanza from the application/xmpp+xml part
// (RFC 3923 §9) and the few headers that describe an ordinary mail. MIME decoding (multipart,
// quoted-printable, base64, RFC 2047 words) is mailparser's; only the header peek is ours. Replay
// reads mail we wrote through ./xmpp-part.ts first, and comes here for everything else.
import xml, { type Element } from "@xmpp/xml";
import { simpleParser, type AddressObject, type EmailAddress } from "mailparser";
import { XMPP_MEDIA_TYPE } from "../namespaces.js";

/** The media type render.ts writes; parameters (charset) are ignored when matching. */
/** Headers end at the first empty line (RFC 5322 §2.1); a header block past this is not mail. */
const HEADER_PEEK_MAX_BYTES = 256 * 1024;

export interface ParsedMail {
  /** The decoded application/xmpp+xml part, exactly as stored; undefined for ordinary mail. */
  readonly stanzaXml: string | undefined;
  readonly date: Date | undefined;
  readonly messageId: string | undefined;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly subject: string | undefined;
  readonly text: string | undefined;
}

export async function parseMail(bytes: Buffer): Promise<ParsedMail> {
  const mail = await simpleParser(bytes, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
  const part = mail.attachments.find((a) => a.contentType.toLowerCase() === XMPP_MEDIA_TYPE);
  return {
    stanzaXml: part ? part.content.toString("utf8") : undefined,
    date: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date : undefined,
    messageId: mail.messageId,
    from: firstAddress(mail.from)?.address,
    to: firstAddress(mail.to)?.address,
    subject: mail.subject,
    text: mail.text,
  };
}

/** The first entry that has an address in a header mailparser parsed (From, To). */
export function firstAddress(value: AddressObject | AddressObject[] | undefined): EmailAddress | undefined {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((a) => a.value).find((a) => a.address);
}

/**
 * The header fields of a message, names lower-cased, folded lines joined (RFC 5322 §2.2.3), without
 * decoding. Cheap: it reads only up to the first empty line. Returns undefined if there is no
 * header block at all (an empty or binary file).
 */
export function peekHeaders(bytes: Buffer): Map<string, string> | undefined {
  const head = bytes.subarray(0, HEADER_PEEK_MAX_BYTES).toString("latin1");
  const end = head.search(/\r?\n\r?\n/);
  const block = end === -1 ? head : head.slice(0, end);
  const fields = new Map<string, string>();
  for (const line of block.split(/\r?\n(?![ \t])/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return fields.size ? fields : undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).replace(/\r?\n[ \t]/g, " ").trim());
  }
  return fields.size ? fields : undefined;
}

/** The RFC 5322 §3.3 Date of a header block, or undefined. */
export function headerDate(headers: Map<string, string> | undefined): Date | undefined {
  const value = headers?.get("date");
  const ms = value ? Date.parse(value) : NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * Parses a standalone stanza document (as render.ts stores it) with the parser xmpp.js uses on the
 * wire. Throws on anything that is not exactly one well-formed element.
 */
export function parseStanzaXml(text: string): Element {
  const body = text.replace(/^\uFEFF?\s*<\?xml[^?]*\?>/, "");
  const parser = new xml.Parser();
  const found: Element[] = [];
  let error: Error | undefined;
  parser.on("element", (el: Element) => found.push(el));
  parser.on("error", (err: Error) => (error ??= err));
  // The wrapper makes the stanza a child, so the parser hands it over whole once it is closed.
  parser.write(`<replay>${body}</replay>`);
  if (error) throw error;
  const [element] = found;
  if (found.length !== 1 || !element) throw new Error(`expected one XML element, found ${found.length}`);
  element.parent = null;
  return element;
}
