// Replay's fast path: the original stanza and the Date of a mail that render.ts wrote, read
// without a general MIME parser. It walks only the shapes render.ts produces (multipart/alternative,
// or multipart/mixed around it: RFC 2046 §5.1), finds the one application/xmpp+xml part (RFC 3923
// §9) and decodes it. Anything else — a mail not written by us, an odd encoding or charset, a
// structure it is not sure of — is answered with `fallback`, and the caller asks mailparser, so
// odd input reads exactly as it did before. test/unit/xmpp-part.test.ts holds it to mailparser's
// answers, on renderMail's own output and on mutations of it.
//
// Bytes flow one way: the file as a latin1 string (one char per byte, so string offsets are byte
// offsets) → header blocks → part boundaries → the part's bytes → transfer decoding → UTF-8.
import { parseContentType, readHeaderBlock, type ContentType, type HeaderBlock } from "./mime-headers.js";
import { XMPP_MEDIA_TYPE } from "../namespaces.js";
import { decodeQuotedPrintable } from "./quoted-printable.js";

export type XmppPart =
  | { readonly kind: "found"; readonly stanzaXml: string; readonly date: Date }
  | { readonly kind: "fallback"; readonly reason: string };

/** render.ts nests at most multipart/mixed → multipart/alternative; deeper is not ours. */
const MAX_DEPTH = 3;
/** The multipart types render.ts writes (nodemailer adds related for cid: images in other setups). */
const MULTIPART_TYPES = new Set(["multipart/mixed", "multipart/alternative", "multipart/related"]);
/** What the walk reads of the message's own header block, and of each part's. */
const ROOT_FIELDS = new Set(["content-type", "date", "x-xmpp-type"]);
const PART_FIELDS = new Set(["content-type", "content-transfer-encoding"]);
/** RFC 2046 §5.1.1 bchars; a boundary of other characters is not one nodemailer made. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
/** RFC 4648 §4 without line breaks, padding only at the end: where Buffer and libbase64 agree. */
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Span {
  readonly start: number;
  readonly end: number;
}

interface Leaf {
  readonly contentType: ContentType;
  readonly encoding: string | undefined;
  readonly body: Span;
}

class Fallback extends Error {}

function fallback(reason: string): never {
  throw new Fallback(reason);
}

export function extractXmppPart(bytes: Buffer): XmppPart {
  try {
    return read(bytes);
  } catch (err) {
    if (err instanceof Fallback) return { kind: "fallback", reason: err.message };
    throw err;
  }
}

function read(bytes: Buffer): XmppPart {
  const text = bytes.toString("latin1");
  const root = headerBlock(text, { start: 0, end: text.length }, ROOT_FIELDS);
  // Every mail render.ts writes has it, since the first version; other mail goes to mailparser.
  if (!root.fields.has("x-xmpp-type")) fallback("no X-XMPP-Type field: not a mail we wrote");
  // mailparser's date is new Date(value) of the unfolded field, and "now" when that is invalid.
  const ms = Date.parse(root.fields.get("date") ?? "");
  if (Number.isNaN(ms)) fallback("no Date field that parses");
  const rootType = contentTypeOf(root, "text/plain");
  if (!rootType.type.startsWith("multipart/")) fallback(`a single ${rootType.type} part`);
  const found: Leaf[] = [];
  walk(text, rootType, { start: root.bodyStart, end: text.length }, 0, found);
  const [leaf] = found;
  if (!leaf || found.length > 1) fallback(`${found.length} application/xmpp+xml parts`);
  return { kind: "found", stanzaXml: decodeLeaf(text, bytes, leaf), date: new Date(ms) };
}

function headerBlock(text: string, span: Span, wanted: ReadonlySet<string>): HeaderBlock {
  const block = readHeaderBlock(text, span.start, span.end, wanted);
  if (typeof block === "string") fallback(block);
  return block;
}

function contentTypeOf(block: HeaderBlock, implied: string): ContentType {
  const contentType = parseContentType(block.fields.get("content-type") ?? implied);
  if (!contentType) fallback("a Content-Type with comments, encoded words or RFC 2231 parameters");
  return contentType;
}

