// Header fields written as nodemailer's MimeNode#buildHeaders writes them (nodemailer 10.6.0,
// lib/mime-node: encodeHeaderValue, _convertAddresses, _normalizeAddress, _encodeAddressName,
// _normalizeHeaderKey, _getTextEncoding), for ./mime-writer.ts, without a node to hang them on.
// The RFC 2047 words, RFC 2231 parameters and folding are nodemailer's own functions
// (lib/mime-funcs); what is here is the glue MimeNode puts around them, ported line for line, and
// test/unit/mime-writer.test.ts holds the result to MailComposer's output byte for byte.
/* eslint-disable no-control-regex */
import * as mimeFuncsUntyped from "nodemailer/lib/mime-funcs/index.js";
import * as sharedUntyped from "nodemailer/lib/shared/index.js";
import type { MailAddress } from "./mail-spec.js";

type WordEncoding = "Q" | "B";

/** The functions of nodemailer's lib/mime-funcs used here, as this version defines them (@types/nodemailer lags). */
interface MimeFuncs {
  encodeWord(data: string, encoding: WordEncoding, maxLength: number): string;
  encodeWords(value: string, encoding: WordEncoding, maxLength: number, encodeAll: boolean): string;
  foldLines(str: string, lineLength: number): string;
  quoteString(value: string): string;
  parseHeaderValue(str: string, options: { stripComments: boolean }): { value: string; params: Record<string, string> };
  buildHeaderValue(structured: { value: string; params: Record<string, string> }): string;
}
export const mimeFuncs = mimeFuncsUntyped as unknown as MimeFuncs;
const { normalizeDomain } = sharedUntyped as unknown as { normalizeDomain(domain: string, toUnicode: boolean): string };

const LINE_LENGTH = 76;
/** MimeNode's maximum encoded-word length. */
const WORD_LENGTH = 52;
const HEADER_CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
const HEADER_CONTROLS_ALL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
const LINE_BREAKS = /\r?\n|\r/g;
// MimeNode's own constants.
const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\x80-\\uFFFF]";
const DOT_ATOM = new RegExp("^" + ATEXT + "+(?:\\." + ATEXT + "+)*$");
const QUOTED_STRING = /^"(?:[^"\\]|\\[\s\S])*"$/;
const PLAIN_ADDRESS = /^[^\s"(),:;<>@[\\\]]+@[^\s"(),:;<>@[\\\]]+$/;
const DOMAIN_LITERAL_TAIL = /@(\[[^[\]\\]*\])$/;

/** `Key: value` folded at 76 (RFC 5322 §2.2.3), as buildHeaders does; a short line is its own fold. */
export function field(key: string, value: string): string {
  const line = `${key}: ${value}`;
  return line.length < LINE_LENGTH ? line : mimeFuncs.foldLines(line, LINE_LENGTH);
}

const keys = new Map<string, string>();

/** _normalizeHeaderKey: Camel-Case, MIME-, -ID and the like upper-case ("X-XMPP-Type" → "X-Xmpp-Type"). */
export function headerKey(key: string): string {
  let normal = keys.get(key);
  if (normal === undefined) {
    normal = key
      .replace(/[\s\x00-\x20\x7f:]/g, "")
      .toLowerCase()
      .replace(/^X-SMTPAPI$|^(MIME|DKIM|ARC|BIMI)\b|^OTP(?=-Token$)|^[a-z]|-(SPF|FBL|ID|MD5)$|-[a-z]/gi, (c) => c.toUpperCase())
      .replace(/^Content-Features$/i, "Content-features");
    if (keys.size < 1024) keys.set(key, normal);
  }
  return normal;
}

/** An unstructured value (encodeHeaderValue's default branch); `encoding` is the node's, if it has one. */
export function unstructured(value: string, encoding: WordEncoding | undefined): string {
  const v = value.replace(LINE_BREAKS, " ");
  const words = encoding ?? textEncodingOf(v);
  return HEADER_CONTROLS.test(v) ? mimeFuncs.encodeWord(v, words, WORD_LENGTH) : mimeFuncs.encodeWords(v, words, WORD_LENGTH, true);
}

/** _getTextEncoding of a node without a textEncoding: Q when latin letters outnumber the rest. */
function textEncodingOf(value: string): WordEncoding {
  let nonLatin = 0;
  let latin = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x08 || code === 0x0b || code === 0x0c || (code >= 0x0e && code <= 0x1f) || code >= 0x80) nonLatin++;
    else if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) latin++;
  }
  return nonLatin < latin ? "Q" : "B";
}

/** Message-ID, In-Reply-To, Content-ID: one msg-id in angle brackets. */
export function msgId(value: string): string {
  let v = value.replace(LINE_BREAKS, " ").replace(HEADER_CONTROLS_ALL, "");
  if (v.charAt(0) !== "<") v = "<" + v;
  if (v.charAt(v.length - 1) !== ">") v = v + ">";
  return v;
}

