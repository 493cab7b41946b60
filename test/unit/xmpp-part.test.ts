// Replay's fast path (src/mail/xmpp-part.ts) against mailparser (parseMail), the path it stands in
// for: on everything renderMail writes it must find the same stanza and Date, and on anything it is
// not sure of it must step aside ("fallback") rather than answer differently.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import xml from "@xmpp/xml";
import { decode as libqpDecode } from "libqp";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { extractXmppPart, parseMail, renderMail, type RenderOptions } from "../../src/mail/index.js";
import { decodeQuotedPrintable } from "../../src/mail/quoted-printable.js";
import { serialiseMime } from "../../src/mail/serialise.js";
import { parseStanza } from "../support/stanzas.js";

const DOMAIN = "archive.example.org";
const ctx = {
  componentDomain: DOMAIN, userDomain: "example.org", now: new Date("2026-01-02T10:00:00Z"), maxStanzaBytes: 1_048_576,
  chat: { history: true, groupchat: true, folder: "Chats", keywords: true },
};

// Characters XML 1.0 can carry (§2.2), weighted towards what stresses quoted-printable: line
// breaks of every kind, '=', trailing spaces and tabs, dots, multi-byte UTF-8.
const xmlChar = fc
  .integer({ min: 0x09, max: 0x10ffff })
  .filter((c) => c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000)
  .map((c) => String.fromCodePoint(c));
const piece = fc.oneof(xmlChar, fc.constantFrom("\n", "\r", "\r\n", " ", "\t", " \n", "=", "=0A", ".", "-", "--", "a", "ä", "☕", "😀"), fc.string({ minLength: 60, maxLength: 300 }));
const text = (max: number) => fc.array(piece, { maxLength: max }).map((a) => a.join(""));
const base64Data = fc.uint8Array({ minLength: 1, maxLength: 1500 }).map((b) => Buffer.from(b).toString("base64"));

const stanza = fc.record({
  type: fc.constantFrom("chat", "normal", "groupchat"),
  body: fc.oneof(fc.constant(""), text(40)),
  subject: fc.option(text(8)),
  html: fc.option(text(10)),
  link: fc.option(fc.webUrl()),
  data: fc.array(fc.record({ type: fc.constantFrom("image/png", "application/pdf", "application/octet-stream"), base64: base64Data }), { maxLength: 2 }),
  retract: fc.boolean(),
});

type Stanza = typeof stanza extends fc.Arbitrary<infer T> ? T : never;

function recordOf(s: Stanza): ArchiveRecord | undefined {
  const group = s.type === "groupchat";
  const inner = xml(
    "message",
    { xmlns: "jabber:client", from: group ? "lounge@conference.example.org/Bob" : "bob@example.net/r", to: "alice@example.org/p", type: s.type, id: "m1" },
    s.subject !== null ? xml("subject", {}, s.subject) : null,
    s.body !== "" ? xml("body", {}, s.body) : null,
    s.html !== null ? xml("html", { xmlns: "http://jabber.org/protocol/xhtml-im" }, xml("body", { xmlns: "http://www.w3.org/1999/xhtml" }, xml("p", {}, s.html))) : null,
    s.link !== null ? xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, s.link)) : null,
    ...s.data.map((d, i) => xml("data", { xmlns: "urn:xmpp:bob", cid: `sha1+${i}@bob.xmpp.org`, type: d.type }, d.base64)),
    s.retract ? xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: "old" }) : null,
  );
  const reason = group ? "groupchat" : s.type === "chat" ? "chat" : "offline";
  // Through the parser xmpp.js uses, as the stanza would arrive over the component stream.
  const iq = parseStanza(`<iq type='set' id='p' from='example.org' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='${reason}'><forwarded xmlns='urn:xmpp:forward:0'>${inner.toString()}</forwarded></copy></iq>`);
  try {
    const result = captureCopy(iq, ctx);
    return result.kind === "archive" ? result.record : undefined;
  } catch {
    return undefined;
  }
}

async function bothPaths(bytes: Buffer) {
  return { fast: extractXmppPart(bytes), slow: await parseMail(bytes) };
}