function walk(text: string, multipart: ContentType, body: Span, depth: number, found: Leaf[]): void {
  if (!MULTIPART_TYPES.has(multipart.type) || depth >= MAX_DEPTH) fallback(`${multipart.type} at depth ${depth}`);
  const boundary = multipart.params.get("boundary");
  if (boundary === undefined || !BOUNDARY.test(boundary)) fallback("a multipart without a usable boundary");
  for (const part of splitMultipart(text, boundary, body)) {
    const block = headerBlock(text, part, PART_FIELDS);
    // RFC 2045 §5.2 makes it text/plain, but parse.ts fails on the attachment mailparser makes of
    // it (contentType false), and replay counts that mail as malformed: keep it that way.
    if (!block.fields.has("content-type")) fallback("a part without Content-Type");
    const contentType = contentTypeOf(block, "");
    const partBody = { start: Math.min(block.bodyStart, part.end), end: part.end };
    if (contentType.type.startsWith("multipart/")) walk(text, contentType, partBody, depth + 1, found);
    // mailparser descends into an attached message, and could find a stanza part in there.
    else if (contentType.type.startsWith("message/")) fallback(`a ${contentType.type} part`);
    else if (contentType.type === XMPP_MEDIA_TYPE) found.push({ contentType, encoding: block.fields.get("content-transfer-encoding"), body: partBody });
  }
}

/**
 * The body parts of a multipart (RFC 2046 §5.1.1), split where mailparser's splitter (mailsplit)
 * splits: at a line, ending in LF, that starts with "--" and the boundary. The line break in front
 * of a delimiter (CRLF, or the lone LF a 7bit text part may hold) belongs to the delimiter, not to
 * the part. Only exact delimiter lines ending in CRLF are taken; anything mailsplit might read
 * differently (transport padding, a longer boundary, a CR before the dashes, text after the closing
 * delimiter that looks like one) is left to mailparser.
 */
function splitMultipart(text: string, boundary: string, body: Span): Span[] {
  const dashBoundary = `--${boundary}`;
  const parts: Span[] = [];
  let partStart = -1;
  let closed = false;
  for (let at = text.indexOf(dashBoundary, body.start); at !== -1 && at + dashBoundary.length <= body.end; at = text.indexOf(dashBoundary, at + 1)) {
    if (at !== body.start && text[at - 1] !== "\n") {
      // mailsplit also takes a delimiter behind a CR at the start of a line.
      if (text[at - 1] === "\r" && (at - 1 === body.start || text[at - 2] === "\n")) fallback("a delimiter behind a lone CR");
      continue;
    }
    if (closed) fallback("a delimiter line after the closing delimiter");
    let after = at + dashBoundary.length;
    const closing = text.startsWith("--", after);
    if (closing) after += 2;
    let next: number;
    if (after + 2 <= body.end && text.startsWith("\r\n", after)) next = after + 2;
    else if (closing && after === body.end) next = after;
    else fallback("a line that starts like a delimiter but is not one");
    if (partStart === -1) {
      if (closing) fallback("a closing delimiter before the first part");
    } else {
      // Like mailsplit's trimBodyLineEnd: the LF before the delimiter, then one CR before that.
      let end = at - 1;
      if (end > partStart && text[end - 1] === "\r") end -= 1;
      if (end <= partStart) fallback("an empty body part");
      parts.push({ start: partStart, end });
    }
    if (closing) closed = true;
    else partStart = next;
  }
  if (!closed) fallback("a multipart without its closing delimiter");
  return parts;
}

function decodeLeaf(text: string, bytes: Buffer, leaf: Leaf): string {
  const charset = leaf.contentType.params.get("charset")?.toLowerCase();
  // RFC 7303 §3.2: without a charset the XML declaration decides, and render.ts declares utf-8.
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") fallback(`charset ${charset}`);
  const { start, end } = leaf.body;
  if (end <= start) fallback("an empty application/xmpp+xml part");
  // RFC 2045 §6.1: no Content-Transfer-Encoding means 7bit.
  const encoding = (leaf.encoding ?? "7bit").toLowerCase();
  let decoded: Buffer;
  switch (encoding) {
    case "quoted-printable":
      // What mailparser's decoder (libqp, through mailsplit) makes of the same bytes.
      decoded = decodeQuotedPrintable(bytes.subarray(start, end), text.slice(start, end));
      break;
    case "base64": {
      const base64 = text.slice(start, end).replace(/\r\n/g, "");
      if (!STRICT_BASE64.test(base64)) fallback("base64 with characters or padding that decoders treat differently");
      decoded = Buffer.from(base64, "base64");
      break;
    }
    case "7bit":
    case "8bit":
    case "binary":
      decoded = bytes.subarray(start, end);
      break;
    default:
      fallback(`Content-Transfer-Encoding ${encoding}`);
  }
  return decoded.toString("utf8");
}
