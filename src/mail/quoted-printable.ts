// Quoted-printable decoding (RFC 2045 §6.7) for replay's fast path: byte for byte what libqp's
// decode() returns (the decoder mailparser runs, through mailsplit), in one pass over the bytes.
// libqp makes three passes over a string (two regular expressions, then the escapes), which was
// the largest single cost of reading a mail we wrote (about 14 % of replay's CPU); this takes
// about 6 µs for a typical 1.5 kB stanza part where libqp takes 14–16 (measured).
// test/unit/xmpp-part.test.ts holds this to libqp on random input.
//
// libqp's steps, each applied to the result of the one before:
//   1. a run of spaces and tabs before a CR, an LF or the end is dropped (RFC 2045 §6.7 rule 3);
//   2. "=" before CRLF, LF or the end is a soft line break, dropped (rule 5);
//   3. "=" and two hex digits, either case, is that byte; anything else is copied as it is.
// Step 1 only matters when such whitespace exists, which nodemailer never writes (it encodes it);
// then this hands over to libqp. Steps 2 and 3 are done together: the two digits of an escape are
// the next two bytes that are not part of a soft line break, as they are once step 2 is done.
import { decode as libqpDecode } from "libqp";

const CR = 0x0d;
const LF = 0x0a;
const EQUALS = 0x3d;
/** Spaces or tabs that step 1 would drop. */
const WHITESPACE_BEFORE_LINE_END = /[ \t](?:[\r\n]|$)/;

/** `latin1` is the same bytes as a latin1 string (one char per byte), which the caller has at hand. */
export function decodeQuotedPrintable(bytes: Uint8Array, latin1: string): Buffer {
  if (WHITESPACE_BEFORE_LINE_END.test(latin1)) return libqpDecode(bytes);
  const length = bytes.length;
  // Output is never longer than input.
  const out = Buffer.allocUnsafe(length);
  let written = 0;
  for (let i = 0; i < length; ) {
    const byte = bytes[i]!;
    if (byte !== EQUALS) {
      out[written++] = byte;
      i += 1;
      continue;
    }
    const soft = softBreak(bytes, i);
    if (soft > 0) {
      i += soft;
      continue;
    }
    const first = skipSoftBreaks(bytes, i + 1);
    const second = first < length ? skipSoftBreaks(bytes, first + 1) : length;
    const high = first < length ? hexValue(bytes[first]!) : -1;
    const low = second < length ? hexValue(bytes[second]!) : -1;
    if (high >= 0 && low >= 0) {
      out[written++] = high * 16 + low;
      i = second + 1;
    } else {
      out[written++] = EQUALS;
      i += 1;
    }
  }
  return out.subarray(0, written);
}

/** The length of the soft line break at `i` ("=" and CRLF, LF or the end), or 0. */
function softBreak(bytes: Uint8Array, i: number): number {
  if (bytes[i] !== EQUALS) return 0;
  if (i + 1 === bytes.length) return 1;
  const next = bytes[i + 1];
  if (next === LF) return 2;
  return next === CR && bytes[i + 2] === LF ? 3 : 0;
}

/** The first position at or after `i` that does not start a soft line break. */
function skipSoftBreaks(bytes: Uint8Array, i: number): number {
  for (let n = softBreak(bytes, i); n > 0; n = softBreak(bytes, i)) i += n;
  return i;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
}
