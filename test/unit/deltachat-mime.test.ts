// The MIME shapes Delta Chat reads (chatmail core 2.57, src/mimeparser.rs and src/receive_imf.rs):
// a correction's Chat-Edit as a hidden header on the first part of a top-level multipart/mixed, a
// reaction as RFC 9078 (Content-Disposition: reaction on the text part), a room speaker named in
// From with the room as Sender. Read back with a real MIME parser; the stanza part stays findable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { messageIdFor, renderMail } from "../../src/mail/index.js";
import { extractXmppPart } from "../../src/mail/xmpp-part.js";
import { copyIq } from "../support/stanzas.js";

const DOMAIN = "archive.example.org";
const ctx = { componentDomain: DOMAIN, userDomain: "example.org", now: new Date("2026-01-02T10:00:00Z"), maxStanzaBytes: 1_048_576, chat: { history: true, groupchat: true, folder: "Chats", keywords: true } };
const chat = { maxAttachmentBytes: 1024 };

function record(reason: string, attrs: string, children: string): ArchiveRecord {
  const result = captureCopy(copyIq({ reason, stamp: "2026-01-02T10:00:00Z", inner: `<message xmlns='jabber:client' ${attrs}>${children}</message>` }), ctx);
  if (result.kind !== "archive") throw new Error(`not archived: ${JSON.stringify(result)}`);
  return result.record;
}
const render = async (r: ArchiveRecord, related?: string) => (await renderMail(r, { domain: DOMAIN, chat, ...(related ? { related } : {}) })).bytes.toString("utf8");
/** The header block of the first body part of a multipart root. */
function firstPartHeaders(raw: string): string {
  const boundary = /boundary="?([^"\r\n;]+)"?/i.exec(raw)?.[1];
  assert.ok(boundary, raw);
  const start = raw.indexOf(`--${boundary}\r\n`) + boundary.length + 4;
  return raw.slice(start, raw.indexOf("\r\n\r\n", start));
}

test("a correction is multipart/mixed whose first part carries Chat-Edit (a hidden header); text and stanza are kept", async () => {
  const original = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='o1'", "<body>teh</body>");
  const fix = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='o2'", "<body>the</body><replace xmlns='urn:xmpp:message-correct:0' id='o1'/>");
  const raw = await render(fix);
  const originalId = messageIdFor(original, DOMAIN);
  assert.match(raw.slice(0, raw.indexOf("\r\n\r\n")), /^Content-Type: multipart\/mixed;/m);
  const first = firstPartHeaders(raw);
  assert.match(first, /^Content-Type: multipart\/alternative;/m);
  assert.match(first, new RegExp(`^Chat-Edit: ${originalId}$`, "m"));
  const parsed = await simpleParser(raw);
  assert.equal(parsed.text?.trim(), "the");
  assert.equal(parsed.inReplyTo, originalId);
  assert.deepEqual(parsed.attachments.map((a) => a.contentType), ["application/xmpp+xml"], "no other attachment for a mail client to show");
  const part = extractXmppPart(Buffer.from(raw));
  assert.equal(part.kind, "found", "replay's fast path still finds the stanza");
  assert.match(part.kind === "found" ? part.stanzaXml : "", /message-correct:0/);
});

test("a plain message and a retraction keep their multipart/alternative shape (Delta Chat drops Chat-Delete at the top)", async () => {
  const plain = await render(record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='a'", "<body>hi</body>"));
  assert.match(plain.slice(0, plain.indexOf("\r\n\r\n")), /^Content-Type: multipart\/alternative;/m);
  const retract = await render(record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='r2'", "<retract xmlns='urn:xmpp:message-retract:1' id='r1'/>"));
  assert.match(retract.slice(0, retract.indexOf("\r\n\r\n")), /^Content-Type: multipart\/alternative;/m);
  assert.match(retract, /^Chat-Delete: </m);
});

test("a XEP-0444 reaction is an RFC 9078 reaction: In-Reply-To the original, the emoji as a text part with Content-Disposition: reaction", async () => {
  const reaction = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='x1'", "<reactions xmlns='urn:xmpp:reactions:0' id='o1'><reaction>👍</reaction><reaction>🎉</reaction><reaction>👍</reaction></reactions>");
  assert.deepEqual(reaction.chat.reaction, { id: "o1", emojis: ["👍", "🎉"] });
  const raw = await render(reaction, "<orig@archive.example.org>");
  const parsed = await simpleParser(raw);
  assert.equal(parsed.inReplyTo, "<orig@archive.example.org>");
  assert.equal(parsed.subject, "Reaction: 👍 🎉");
  assert.match(raw, /^Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Disposition: reaction$|^Content-Disposition: reaction$/m);
  const textPart = raw.split(/\r\n--/).find((p) => /Content-Disposition: reaction/.test(p)) ?? "";
  assert.match(textPart, /^Content-Type: text\/plain/m);
  const part = extractXmppPart(Buffer.from(raw));
  assert.match(part.kind === "found" ? part.stanzaXml : "", /urn:xmpp:reactions:0/);
});

test("an empty <reactions/> (reactions taken back) is a reaction mail with no emoji", async () => {
  const removed = record("chat", "from='bob@example.net/r' to='alice@example.org/p' type='chat' id='x2'", "<reactions xmlns='urn:xmpp:reactions:0' id='o1'/>");
  assert.deepEqual(removed.chat.reaction, { id: "o1", emojis: [] });
  const parsed = await simpleParser(await render(removed, "<orig@archive.example.org>"));
  assert.equal(parsed.subject, "Reaction removed");
  assert.equal(parsed.text?.trim() ?? "", "");
});

test("a room message names the speaker in From and the room in Sender", async () => {
  const raw = await render(record("groupchat", "from='lounge@conference.example.org/Alice' to='bob@example.org/p' type='groupchat' id='g1'", "<body>hello room</body>"));
  const parsed = await simpleParser(raw);
  assert.equal(parsed.from?.value[0]?.name, "Alice");
  assert.equal(parsed.from?.value[0]?.address, "lounge@conference.example.org");
  assert.match(String(raw.slice(0, raw.indexOf("\r\n\r\n"))), /^Sender: lounge@conference\.example\.org$/m);
});

test("a groupchat copy marked own='true' is the owner's: from the owner's address (with the nick), to the room", async () => {
  const iq = copyIq({ reason: "groupchat", inner: "<message xmlns='jabber:client' from='lounge@conference.example.org/Bobby' to='bob@example.org/p' type='groupchat' id='g2'><body>mine</body></message>" });
  iq.getChild("copy")!.attrs.own = "true";
  const result = captureCopy(iq, ctx);
  assert.ok(result.kind === "archive");
  assert.equal(result.record.direction, "out");
  assert.deepEqual(result.record.placement.folder, ["Chats", "lounge"]);
  const parsed = await simpleParser(await render(result.record));
  assert.deepEqual([parsed.from?.value[0]?.name, parsed.from?.value[0]?.address], ["Bobby", "bob@example.org"]);
  assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value[0]?.address : undefined, "lounge@conference.example.org");
  // The same Message-ID as everyone's copy: it names the room's message, not the mailbox.
  const other = record("groupchat", "from='lounge@conference.example.org/Bobby' to='alice@example.org/p' type='groupchat' id='g2'", "<body>mine</body>");
  assert.equal(parsed.messageId, messageIdFor(other, DOMAIN));
});