describe("the fast path reads what renderMail writes exactly as mailparser does", () => {
  test("any archived stanza, with and without chat history (HTML, links, attachments)", async () => {
    let archived = 0;
    await fc.assert(
      fc.asyncProperty(stanza, fc.boolean(), fc.integer({ min: 64, max: 4096 }), async (s, chat, maxAttachmentBytes) => {
        const record = recordOf(s);
        if (!record) return;
        archived += 1;
        const options: RenderOptions = chat ? { domain: DOMAIN, chat: { maxAttachmentBytes } } : { domain: DOMAIN };
        const { fast, slow } = await bothPaths((await renderMail(record, options)).bytes);
        assert.equal(fast.kind, "found", fast.kind === "fallback" ? fast.reason : "");
        if (fast.kind !== "found") return;
        assert.equal(fast.stanzaXml, slow.stanzaXml);
        assert.equal(fast.stanzaXml, record.xml);
        assert.equal(fast.date.getTime(), slow.date?.getTime());
      }),
      { numRuns: 400, includeErrorInReport: true },
    );
    assert.ok(archived >= 200, `most generated stanzas are archived (${archived} of 400)`);
  });

  test("a mutated mail is either read the same as by mailparser, or left to it", async () => {
    const base = recordOf({ type: "chat", body: "hello ☕ = world\n".repeat(8), subject: null, html: "<b>hi</b>", link: null, data: [{ type: "image/png", base64: "iVBORw0KGgo=" }], retract: false });
    assert.ok(base);
    const mails = [
      (await renderMail(base, { domain: DOMAIN })).bytes.toString("latin1"),
      (await renderMail(base, { domain: DOMAIN, chat: { maxAttachmentBytes: 1024 } })).bytes.toString("latin1"),
    ];
    const fragment = fc.constantFrom("\r\n", "\r", "\n", "\r\n\r\n", "--", "-", "=", "=\r\n", " ", "\t", ";", '"', "(x)", "*", "boundary=", "Content-Type: text/plain\r\n", "Content-Transfer-Encoding: base64\r\n", "charset=latin1", "=?utf-8?q?x?=", "x", "é");
    let found = 0;
    let fellBack = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1), fc.array(fc.tuple(fc.nat(mails[1]!.length), fc.nat(4), fragment), { minLength: 1, maxLength: 3 }), async (which, edits) => {
        let mail = mails[which]!;
        for (const [where, cut, insert] of edits) {
          const at = Math.min(where, mail.length);
          mail = mail.slice(0, at) + insert + mail.slice(at + cut);
        }
        const bytes = Buffer.from(mail, "latin1");
        const fast = extractXmppPart(bytes);
        if (fast.kind === "fallback") {
          fellBack += 1;
          if (process.env.SHOW_REASONS) console.log(fast.reason);
          return;
        }
        found += 1;
        // Where mailparser fails (replay counts the file as malformed), the fast path must not answer.
        const slow = await parseMail(bytes);
        assert.equal(fast.stanzaXml, slow.stanzaXml);
        assert.equal(fast.date.getTime(), slow.date?.getTime());
      }),
      { numRuns: 1500, includeErrorInReport: true },
    );
    // Most edits land in a part the fast path does not decode, so it still answers; some it must refuse.
    assert.ok(found > 300 && fellBack > 100, `found ${found}, fell back ${fellBack}`);
  });
});

/** A mail shaped like ours, with the stanza part's encoding and charset chosen by the test. */
function composed(options: { encoding?: "base64" | "quoted-printable" | "7bit"; contentType?: string; content?: string | Buffer; ours?: boolean } = {}): Buffer {
  const composer = new MailComposer({
    from: "bob@example.net",
    to: "alice@example.org",
    subject: "hi",
    date: new Date("2026-01-02T03:04:05Z"),
    messageId: "<x@archive.example.org>",
    headers: options.ours === false ? {} : { "X-XMPP-Type": "chat" },
    text: "hi",
    alternatives: [{
      contentType: options.contentType ?? "application/xmpp+xml; charset=utf-8",
      content: options.content ?? "<message xmlns='jabber:client' to='alice@example.org' type='chat'><body>hi ☕</body></message>",
      contentTransferEncoding: options.encoding ?? "quoted-printable",
    }],
  });
  return serialiseMime(composer.compile());
}

