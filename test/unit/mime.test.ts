import { test } from "node:test";
import assert from "node:assert/strict";
import { simpleParser, type ParsedMail } from "mailparser";
import { captureCopy, captureDirect, type ArchiveRecord } from "../../src/capture/index.js";
import { messageIdOf, renderMail, XMPP_CONTENT_TYPE } from "../../src/mail/index.js";
import { copyIq, parseStanza } from "../support/stanzas.js";

const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date("2026-05-06T07:08:09Z"), maxStanzaBytes: 1_048_576 };

function recordOf(inner: string, reason = "offline"): ArchiveRecord {
  const result = captureCopy(copyIq({ inner, reason }), ctx);
  assert.equal(result.kind, "archive");
  return (result as { record: ArchiveRecord }).record;
}

async function roundTrip(record: ArchiveRecord): Promise<{ parsed: ParsedMail; raw: string; messageId: string }> {
  const mail = await renderMail(record, { domain: "archive.example.org" });
  return { parsed: await simpleParser(mail.bytes), raw: mail.bytes.toString("utf8"), messageId: mail.messageId };
}

/** The application/xmpp+xml part, decoded, found by walking the raw MIME parts. */
function xmlPart(raw: string): string {
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(raw)?.[1];
  assert.ok(boundary, "has a multipart boundary");
  const part = raw.split(`--${boundary}`).find((p) => p.includes("Content-Type: application/xmpp+xml"));
  assert.ok(part, "has an application/xmpp+xml part");
  const [head, ...rest] = part.split("\r\n\r\n");
  assert.match(head!, /Content-Transfer-Encoding: quoted-printable/);
  const body = rest.join("\r\n\r\n").replace(/\r\n$/, "");
  return Buffer.from(
    body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    "latin1",
  ).toString("utf8");
}

test("renders multipart/alternative with the text first and the stanza second", async () => {
  const inner =
    "<message xmlns='jabber:client' from='bob@example.net/phone' to='alice@example.org' type='chat' id='m1'>" +
    "<body>Grüße, Alice! ☕</body><thread>t-42</thread></message>";
  const record = recordOf(inner);
  const { parsed, raw, messageId } = await roundTrip(record);

  assert.match(raw, /^Content-Type: multipart\/alternative;/m);
  assert.equal(parsed.text?.trim(), "Grüße, Alice! ☕");
  assert.equal(parsed.from?.value[0]?.address, "bob@example.net");
  assert.equal((Array.isArray(parsed.to) ? parsed.to[0] : parsed.to)?.value[0]?.address, "alice@example.org");
  assert.equal(parsed.subject, "Grüße, Alice! ☕");
  assert.equal(parsed.messageId, messageId);
  assert.equal(parsed.headers.get("x-xmpp-type"), "chat");
  assert.equal(parsed.headers.get("x-xmpp-from"), "bob@example.net/phone");
  assert.equal(parsed.headers.get("jabber-id"), "bob@example.net");
  assert.equal(parsed.inReplyTo, parsed.references);
  assert.match(String(parsed.inReplyTo), /^<thread\.[0-9a-f]{32}@archive\.example\.org>$/);
  // The delay on the <forwarded/> is the time the server received it.
  assert.equal(parsed.date?.toISOString(), "2026-01-02T03:04:05.000Z");

  const textAt = raw.indexOf("Content-Type: text/plain; charset=utf-8");
  const xmlAt = raw.indexOf(`Content-Type: ${XMPP_CONTENT_TYPE}`);
  assert.ok(textAt > 0 && xmlAt > textAt, "text/plain comes before application/xmpp+xml");
  assert.match(raw.slice(textAt, xmlAt), /Content-Transfer-Encoding: quoted-printable/);
  // The raw header block carries the subject RFC 2047-encoded, never 8-bit.
  const headerBlock = raw.slice(0, raw.indexOf("\r\n\r\n"));
  assert.match(headerBlock, /^Subject: =\?UTF-8\?Q\?/m);

  const xmlText = xmlPart(raw);
  assert.equal(xmlText, `<?xml version='1.0' encoding='utf-8'?>\n${inner.replaceAll("'", '"')}`);
});

test("the stanza's own delay wins over the server's receive time", async () => {
  const record = recordOf(
    "<message xmlns='jabber:client' from='bob@example.net/x' to='alice@example.org'><body>hi</body>" +
      "<delay xmlns='urn:xmpp:delay' stamp='2020-02-03T04:05:06.789Z'/></message>",
  );
  const { parsed } = await roundTrip(record);
  assert.equal(parsed.date?.toISOString(), "2020-02-03T04:05:06.000Z");
});

test("CR, LF and NUL from the stanza never reach a header", async () => {
  const record = recordOf(
    "<message xmlns='jabber:client' from='bob@example.net/a' to='alice@example.org' id='x&#13;&#10;Bcc: evil@x'>" +
      "<subject>Hello&#13;&#10;Bcc: victim@example.com</subject><body>b</body><thread>t&#10;X-Evil: 1</thread></message>",
  );
  const { parsed, raw } = await roundTrip(record);
  const headerBlock = raw.slice(0, raw.indexOf("\r\n\r\n"));
  assert.doesNotMatch(headerBlock, /^Bcc:/im);
  assert.doesNotMatch(headerBlock, /^X-Evil:/im);
  assert.equal(parsed.bcc, undefined);
  assert.equal(parsed.subject, "Hello Bcc: victim@example.com");
  assert.equal(parsed.headers.get("x-xmpp-from"), "bob@example.net/a");
});

