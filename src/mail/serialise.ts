// A MIME tree from MailComposer.compile() → bytes, synchronously, for ./composer.ts: the
// MailComposer renderer that ./mime-writer.ts is tested against (test/unit/mime-writer.test.ts)
// and falls back to for rare shapes. renderMail's common mails no longer come through here.
// MailComposer still decides everything about such a message (structure, headers, RFC 2047
// words, addresses, boundaries); this replaces only its stream pipeline (MimeNode#build), which
// cost about 0.45 ms of CPU per message in Node streams, AbortSignals and setImmediate hops
// (docs/performance.md). The content encoders are nodemailer's own (quoted-printable, base64), so
// the body bytes match what build() writes for the string and Buffer contents we give it.
import * as base64 from "nodemailer/lib/base64/index.js";
import type MimeNode from "nodemailer/lib/mime-node/index.js";
import * as qp from "nodemailer/lib/qp/index.js";

const LINE_LENGTH = 76;

export function serialiseMime(root: MimeNode): Buffer {
  const out: (string | Buffer)[] = [];
  writeNode(root, out);
  const bytes = Buffer.concat(out.map((c) => (typeof c === "string" ? Buffer.from(c, "utf8") : c)));
  // MimeNode's LastNewline stage: the message always ends with a line break.
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) return bytes;
  return Buffer.concat([bytes, Buffer.from(bytes[bytes.length - 1] === 0x0d ? "\n" : "\r\n")]);
}

function writeNode(node: MimeNode, out: (string | Buffer)[]): void {
  // buildHeaders() also settles the transfer encoding, the multipart flag and the boundary.
  out.push(node.buildHeaders() + "\r\n\r\n");
  const content = node.content;
  if (content !== undefined && content !== null && (content as unknown) !== "") {
    if (typeof content !== "string" && !Buffer.isBuffer(content)) {
      // We only ever give MailComposer strings and Buffers; a stream, file or URL would need the
      // asynchronous pipeline, and would be a bug in the caller.
      throw new TypeError("serialiseMime: only string and Buffer contents are supported");
    }
    out.push(encodeContent(content, node.getTransferEncoding(), /^text\//i.test(node.contentType ?? "")));
  }
  if (!node.multipart) return;
  node.childNodes.forEach((child, i) => {
    out.push(`${i > 0 ? "\r\n" : ""}--${String(node.boundary)}\r\n`);
    writeNode(child, out);
  });
  out.push(`\r\n--${String(node.boundary)}--\r\n`);
}

function encodeContent(content: string | Buffer, transferEncoding: string | false, text: boolean): string | Buffer {
  if (transferEncoding === "base64") return base64.wrap(base64.encode(content), LINE_LENGTH);
  if (transferEncoding === "quoted-printable") {
    let encoded = qp.encode(content);
    // Outside text, a lone CR or LF is data, not a line break: encode it so that nothing on the
    // way (or a decoder) turns it into CRLF. nodemailer's stream encoder does the same (binary).
    if (!text) encoded = encoded.replace(/\r\n|\r|\n/g, (m) => (m === "\r\n" ? m : m === "\r" ? "=0D" : "=0A"));
    return qp.wrap(encoded, LINE_LENGTH);
  }
  return content;
}
