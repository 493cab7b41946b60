// The encrypted-message corpus (test/fixtures/clients/): each stanza as a client or spec sends it,
// through capture and render, and what the mail looks like. Also --encrypted skip and keywords.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { simpleParser } from "mailparser";
import { captureCopy, type ArchiveRecord, type CaptureResult } from "../../src/capture/index.js";
import { parseStanzaXml, renderMail } from "../../src/mail/index.js";
import { copyIq, parseStanza } from "../support/stanzas.js";

const FIXTURES = new URL("../../../test/fixtures/clients/", import.meta.url);

/** The fixture's stanza, without its leading source comment, as it was on the client's stream. */
function fixture(name: string): string {
  const text = readFileSync(fileURLToPath(new URL(name, FIXTURES)), "utf8");
  assert.match(text, /^<!--[\s\S]+?-->/, `${name} names its source in a leading comment`);
  return text.replace(/^<!--[\s\S]*?-->\s*/, "").trim();
}

/** An offline copy of the fixture from its recipient's server, as the server module sends it. */
function capture(name: string, options: { encrypted?: "archive" | "skip"; keywords?: boolean } = {}): CaptureResult {
  const stanza = fixture(name);
  const domain = /\bto="[^"@]+@([^"/]+)/.exec(stanza)?.[1];
  assert.ok(domain, `${name} has a to address`);
  // Inside <forwarded/> the stanza states its namespace (XEP-0297 §3), which the c2s stream implied.
  const inner = stanza.replace(/^<message /, "<message xmlns='jabber:client' ");
  const ctx = {
    componentDomain: `archive.${domain}`,
    userDomain: domain,
    now: new Date("2026-05-06T07:08:09Z"),
    maxStanzaBytes: 1_048_576,
    chat: { history: true, groupchat: false, folder: "Chats", keywords: options.keywords ?? false },
    ...(options.encrypted ? { encrypted: options.encrypted } : {}),
  };
  return captureCopy(copyIq({ inner, reason: "offline", from: domain }), ctx);
}

function archived(result: CaptureResult): ArchiveRecord {
  assert.equal(result.kind, "archive", `archived, got ${JSON.stringify(result)}`);
  return (result as { record: ArchiveRecord }).record;
}

const CASES = [
  { file: "conversations-omemo.xml", header: "OMEMO", subject: "Encrypted message (OMEMO)", element: ["encrypted", "eu.siacs.conversations.axolotl"] },
  { file: "xep0384-omemo2.xml", header: "OMEMO:2", subject: "Encrypted message (OMEMO 2)", element: ["encrypted", "urn:xmpp:omemo:2"] },
  { file: "xep0373-ox.xml", header: "OX", subject: "Encrypted message (OpenPGP for XMPP)", element: ["openpgp", "urn:xmpp:openpgp:0"] },
  { file: "xep0027-pgp.xml", header: "PGP", subject: "Encrypted message (legacy OpenPGP)", element: ["x", "jabber:x:encrypted"] },
  { file: "xep0380-otr.xml", header: "OTR", subject: "Encrypted message (OTR)", element: ["encryption", "urn:xmpp:eme:0"] },
  { file: "omemo-header-only.xml", header: "OMEMO", subject: "Encrypted message (OMEMO)", element: ["encrypted", "eu.siacs.conversations.axolotl"] },
] as const;

for (const c of CASES) {
  test(`${c.file}: Subject names the scheme, X-XMPP-Encryption: ${c.header}, an explanation, the stanza kept`, async () => {
    const record = archived(capture(c.file));
    for (const chat of [undefined, { maxAttachmentBytes: 262_144 }]) {
      const mail = await renderMail(record, { domain: "archive.example.org", ...(chat ? { chat } : {}) });
      const parsed = await simpleParser(mail.bytes);
      assert.equal(parsed.subject, c.subject);
      assert.equal(parsed.headers.get("x-xmpp-encryption"), c.header);
      const text = parsed.text ?? "";
      assert.match(text, /end-to-end encrypted/);
      assert.match(text, /Only your XMPP apps can read it/);
      assert.match(text, /original is kept/);
      // Never the sender's fallback sentence, nor the ciphertext, in what a person reads.
      assert.doesNotMatch(`${parsed.subject}\n${text}`, /I sent you|This message is encrypted\.|\?OTR:|base64encoded|BASE64_OPENPGP|payload/);
      assert.equal(parsed.html, false, "no HTML alternative built from the fallback");
      const part = parsed.attachments.find((a) => a.contentType === "application/xmpp+xml");
      assert.ok(part, "has the application/xmpp+xml part");
      const stored = part.content.toString("utf8");
      assert.equal(stored, record.xml, "the stanza part is the captured stanza, byte for byte");
      // The encrypted element itself is exactly what the client sent.
      const [name, ns] = c.element;
      const sent = parseStanza(fixture(c.file)).getChild(name, ns);
      assert.ok(sent);
      assert.equal(parseStanzaXml(stored).getChild(name, ns)?.toString(), sent.toString());
    }
  });
}

test("an OMEMO correction (XEP-0308) goes the same way and still points at the original", async () => {
  const record = archived(capture("conversations-omemo-correction.xml"));
  const parsed = await simpleParser((await renderMail(record, { domain: "archive.example.org", chat: { maxAttachmentBytes: 262_144 } })).bytes);
  assert.equal(parsed.subject, "Encrypted message (OMEMO)");
  assert.equal(parsed.headers.get("x-xmpp-encryption"), "OMEMO");
  assert.match(parsed.text ?? "", /^This correction of an earlier message is end-to-end encrypted \(OMEMO\)\./);
  assert.match(String(parsed.headers.get("chat-edit")), /^<.+@archive\.example\.org>$/);
  assert.equal(parsed.inReplyTo, parsed.headers.get("chat-edit"));
});

test("a retraction (XEP-0424) of an encrypted message is a retraction, as for any other", async () => {
  const inner =
    "<message xmlns='jabber:client' from='bob@example.org/c' to='alice@example.org' type='chat' id='r1'>" +
    "<retract xmlns='urn:xmpp:message-retract:1' id='4a8b8dac-acbc-4166-a2fb-286c7561bfa9'/>" +
    "<encryption xmlns='urn:xmpp:eme:0' name='OMEMO' namespace='eu.siacs.conversations.axolotl'/><store xmlns='urn:xmpp:hints'/></message>";
  const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1_048_576 };
  const record = archived(captureCopy(copyIq({ inner }), ctx));
  assert.equal(record.chat.retracts, "4a8b8dac-acbc-4166-a2fb-286c7561bfa9");
  const parsed = await simpleParser((await renderMail(record, { domain: "archive.example.org", chat: { maxAttachmentBytes: 262_144 } })).bytes);
  assert.equal(parsed.headers.get("x-xmpp-encryption"), "OMEMO");
  assert.ok(parsed.headers.get("chat-delete"), "Chat-Delete names the original");
});

