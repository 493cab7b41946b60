// Chat records → mail, read back with a real MIME parser (mailparser): chat-over-email headers,
// conversation threads, corrections and retractions, group chat senders, HTML, links, attachments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { dayThreadIdFor, messageIdFor, renderMail, RETRACTED_TEXT } from "../../src/mail/index.js";
import { copyIq } from "../support/stanzas.js";

const DOMAIN = "archive.example.org";
const ctx = { componentDomain: DOMAIN, userDomain: "example.org", now: new Date("2026-01-02T10:00:00Z"), maxStanzaBytes: 1_048_576, chat: { history: true, groupchat: true, folder: "Chats", keywords: true } };
const chat = { maxAttachmentBytes: 1024 };

function record(reason: string, attrs: string, children: string, stamp = "2026-01-02T10:00:00Z"): ArchiveRecord {
  const result = captureCopy(copyIq({ reason, stamp, inner: `<message xmlns='jabber:client' ${attrs}>${children}</message>` }), ctx);
  if (result.kind !== "archive") throw new Error(`not archived: ${JSON.stringify(result)}`);
  return result.record;
}
const parse = async (r: ArchiveRecord, options: { related?: string } = {}) => simpleParser((await renderMail(r, { domain: DOMAIN, chat, ...options })).bytes);

test("both directions of a conversation on one day share a thread root; the next day starts another", async () => {
  const received = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='a'", "<body>hi</body>");
  const sent = record("sent", "from='alice@example.org/p' to='bob@example.net/r' type='chat' id='b'", "<body>hello</body>");
  const tomorrow = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='c'", "<body>again</body>", "2026-01-03T09:00:00Z");
  const [m1, m2, m3] = await Promise.all([parse(received), parse(sent), parse(tomorrow)]);
  assert.equal(m1.headers.get("chat-version"), "1.0");
  assert.equal(m1.references, dayThreadIdFor(received, DOMAIN));
  assert.equal(m2.references, m1.references);
  assert.equal(m2.inReplyTo, m1.references);
  assert.notEqual(m3.references, m1.references);
  assert.equal(m2.from?.value[0]?.address, "alice@example.org");
  assert.equal(m2.to && !Array.isArray(m2.to) ? m2.to.value[0]?.address : undefined, "bob@example.net");
  // A stanza <thread/> wins over the day (RFC 6121 §5.2.5).
  const threaded = await parse(record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='d'", "<body>x</body><thread>t-1</thread>"));
  assert.match(String(threaded.references), /^<thread\./);
});

test("a correction replies to the original's Message-ID and says Chat-Edit; the archive's own id wins when known", async () => {
  const original = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='o1'", "<body>teh</body>");
  const fix = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='o2'", "<body>the</body><replace xmlns='urn:xmpp:message-correct:0' id='o1'/>");
  const parsed = await parse(fix);
  const originalId = messageIdFor(original, DOMAIN);
  assert.equal(parsed.inReplyTo, originalId);
  assert.equal(parsed.headers.get("chat-edit"), originalId);
  assert.deepEqual(parsed.references, [dayThreadIdFor(fix, DOMAIN), originalId]);
  assert.equal((await parse(fix, { related: "<known@x>" })).inReplyTo, "<known@x>");
  // With origin-ids, the original's Message-ID is derived from its origin-id.
  const withOrigin = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='p1'", "<body>x</body><origin-id xmlns='urn:xmpp:sid:0' id='p1'/>");
  const fixOrigin = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='p2'", "<body>y</body><origin-id xmlns='urn:xmpp:sid:0' id='p2'/><replace xmlns='urn:xmpp:message-correct:0' id='p1'/>");
  assert.equal((await parse(fixOrigin)).inReplyTo, messageIdFor(withOrigin, DOMAIN));
});

test("a retraction without a body is a mail that says so, with Chat-Delete", async () => {
  const retract = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='r2'", "<retract xmlns='urn:xmpp:message-retract:1' id='r1'/>");
  const parsed = await parse(retract);
  assert.equal(parsed.text?.trim(), RETRACTED_TEXT);
  assert.equal(parsed.subject, RETRACTED_TEXT);
  assert.match(String(parsed.headers.get("chat-delete")), /^<[0-9a-f]{32}@archive\.example\.org>$/);
});

test("a room message comes from the nick at the room and carries the group headers", async () => {
  const parsed = await parse(record("groupchat", "from='lounge@conference.example.org/Bob Smith' to='alice@example.org/p' type='groupchat' id='g'", "<body>hey all</body>"));
  assert.deepEqual(parsed.from?.value[0], { name: "Bob Smith", address: "lounge@conference.example.org" });
  assert.equal(parsed.headers.get("chat-group-id"), "lounge@conference.example.org");
  assert.equal(parsed.headers.get("chat-group-name"), "lounge");
});

test("HTML, links and attachments: multipart/mixed around the alternative; the stanza part stays", async () => {
  const png = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
  const big = Buffer.alloc(2048, 7).toString("base64");
  const r = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='h'",
    "<body>look</body><x xmlns='jabber:x:oob'><url>https://up.example.org/f/cat.jpg</url><desc>cat</desc></x>" +
    "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>look <img src='cid:sha1+1@bob.xmpp.org' alt='x'/></p></body></html>" +
    `<data xmlns='urn:xmpp:bob' cid='sha1+1@bob.xmpp.org' type='image/png'>${png.toString("base64")}</data>` +
    `<data xmlns='urn:xmpp:bob' cid='sha1+2@bob.xmpp.org' type='application/pdf'>${big}</data>`);
  const bytes = (await renderMail(r, { domain: DOMAIN, chat })).bytes.toString();
  assert.match(bytes, /^Content-Type: multipart\/mixed/m);
  const parsed = await simpleParser(bytes);
  assert.match(parsed.text ?? "", /look\n\nLinks:\nhttps:\/\/up\.example\.org\/f\/cat\.jpg \(cat\)/);
  assert.match(parsed.text ?? "", /application\/pdf of 2048 bytes not attached: over the 1024-byte limit/);
  // mailparser resolves the cid: reference to the attachment, as a mail client would.
  assert.ok(String(parsed.html).includes(`<img src="data:image/png;base64,${png.toString("base64")}" alt="x">`), String(parsed.html));
  const image = parsed.attachments.find((a) => a.contentType === "image/png");
  assert.ok(image, "the image is a real attachment");
  assert.deepEqual(image.content, png);
  assert.equal(image.cid, "sha1+1@bob.xmpp.org");
  assert.ok(parsed.attachments.some((a) => a.contentType === "application/xmpp+xml"), "the stanza part is still there");
  assert.ok(!parsed.attachments.some((a) => a.contentType === "application/pdf"));
});

test("without chat options the mail is what it was before chat history", async () => {
  const r = record("offline", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='z'", "<body>plain</body><x xmlns='jabber:x:oob'><url>https://u.example/x</url></x>");
  const parsed = await simpleParser((await renderMail(r, { domain: DOMAIN })).bytes);
  assert.equal(parsed.headers.get("chat-version"), undefined);
  assert.equal(parsed.references, undefined);
  assert.equal(parsed.text?.trim(), "plain");
});
