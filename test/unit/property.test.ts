// Property: any stanza either becomes a mail that a real MIME parser reads back with the same
// body, sender and Message-ID, or is refused with a typed error. Never anything in between.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import xml from "@xmpp/xml";
import { simpleParser } from "mailparser";
import { captureCopy } from "../../src/capture/index.js";
import { RefusedError } from "../../src/errors.js";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import { renderMail } from "../../src/mail/index.js";
import { serialiseMime } from "../../src/mail/serialise.js";
import { parseStanza } from "../support/stanzas.js";

const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 16 * 1024 };

// Characters XML 1.0 can carry (§2.2): the wire cannot hold the others, the corpus test covers them.
const xmlChar = fc
  .integer({ min: 0x09, max: 0x10ffff })
  .filter((c) => c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000)
  .map((c) => String.fromCodePoint(c));
const xmlText = (max: number) => fc.array(fc.oneof(xmlChar, fc.constantFrom("\n", "\r\n", " ", "=", ".", "a", "ä", "😀")), { maxLength: max }).map((a) => a.join(""));
const localPart = fc.oneof(fc.constantFrom("alice", "bob", "..", ".", "", "a.b", "jürgen", "x\ty", "d\\27a"), xmlText(12));

test("any stanza is stored faithfully or refused", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({ to: localPart, from: localPart, body: xmlText(400), subject: fc.option(xmlText(80)), id: fc.option(xmlText(20)), type: fc.constantFrom(undefined, "chat", "normal", "headline") }),
      async (s) => {
        const inner = xml("message", { xmlns: "jabber:client", from: `${s.from}@example.net/r`, to: `${s.to}@example.org`, type: s.type, id: s.id ?? undefined },
          s.subject !== null ? xml("subject", {}, s.subject) : null, xml("body", {}, s.body));
        // Serialise and parse again, as the stanza would travel over the stream.
        const iq = parseStanza(`<iq type='set' id='p' from='example.org' to='archive.example.org'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'><forwarded xmlns='urn:xmpp:forward:0'>${inner.toString()}</forwarded></copy></iq>`);
        let result;
        try {
          result = captureCopy(iq, ctx);
        } catch (err) {
          assert.ok(err instanceof RefusedError, `only typed refusals, got ${String(err)}`);
          return;
        }
        assert.equal(result.kind, "archive");
        if (result.kind !== "archive") return;
        const mail = await renderMail(result.record, { domain: "archive.example.org" });
        const parsed = await simpleParser(mail.bytes);
        const normalise = (t: string) => t.replace(/\r\n?/g, "\n").replace(/\n$/, "");
        assert.equal(normalise(parsed.text ?? ""), normalise(s.body));
        assert.equal(parsed.messageId, mail.messageId);
        // A local part that is not a dot-atom comes back as a quoted string (RFC 5322 §3.4.1).
        assert.equal(unquoteLocal(parsed.from?.value[0]?.address ?? ""), `${result.record.from.local}@example.net`);
        assert.match(mail.bytes.toString("utf8"), /^Content-Type: multipart\/alternative;/m);
        const head = mail.bytes.subarray(0, mail.bytes.indexOf("\r\n\r\n")).toString("utf8");
        for (const line of head.split("\r\n")) assert.ok(line === "" || /^[\x21-\x39\x3b-\x7e]+:|^[ \t]/.test(line), `a header line: ${JSON.stringify(line)}`);
      },
    ),
    { numRuns: 300, includeErrorInReport: true },
  );
});

// Found by the property above: "a\r\r\nb" went into a 7bit text part with its bare CR, and a
// MIME parser read one line break where the sender wrote two.
test("a bare CR in chat text becomes a line break of the text part, and stays in the stanza part", async () => {
  const inner = xml("message", { xmlns: "jabber:client", from: "bob@example.net/r", to: "alice@example.org", type: "chat", id: "cr" }, xml("body", {}, "a\r\r\nb\rc"));
  const iq = parseStanza(`<iq type='set' id='p' from='example.org' to='archive.example.org'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'><forwarded xmlns='urn:xmpp:forward:0'>${inner.toString()}</forwarded></copy></iq>`);
  const result = captureCopy(iq, ctx);
  assert.equal(result.kind, "archive");
  if (result.kind !== "archive") return;
  const mail = await renderMail(result.record, { domain: "archive.example.org" });
  const raw = mail.bytes.toString("latin1");
  assert.doesNotMatch(raw, /\r(?!\n)/, "no bare CR anywhere in the mail");
  const parsed = await simpleParser(mail.bytes);
  assert.equal(parsed.text?.replace(/\n$/, ""), "a\n\nb\nc");
  const stanza = parsed.attachments.find((a) => a.contentType === "application/xmpp+xml");
  assert.match(stanza?.content.toString("utf8") ?? "", /<body>a\r\r\nb\rc<\/body>/);
});

function unquoteLocal(address: string): string {
  const quoted = /^"((?:[^"\\]|\\.)*)"@(.*)$/.exec(address);
  return quoted ? `${quoted[1]!.replace(/\\(.)/g, "$1")}@${quoted[2]}` : address;
}

// src/mail/serialise.ts replaces MimeNode#build's stream pipeline: for any content it must write
// what build() writes for the same tree. The one freedom: where quoted-printable puts its soft
// line breaks (the stream encoder wraps a trailing run of whitespace separately), which decoding
// removes.
test("the synchronous MIME writer matches MimeNode#build up to soft line breaks", async () => {
  const anyText = fc.array(fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), fc.constantFrom("\n", "\r", "\r\n", " ", "\t", "=", ".", "ä")), { maxLength: 300 }).map((a) => a.join(""));
  await fc.assert(
    fc.asyncProperty(anyText, anyText, fc.uint8Array({ maxLength: 200 }), fc.boolean(), async (body, stanza, attachment, rich) => {
      const root = new MailComposer({
        from: { name: "", address: "a@example.org" },
        to: { name: body.slice(0, 10), address: "b@example.org" },
        subject: body.slice(0, 60),
        text: body === "" ? Buffer.alloc(0) : body,
        textEncoding: "quoted-printable",
        ...(rich ? { html: `<p>${body}</p>` } : {}),
        alternatives: [{ contentType: "application/xmpp+xml; charset=utf-8", content: stanza, contentTransferEncoding: "quoted-printable" }],
        ...(rich ? { attachments: [{ contentType: "image/png", content: Buffer.from(attachment), filename: "a.png", headers: { "Content-ID": "<c@example.org>" } }] } : {}),
      }).compile();
      const unwrap = (b: Buffer): string => b.toString("latin1").replaceAll("=\r\n", "");
      const ours = serialiseMime(root);
      const theirs = await root.build();
      assert.equal(unwrap(ours), unwrap(theirs));
    }),
    { numRuns: 300 },
  );
});