test("an OMEMO key transport element (no payload, no body) is confirmed and not stored", () => {
  const result = capture("omemo-key-transport.xml");
  assert.equal(result.kind, "skip");
  assert.match((result as { reason: string }).reason, /without a payload/);
});

test("--encrypted skip: every scheme is confirmed without a mail; messages in the clear are still stored", () => {
  for (const c of CASES) {
    const result = capture(c.file, { encrypted: "skip" });
    assert.equal(result.kind, "skip", c.file);
    assert.match((result as { reason: string }).reason, /--encrypted skip/);
  }
  const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1_048_576, encrypted: "skip" as const };
  const plain = captureCopy(copyIq({ inner: "<message xmlns='jabber:client' from='bob@example.org/c' to='alice@example.org' type='chat'><body>hi</body></message>" }), ctx);
  assert.equal(plain.kind, "archive");
});

test("$XMPPEncrypted joins the keywords when keywords are on, and only then", () => {
  assert.ok(archived(capture("conversations-omemo.xml", { keywords: true })).placement.keywords.includes("$XMPPEncrypted"));
  assert.deepEqual(archived(capture("conversations-omemo.xml")).placement.keywords, []);
  const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1_048_576, chat: { history: true, groupchat: false, folder: "Chats", keywords: true } };
  const plain = archived(captureCopy(copyIq({ inner: "<message xmlns='jabber:client' from='bob@example.org/c' to='alice@example.org' type='chat'><body>hi</body></message>" }), ctx));
  assert.ok(!plain.placement.keywords.includes("$XMPPEncrypted"));
});

test("a hostile hint: control characters and length are stripped from what reaches the headers", async () => {
  const inner =
    "<message xmlns='jabber:client' from='bob@example.org/c' to='alice@example.org' type='chat'><body>x</body>" +
    `<encryption xmlns='urn:xmpp:eme:0' namespace='urn:evil&#10;Bcc: x@y' name='${"N".repeat(500)}'/></message>`;
  const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1_048_576 };
  const record = archived(captureCopy(copyIq({ inner }), ctx));
  const mail = (await renderMail(record, { domain: "archive.example.org" })).bytes.toString("utf8");
  assert.doesNotMatch(mail, /^Bcc:/m);
  assert.match(mail, /^X-XMPP-Encryption: urn:evilBcc: x@y\r$/im);
});