/** References: msg-ids separated by spaces. */
export function references(values: readonly string[]): string {
  const ids: string[] = [];
  for (const entry of values) {
    const elm = (entry || "").replace(LINE_BREAKS, " ").replace(HEADER_CONTROLS_ALL, "").trim();
    for (let id of stripWhitespaceInAngleBrackets(elm).split(/\s+/)) {
      if (id.charAt(0) !== "<") id = "<" + id;
      if (id.charAt(id.length - 1) !== ">") id = id + ">";
      ids.push(id);
    }
  }
  return ids.join(" ").trim();
}

function stripWhitespaceInAngleBrackets(value: string): string {
  let result = "";
  let pos = 0;
  for (;;) {
    const open = value.indexOf("<", pos);
    if (open < 0) break;
    const close = value.indexOf(">", open + 1);
    if (close < 0) break;
    result += value.slice(pos, open) + value.slice(open, close + 1).replace(/\s/g, "");
    pos = close + 1;
  }
  return result + value.slice(pos);
}

export function dateValue(date: Date): string {
  // Whole seconds: the copies of one second share the string (toUTCString was ~2 % of a copy's CPU).
  const second = Math.floor(date.getTime() / 1000);
  if (second !== lastDate.second) lastDate = { second, value: date.toUTCString().replace(/GMT/, "+0000") };
  return lastDate.value;
}
let lastDate = { second: Number.NaN, value: "" };

/**
 * One address as _parseAddresses then _convertAddresses write it ("" when nodemailer would drop
 * it), or undefined for an empty address, which nodemailer hands to its address parser instead.
 * `encoding` is the root node's (Q: render.ts sets textEncoding).
 */
export function addressValue(a: MailAddress, encoding: WordEncoding): string | undefined {
  if (!a.address) return undefined;
  const once = normalizeAddress(a.address);
  if (!once) return "";
  const address = normalizeAddress(once);
  if (!a.name) return PLAIN_ADDRESS.test(address) ? address : `<${address}>`;
  return `${addressName(a.name, encoding)} <${address}>`;
}

function addressName(name: string, encoding: WordEncoding): string {
  if (/^[\w ]*$/.test(name)) return name;
  return /^[\x20-\x7e]*$/.test(name) ? mimeFuncs.quoteString(name) : mimeFuncs.encodeWord(name, encoding, WORD_LENGTH);
}

// A chat archive names the same few hundred addresses over and over; normalizeDomain (the URL
// parser's domainToASCII) is a pure function of its input, so its results are kept.
const addresses = new Map<string, string>();

function normalizeAddress(input: string): string {
  const known = addresses.get(input);
  if (known !== undefined) return known;
  const address = normalizeAddressUncached(input);
  if (addresses.size >= 4096) addresses.clear();
  addresses.set(input, address);
  return address;
}

function normalizeAddressUncached(input: string): string {
  const address = input.replace(/[\x00-\x1F\x7F<>]+/g, " ").trim();
  if (!address) return address;
  const literal = address.charAt(address.length - 1) === "]" ? DOMAIN_LITERAL_TAIL.exec(address) : null;
  const lastAt = literal ? address.length - literal[1]!.length - 1 : address.lastIndexOf("@");
  if (lastAt < 0) return normalizeLocalPart(address);
  const user = address.substring(0, lastAt);
  const domain = address.substring(lastAt + 1);
  let encodedDomain = domain;
  try {
    encodedDomain = normalizeDomain(domain, /[\x80-\uFFFF]/.test(user));
  } catch {
    // kept as supplied, as nodemailer does
  }
  return `${normalizeLocalPart(user)}@${encodedDomain}`;
}

function normalizeLocalPart(user: string): string {
  return DOT_ATOM.test(user) || QUOTED_STRING.test(user) ? user : mimeFuncs.quoteString(user);
}

/**
 * An attachment's Content-Type and Content-Disposition values, as buildHeaders writes them for a
 * node with a filename whose content is a Buffer and whose textEncoding is Q; undefined for a
 * multipart or message type, which nodemailer treats differently (left to MailComposer).
 */
export function attachmentTypes(contentType: string, disposition: string, filename: string): { type: string; disposition: string } | undefined {
  const structured = mimeFuncs.parseHeaderValue(contentType, { stripComments: true });
  structured.value = (structured.value || "").toString().replace(/[\x00-\x1f\x7f]/g, "");
  if (/^(multipart|message)\//i.test(structured.value.trim())) return undefined;
  for (const key of Object.keys(structured.params)) if (/^name(\*|$)/i.test(key)) delete structured.params[key];
  let type = mimeFuncs.buildHeaderValue(structured);
  let name = /[\x00-\x1f\x7f]/.test(filename) ? mimeFuncs.encodeWord(filename, "Q", WORD_LENGTH) : mimeFuncs.encodeWords(filename, "Q", WORD_LENGTH, true);
  if (name !== filename || /[\s'"\\;:/=(),<>@[\]?]|^-/.test(name)) name = JSON.stringify(name);
  type += "; name=" + name;
  const dispositionValue = mimeFuncs.parseHeaderValue(disposition, { stripComments: true });
  dispositionValue.params.filename = filename;
  return { type: type.replace(LINE_BREAKS, " "), disposition: mimeFuncs.buildHeaderValue(dispositionValue).replace(LINE_BREAKS, " ") };
}
