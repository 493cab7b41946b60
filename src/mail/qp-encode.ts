// Quoted-printable encoding (RFC 2045 §6.7) for the MIME writer: the same string as nodemailer's
// lib/qp encode() and wrap() (10.6.0), which were about a fifth of the component's MIME CPU per
// copy (docs/performance.md, helper comp8). encode() there turns the whole text into a Buffer,
// allocates three bytes per byte and loops over every one; here a regular expression finds only
// the characters that need an escape, and the runs between them are copied as they are. wrap()
// there cuts each 76-character line with substr() and up to six regular expressions; here the same
// decisions are made by looking at the characters. test/unit/qp-encode.test.ts holds both to
// nodemailer on random and real input.
/**
 * What nodemailer escapes: anything but tab, LF, CR and printable ASCII other than "=", and a
 * space or tab before a CR, an LF or the end. A surrogate pair is one character (four bytes).
 */
const CR = 13;
const LF = 10;
const LITERAL = new Uint8Array(128).map((_, c) => (c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c <= 0x7e && c !== 0x3d) ? 1 : 0));
/** "=XX" for each byte value. */
const BYTE = Array.from({ length: 256 }, (_, b) => `=${b.toString(16).toUpperCase().padStart(2, "0")}`);

/** =XX for each UTF-8 byte of one matched character (or surrogate pair). */
function escape(ch: string): string {
  const code = ch.codePointAt(0)!;
  if (code < 0x80) return BYTE[code]!;
  if (code < 0x800) return BYTE[0xc0 | (code >> 6)]! + BYTE[0x80 | (code & 0x3f)]!;
  // A lone surrogate (a pair is matched whole): Buffer.from() writes U+FFFD's bytes for it.
  if (code >= 0xd800 && code <= 0xdfff) return "=EF=BF=BD";
  if (code < 0x10000) return BYTE[0xe0 | (code >> 12)]! + BYTE[0x80 | ((code >> 6) & 0x3f)]! + BYTE[0x80 | (code & 0x3f)]!;
  return BYTE[0xf0 | (code >> 18)]! + BYTE[0x80 | ((code >> 12) & 0x3f)]! + BYTE[0x80 | ((code >> 6) & 0x3f)]! + BYTE[0x80 | (code & 0x3f)]!;
}

/** nodemailer's qp.encode(text), for a string. */
export function encodeQuotedPrintable(text: string): string {
  // Pieces joined once at the end: appending each one to a string would build a rope of
  // thousands of nodes that the next reader has to flatten.
  const pieces: string[] = [];
  let run = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80 && LITERAL[c] === 1) {
      if (c !== 0x20 && c !== 0x09) continue;
      const next = i + 1 < n ? text.charCodeAt(i + 1) : LF;
      if (next !== LF && next !== CR) continue;
    }
    // a surrogate pair is one character
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < n && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (i > run) pieces.push(text.slice(run, i));
    pieces.push(escape(pair ? text.slice(i, i + 2) : text[i]!));
    if (pair) i++;
    run = i + 1;
  }
  if (run === 0) return text;
  pieces.push(text.slice(run));
  return pieces.join("");
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Whether line[end-3..end) is "=" and two hex digits (/[=][\da-f]{2}$/i on line.slice(0, end)). */
function escapeEndsAt(line: string, end: number): boolean {
  return end >= 3 && line.charCodeAt(end - 3) === 0x3d && isHex(line.charCodeAt(end - 2)) && isHex(line.charCodeAt(end - 1));
}

/** /^(?:=[\da-f]{2}){1,4}$/i */
function onlyEscapes(line: string): boolean {
  const n = line.length;
  if (n === 0 || n > 12 || n % 3 !== 0) return false;
  for (let i = 0; i < n; i += 3) if (!escapeEndsAt(line, i + 3)) return false;
  return true;
}

/** line.length - (m[0].length - 1) for m = /\n.*?$/ on the line's last `margin` characters, or -1. */
function cutAfterLastLf(line: string, margin: number): number {
  const from = Math.max(0, line.length - margin);
  // `.` stops at CR, LF, U+2028 and U+2029: the match is the last LF with none of those after it.
  for (let i = line.length - 1; i >= from; i--) {
    const c = line.charCodeAt(i);
    if (c === LF) return i + 1;
    if (c === CR || c === 0x2028 || c === 0x2029) return -1;
  }
  return -1;
}

/** The cut for /[ \t.,!?][^ \t.,!?]*$/ on the line's last `margin` characters, or -1. */
function cutAfterLastBreakable(line: string, margin: number): number {
  const from = Math.max(0, line.length - margin);
  for (let i = line.length - 1; i >= from; i--) {
    const c = line.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x2e || c === 0x2c || c === 0x21 || c === 0x3f) return i + 1;
  }
  return -1;
}

/** nodemailer's qp.wrap(text, lineLength) for lineLength ≥ 4. */
export function wrapQuotedPrintable(str: string, lineLength: number): string {
  if (str.length <= lineLength) return str;
  const len = str.length;
  const lineMargin = Math.floor(lineLength / 3);
  let pos = 0;
  let result = "";
  while (pos < len) {
    let line = str.substr(pos, lineLength);
    const crlf = line.indexOf("\r\n");
    if (crlf !== -1) {
      line = line.slice(0, crlf + 2);
      result += line;
      pos += line.length;
      continue;
    }
    if (line.charCodeAt(line.length - 1) === LF) {
      result += line;
      pos += line.length;
      continue;
    }
    const afterLf = cutAfterLastLf(line, lineMargin);
    if (afterLf !== -1) {
      line = line.slice(0, afterLf);
      result += line;
      pos += line.length;
      continue;
    }
    const breakable = line.length > lineLength - lineMargin ? cutAfterLastBreakable(line, lineMargin) : -1;
    if (breakable !== -1) {
      line = line.slice(0, breakable);
    } else {
      // /[=][\da-f]{0,2}$/i: "=" in one of the last three places with only hex digits after it.
      const n = line.length;
      const at = line.charCodeAt(n - 1) === 0x3d ? n - 1 : n >= 2 && line.charCodeAt(n - 2) === 0x3d && isHex(line.charCodeAt(n - 1)) ? n - 2 : escapeEndsAt(line, n) ? n - 3 : -1;
      if (at !== -1) {
        // push an incomplete escape to the next line
        if (at > n - 3) line = line.slice(0, at);
        // keep a UTF-8 sequence's escapes together
        while (line.length > 3 && line.length < len - pos && !onlyEscapes(line) && escapeEndsAt(line, line.length)) {
          const code = parseInt(line.slice(-2), 16);
          if (code < 128) break;
          line = line.slice(0, -3);
          if (code >= 0xc0) break;
        }
      }
    }
    if (line.length === 0) line = str.substr(pos, lineLength);
    if (pos + line.length < len && line.charCodeAt(line.length - 1) !== LF) {
      if (line.length === lineLength && escapeEndsAt(line, line.length)) line = line.slice(0, -3);
      else if (line.length === lineLength) line = line.slice(0, -1);
      pos += line.length;
      line += "=\r\n";
    } else {
      pos += line.length;
    }
    result += line;
  }
  return result;
}
