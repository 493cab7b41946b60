// The two pieces of MIME header syntax the replay fast path (./xmpp-part.ts) reads itself: a
// header block (RFC 5322 §2.2, unfolded as mailparser's libmime unfolds it) and a Content-Type
// with plain parameters (RFC 2045 §5.1). Both answer with a reason instead of guessing: comments,
// RFC 2231 continuations, encoded words and repeated fields are left to mailparser.

export interface HeaderBlock {
  /** The fields asked for, lower-case names, values unfolded and trimmed. */
  readonly fields: ReadonlyMap<string, string>;
  /** Just after the empty line that ends the block; may lie past the part when its body is empty. */
  readonly bodyStart: number;
}

export interface ContentType {
  /** type/subtype, lower-case. */
  readonly type: string;
  /** Parameter names lower-case; values as written (unquoted). */
  readonly params: ReadonlyMap<string, string>;
}

/** Ours are about 1 kB; a longer block is not ours, and mailparser has its own limits for it. */
const MAX_HEADER_BYTES = 64 * 1024;
/** A line break that is not CRLF: mailsplit splits lines at LF, libmime unfolds at CR or LF. */
const BARE_LINE_BREAK = /\r(?!\n)|(?<!\r)\n/;
/** RFC 5322 §3.6.8: printable ASCII but the colon. */
const FIELD = /^([!-9;-~]+):/;
/** The fields the fast path reads are ASCII; anything else may need RFC 2047 or charset handling. */
const PLAIN_VALUE = /^[\t -~]*$/;
/** RFC 2045 §5.1 type/subtype. */
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;
/** `; name=token` or `; name="quoted"`: no `*` in the name (RFC 2231), no escapes in the quotes. */
const PARAMETER = /[ \t]*;[ \t]*([!#$%&'+\-.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*(?:"([^"\\]*)"|([!#$%&'*+\-.^_`|~0-9A-Za-z]+))[ \t]*/y;

/**
 * Reads the header block of the part text[start, end) (the whole message for the root), keeping
 * the fields named in `wanted`. A part may start with its empty line (no fields at all).
 */
export function readHeaderBlock(text: string, start: number, end: number, wanted: ReadonlySet<string>): HeaderBlock | string {
  if (text.startsWith("\r\n", start)) return { fields: new Map(), bodyStart: start + 2 };
  const blockEnd = text.indexOf("\r\n\r\n", start);
  // The second CRLF of the empty line may be the one in front of the next delimiter (empty body).
  if (blockEnd === -1 || blockEnd + 2 > end) return "no empty line after the header block";
  if (blockEnd - start > MAX_HEADER_BYTES) return "a header block over 64 kB";
  const block = text.slice(start, blockEnd);
  // Also finds an earlier end of the block that mailsplit would see (LF LF, CR LF LF).
  if (BARE_LINE_BREAK.test(block)) return "a line break in the header block that is not CRLF";
  const fields = new Map<string, string>();
  let name: string | undefined;
  let value = "";
  const keep = (): string | undefined => {
    if (name === undefined || !wanted.has(name)) return undefined;
    if (fields.has(name)) return `a repeated ${name} field`;
    const unfolded = value.trim();
    if (!PLAIN_VALUE.test(unfolded)) return `a ${name} field that is not plain ASCII`;
    fields.set(name, unfolded);
    return undefined;
  };
  for (const line of block.split("\r\n")) {
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (name === undefined) return "a header block that starts with a continuation line";
      // libmime's decodeHeader: a line break and the whitespace after it become one space.
      value += ` ${line.replace(/^[ \t]+/, "")}`;
      continue;
    }
    const problem = keep();
    if (problem) return problem;
    const field = FIELD.exec(line);
    if (!field) return "a header line that is not a field";
    name = field[1]!.toLowerCase();
    value = line.slice(field[0].length);
  }
  const problem = keep();
  if (problem) return problem;
  return { fields, bodyStart: blockEnd + 4 };
}

/** A Content-Type value, or undefined for anything beyond type/subtype and plain parameters. */
export function parseContentType(value: string): ContentType | undefined {
  // Comments and encoded words change what mailparser sees; leave them to it.
  if (value.includes("(") || value.includes("=?")) return undefined;
  const semicolon = value.indexOf(";");
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  if (!MEDIA_TYPE.test(type)) return undefined;
  const params = new Map<string, string>();
  let at = semicolon === -1 ? value.length : semicolon;
  while (at < value.length) {
    PARAMETER.lastIndex = at;
    const m = PARAMETER.exec(value);
    if (!m) return undefined;
    const name = m[1]!.toLowerCase();
    if (params.has(name)) return undefined;
    params.set(name, m[2] ?? m[3]!);
    at = PARAMETER.lastIndex;
  }
  return { type, params };
}