test("subject falls back to a short first line of the body", async () => {
  const long = "x".repeat(200);
  const { parsed } = await roundTrip(recordOf(`<message xmlns='jabber:client' from='b@example.net' to='alice@example.org'><body>\n\n${long}\nsecond</body></message>`));
  assert.equal(parsed.subject, `${"x".repeat(60)}…`);
  assert.equal(parsed.text?.replace(/\n$/, ""), `\n\n${long}\nsecond`);
});

test("a 100,000-character single-line body survives quoted-printable line limits", async () => {
  const body = "ä".repeat(50_000) + "b".repeat(50_000);
  const { parsed, raw } = await roundTrip(recordOf(`<message xmlns='jabber:client' from='b@example.net' to='alice@example.org'><body>${body}</body></message>`));
  assert.equal(parsed.text?.replace(/\n$/, ""), body);
  // RFC 5322 §2.1.1: no line longer than 998 characters.
  assert.ok(raw.split("\r\n").every((line) => line.length <= 998));
});

test("Message-ID is stable per stanza and follows origin-id, then id, then stanza-id", async () => {
  const base = (extra: string, id = "abc") =>
    `<message xmlns='jabber:client' from='bob@example.net/r1' to='alice@example.org' id='${id}'><body>x</body>${extra}</message>`;
  const a = await renderMail(recordOf(base("")), { domain: "archive.example.org" });
  const b = await renderMail(recordOf(base("")), { domain: "archive.example.org" });
  assert.equal(a.messageId, b.messageId, "same stanza, same Message-ID");
  assert.match(a.messageId, /^<[0-9a-f]{32}@archive\.example\.org>$/);
  const otherId = await renderMail(recordOf(base("", "abd")), { domain: "archive.example.org" });
  assert.notEqual(otherId.messageId, a.messageId);
  const withOrigin1 = await renderMail(recordOf(base("<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>", "1")), { domain: "archive.example.org" });
  const withOrigin2 = await renderMail(recordOf(base("<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>", "2")), { domain: "archive.example.org" });
  assert.equal(withOrigin1.messageId, withOrigin2.messageId, "origin-id wins over the id attribute");
});

test("one-to-one, a stanza-id (one archive's id for its copy) does not change the Message-ID; in a room the room's stanza-id does", async () => {
  // ejabberd's mod_mam puts <stanza-id by=sender/> on a sent message before our module copies it,
  // and <stanza-id by=recipient/> on a received one only after: live capture and an import from
  // the archive see different stanza-ids for the same message, but the same id attribute.
  const received = `<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat' id='b1'><body>x</body>`;
  const plain = await renderMail(recordOf(`${received}</message>`), { domain: "archive.example.org" });
  const ownArchive = await renderMail(recordOf(`${received}<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='1796156640772159'/></message>`), { domain: "archive.example.org" });
  assert.equal(ownArchive.messageId, plain.messageId);
  const noId = `<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat'><body>x</body>`;
  const a = await renderMail(recordOf(`${noId}<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='s1'/></message>`), { domain: "archive.example.org" });
  const b = await renderMail(recordOf(`${noId}<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='s2'/></message>`), { domain: "archive.example.org" });
  assert.notEqual(a.messageId, b.messageId, "without an id attribute the stanza-id still tells messages apart");
  // A room: its own stanza-id names the message for every occupant, wherever the user's server put its own.
  const room = "room@conference.example.org";
  const roomId = { by: room, id: "r1" };
  const userId = { by: "alice@example.org", id: "u1" };
  const none = { originId: undefined, id: "m1" };
  const expected = messageIdOf({ sender: room, ids: { ...none, id: undefined, stanzaId: roomId } }, "archive.example.org");
  assert.equal(messageIdOf({ sender: room, type: "groupchat", ids: { ...none, stanzaId: userId, stanzaIds: [userId, roomId] } }, "archive.example.org"), expected);
  assert.equal(messageIdOf({ sender: room, type: "groupchat", ids: { ...none, stanzaId: roomId } }, "archive.example.org"), expected);
});

test("a direct message keeps its recipient and is stored in jabber:client", async () => {
  const stanza = parseStanza("<message from='carol@example.net/x' to='alice@archive.example.org' id='d1'><body>note</body></message>");
  const result = captureDirect(stanza, ctx);
  assert.equal(result.kind, "archive");
  const record = (result as { record: ArchiveRecord }).record;
  assert.deepEqual(record.owner, { local: "alice", domain: "example.org", resource: "" });
  assert.equal(record.time.toISOString(), ctx.now.toISOString());
  const { parsed, raw } = await roundTrip(record);
  assert.equal(parsed.headers.get("x-xmpp-type"), "normal");
  assert.match(xmlPart(raw), /^<\?xml version='1.0' encoding='utf-8'\?>\n<message from="carol@example.net\/x" to="alice@archive.example.org" id="d1" xmlns="jabber:client">/);
});

test("an empty body still gives a multipart/alternative with a text part", async () => {
  const { raw } = await roundTrip(recordOf("<message xmlns='jabber:client' from='b@example.net' to='alice@example.org'><body></body></message>"));
  assert.match(raw, /^Content-Type: multipart\/alternative;/m);
  assert.match(raw, /^Content-Type: text\/plain; charset=utf-8/m);
});