describe("anything unusual is left to mailparser", () => {
  const reason = (bytes: Buffer) => {
    const part = extractXmppPart(bytes);
    return part.kind === "fallback" ? part.reason : "found";
  };

  test("a mail not written by us: an ordinary mail, and one with a stanza part but no X-XMPP-Type", async () => {
    const plain = Buffer.from("From: x@example.net\r\nTo: alice@example.org\r\nSubject: hi\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nplain mail\r\n");
    assert.match(reason(plain), /not a mail we wrote/);
    const foreign = composed({ ours: false });
    assert.match(reason(foreign), /not a mail we wrote/);
    assert.match((await parseMail(foreign)).stanzaXml ?? "", /hi ☕/, "mailparser still finds its stanza");
  });

  test("a base64 stanza part is decoded when it is strict base64, and left to mailparser when not", async () => {
    const strict = composed({ encoding: "base64" });
    const part = extractXmppPart(strict);
    assert.equal(part.kind, "found");
    assert.equal(part.kind === "found" ? part.stanzaXml : "", (await parseMail(strict)).stanzaXml);
    // A stray character that decoders skip (or not) in their own ways.
    const sloppy = Buffer.from(strict.toString("latin1").replace(/(Content-Transfer-Encoding: base64\r\n(?:.+\r\n)*\r\n)(\S{8})/, "$1$2!"), "latin1");
    assert.notDeepEqual(sloppy, strict);
    assert.match(reason(sloppy), /base64/);
  });

  test("a stanza part in another charset, or with an encoding we do not decode", async () => {
    const latin1 = composed({ contentType: "application/xmpp+xml; charset=iso-8859-1", content: Buffer.from("<message xmlns='jabber:client' to='alice@example.org'><body>caf\xe9</body></message>", "latin1"), encoding: "7bit" });
    assert.match(reason(latin1), /charset iso-8859-1/);
    const uuencoded = Buffer.from(composed().toString("latin1").replace(/(application\/xmpp\+xml; charset=utf-8\r\nContent-Transfer-Encoding: )quoted-printable/, "$1x-uuencode"), "latin1");
    assert.match(reason(uuencoded), /x-uuencode/);
  });

  test("LF line endings, a missing closing delimiter, a non-multipart mail, two stanza parts", () => {
    const ours = composed().toString("latin1");
    assert.match(reason(Buffer.from(ours.replace(/\r\n/g, "\n"))), /not CRLF|no empty line/);
    assert.match(reason(Buffer.from(ours.replace(/--\r\n$/, "\r\n"))), /closing delimiter/);
    assert.match(reason(Buffer.from("X-XMPP-Type: chat\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nContent-Type: application/xmpp+xml\r\n\r\n<message/>\r\n")), /single application\/xmpp\+xml/);
    const boundary = /boundary="([^"]+)"/.exec(ours)![1]!;
    const last = ours.lastIndexOf(`--${boundary}`);
    const stanzaPart = ours.slice(ours.indexOf("Content-Type: application/xmpp+xml"), last);
    assert.match(reason(Buffer.from(`${ours.slice(0, last)}--${boundary}\r\n${stanzaPart}${ours.slice(last)}`)), /2 application\/xmpp\+xml parts/);
    assert.equal(reason(Buffer.from(ours)), "found", "the unmodified mail is read");
  });
});

test("quoted-printable decoding is libqp's, byte for byte", () => {
  // Dense in what the decoder treats specially: escapes (valid, cut short, lower-case, split by a
  // soft line break), whitespace before line ends, lone CR and LF, the end of input, 8-bit bytes.
  const token = fc.oneof(
    fc.constantFrom("=", "==", "=\r\n", "=\n", "=\r", "\r\n", "\r", "\n", " ", "\t", "=3D", "=3d", "=E2=98=95", "=4", "=G1", "=\r\n1", "a", "0", "F"),
    fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)),
  );
  let withWhitespace = 0;
  fc.assert(
    fc.property(fc.array(token, { maxLength: 40 }), fc.boolean(), (tokens, noWhitespace) => {
      // Half the cases without spaces and tabs, so the one-pass decoder (not libqp) answers them.
      const text = noWhitespace ? tokens.join("").replace(/[ \t]/g, "") : tokens.join("");
      if (/[ \t](?:[\r\n]|$)/.test(text)) withWhitespace += 1;
      const encoded = Buffer.from(text, "latin1");
      assert.deepEqual(decodeQuotedPrintable(encoded, text), libqpDecode(encoded));
    }),
    { numRuns: 10_000 },
  );
  assert.ok(withWhitespace > 100 && withWhitespace < 9000, `both decoders exercised (${withWhitespace} handed to libqp)`);
});
