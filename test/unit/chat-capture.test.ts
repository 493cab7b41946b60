// Capture with chat history: which copies become mail where, with which flags; which become flag
// changes; and what the chat extensions (XEP-0308, 0424, 0184, 0333, 0066, 0231, 0071) read as.
import { test } from "node:test";
import assert from "node:assert/strict";
import { captureCopy, captureDirect, type CaptureResult } from "../../src/capture/index.js";
import { RefusedError } from "../../src/errors.js";
import { copyIq, parseStanza } from "../support/stanzas.js";

const base = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date("2026-01-02T00:00:00Z"), maxStanzaBytes: 1_048_576 };
const on = { ...base, chat: { history: true, groupchat: true, folder: "Chats", keywords: true } };
const msg = (attrs: string, children: string) => `<message xmlns='jabber:client' ${attrs}>${children}</message>`;
const fromBob = "from='bob@example.net/r' to='alice@example.org/phone' type='chat' id='m1'";
const fromAlice = "from='alice@example.org/phone' to='bob@example.net' type='chat' id='m2'";

function archived(result: CaptureResult) {
  assert.equal(result.kind, "archive", JSON.stringify(result));
  if (result.kind !== "archive") throw new Error("unreachable");
  return result.record;
}
const refusedWith = (condition: string) => (err: unknown) => err instanceof RefusedError && err.stanzaError.condition === condition;

test("a live chat goes to Chats, seen, with $XMPP and $XMPPChat", () => {
  const record = archived(captureCopy(copyIq({ reason: "chat", inner: msg(fromBob, "<body>hi</body>") }), on));
  assert.deepEqual(record.placement, { folder: ["Chats"], seen: true, keywords: ["$XMPP", "$XMPPChat"] });
  assert.equal(record.direction, "in");
  assert.equal(record.owner.local, "alice");
});

test("a sent chat goes into the sender's Chats folder, outgoing", () => {
  const record = archived(captureCopy(copyIq({ reason: "sent", inner: msg(fromAlice, "<body>hi bob</body>") }), on));
  assert.deepEqual(record.owner, { local: "alice", domain: "example.org", resource: "" });
  assert.equal(record.direction, "out");
  assert.deepEqual(record.placement.folder, ["Chats"]);
});

test("a sent copy from someone who is not a local user is refused", () => {
  assert.throws(() => captureCopy(copyIq({ reason: "sent", inner: msg(fromBob, "<body>x</body>") }), on), refusedWith("not-allowed"));
});

test("offline and normal copies stay in INBOX, unseen, with their keywords", () => {
  const offline = archived(captureCopy(copyIq({ reason: "offline", inner: msg(fromBob, "<body>x</body>") }), on));
  assert.deepEqual(offline.placement, { folder: [], seen: false, keywords: ["$XMPP", "$XMPPChat", "$XMPPOffline"] });
  const normal = archived(captureCopy(copyIq({ reason: "normal", inner: msg(fromBob.replace("type='chat'", "type='normal'"), "<body>x</body>") }), on));
  assert.deepEqual(normal.placement, { folder: [], seen: false, keywords: ["$XMPP", "$XMPPNormal"] });
  const direct = archived(captureDirect(parseStanza("<message from='bob@example.net/r' to='alice@archive.example.org'><body>x</body></message>"), on));
  assert.deepEqual(direct.placement.keywords, ["$XMPP", "$XMPPNormal"]);
});

test("with chat history off, chat and sent copies are confirmed without storing, and INBOX mail has no keywords", () => {
  assert.deepEqual(captureCopy(copyIq({ reason: "chat", inner: msg(fromBob, "<body>x</body>") }), base), { kind: "skip", reason: "chat history is off" });
  assert.deepEqual(captureCopy(copyIq({ reason: "sent", inner: msg(fromAlice, "<body>x</body>") }), base), { kind: "skip", reason: "chat history is off" });
  const groupchat = msg("from='room@conference.example.org/Nick' to='alice@example.org/phone' type='groupchat'", "<body>x</body>");
  assert.deepEqual(captureCopy(copyIq({ reason: "groupchat", inner: groupchat }), base), { kind: "skip", reason: "group chat archiving is off" });
  assert.deepEqual(archived(captureCopy(copyIq({ inner: msg(fromBob, "<body>x</body>") }), base)).placement, { folder: [], seen: false, keywords: [] });
});

test("a room message goes into a folder per room; rooms elsewhere keep their domain; dots cannot split the folder", () => {
  const room = (from: string) => archived(captureCopy(copyIq({ reason: "groupchat", inner: msg(`from='${from}' to='alice@example.org/phone' type='groupchat' id='g1'`, "<body>hey</body>") }), on));
  const local = room("lounge@conference.example.org/Bob");
  assert.equal(local.type, "groupchat");
  assert.deepEqual(local.placement, { folder: ["Chats", "lounge"], seen: true, keywords: ["$XMPP", "$XMPPChat", "$XMPPGroupChat"] });
  assert.deepEqual(room("team.x@muc.other.net/Bob").placement.folder, ["Chats", "team_x@muc_other_net"]);
  // A groupchat copy must hold a groupchat message, and groupchat never comes any other way.
  assert.throws(() => captureCopy(copyIq({ reason: "groupchat", inner: msg(fromBob, "<body>x</body>") }), on), refusedWith("bad-request"));
  assert.throws(() => captureCopy(copyIq({ reason: "chat", inner: msg(fromBob.replace("chat", "groupchat"), "<body>x</body>") }), on), refusedWith("bad-request"));
  // Own room messages come back as the room's reflection; the sent copy is not archived.
  const own = msg("from='alice@example.org/phone' to='lounge@conference.example.org' type='groupchat'", "<body>x</body>");
  assert.equal(captureCopy(copyIq({ reason: "sent", inner: own }), on).kind, "skip");
});

test("receipts and displayed markers the owner sends become flag changes; received ones change nothing", () => {
  const receipt = captureCopy(copyIq({ reason: "sent", inner: msg(fromAlice, "<received xmlns='urn:xmpp:receipts' id='m1'/>") }), on);
  assert.deepEqual(receipt, { kind: "mark", mark: { owner: { local: "alice", domain: "example.org", resource: "" }, peer: { local: "bob", domain: "example.net", resource: "" }, id: "m1", seen: false, keywords: ["$MDNSent"] } });
  const displayed = captureCopy(copyIq({ reason: "sent", inner: msg(fromAlice, "<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>") }), on);
  assert.equal(displayed.kind, "mark");
  if (displayed.kind === "mark") assert.deepEqual([displayed.mark.seen, displayed.mark.keywords], [true, []]);
  const incoming = captureCopy(copyIq({ reason: "chat", inner: msg(fromBob, "<displayed xmlns='urn:xmpp:chat-markers:0' id='m2'/>") }), on);
  assert.deepEqual(incoming, { kind: "skip", reason: "marker for a message the owner sent" });
  const states = captureCopy(copyIq({ reason: "sent", inner: msg(fromAlice, "<composing xmlns='http://jabber.org/protocol/chatstates'/>") }), on);
  assert.deepEqual(states, { kind: "skip", reason: "no body" });
});

test("corrections and retractions (current and 0.x forms) are archived and name what they refer to", () => {
  const fix = archived(captureCopy(copyIq({ reason: "chat", inner: msg(fromBob, "<body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m0'/>") }), on));
  assert.equal(fix.chat.replaces, "m0");
  const retract = archived(captureCopy(copyIq({ reason: "chat", inner: msg(fromBob, "<retract xmlns='urn:xmpp:message-retract:1' id='m0'/>") }), on));
  assert.equal(retract.chat.retracts, "m0");
  assert.equal(retract.body, "");
  const old = archived(captureCopy(copyIq({ reason: "chat", inner: msg(fromBob, "<apply-to xmlns='urn:xmpp:fasten:0' id='m9'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to><body>fallback</body>") }), on));
  assert.equal(old.chat.retracts, "m9");
});

test("links from OOB, SIMS and SFS are collected once each, only with safe schemes", () => {
  const record = archived(captureCopy(copyIq({
    reason: "chat",
    inner: msg(fromBob,
      "<body>see</body>" +
      "<x xmlns='jabber:x:oob'><url>https://up.example.org/a/cat.jpg</url><desc>a cat</desc></x>" +
      "<x xmlns='jabber:x:oob'><url>javascript:alert(1)</url></x>" +
      "<reference xmlns='urn:xmpp:reference:0' type='data'><media-sharing xmlns='urn:xmpp:sims:1'><sources><reference xmlns='urn:xmpp:reference:0' type='data' uri='https://up.example.org/a/cat.jpg'/><reference xmlns='urn:xmpp:reference:0' type='data' uri='https://up.example.org/b/doc.pdf'/></sources></media-sharing></reference>"),
  }), on));
  assert.deepEqual(record.chat.links, [
    { url: "https://up.example.org/a/cat.jpg", description: "a cat" },
    { url: "https://up.example.org/b/doc.pdf", description: undefined },
  ]);
});

test("XHTML-IM becomes sanitised HTML; data: images and XEP-0231 data become embedded data", () => {
  const png = Buffer.from("89504e470d0a1a0a", "hex").toString("base64");
  const record = archived(captureCopy(copyIq({
    reason: "chat",
    inner: msg(fromBob,
      "<body>hi</body>" +
      "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>" +
      "<p style='background:url(https://track.example/x)' onclick='steal()'>Hi <strong>there</strong> &amp; <a href='javascript:alert(1)'>bad</a> <a href='https://ok.example/'>ok</a></p>" +
      "<script>alert(1)</script><img src='data:image/png;base64," + png + "' alt='dot'/><img src='https://track.example/pixel.gif' alt='pixel'/>" +
      "<img src='cid:sha1+abc@bob.xmpp.org' alt='bob'/></body></html>" +
      "<data xmlns='urn:xmpp:bob' cid='sha1+abc@bob.xmpp.org' type='image/png'>" + png + "</data>"),
  }), on));
  const html = record.chat.html?.html ?? "";
  assert.ok(!/script|onclick|style|javascript|track\.example/.test(html), html);
  assert.match(html, /<p>Hi <strong>there<\/strong> &amp; <a>bad<\/a> <a href="https:\/\/ok.example\/">ok<\/a><\/p>/);
  assert.match(html, /<img src="cid:[0-9a-f]{32}@data\.xmpp-maildir" alt="dot">pixel<img src="cid:sha1\+abc@bob\.xmpp\.org" alt="bob">/);
  assert.deepEqual(record.chat.data.map((d) => [d.contentType, d.base64]), [["image/png", png], ["image/png", png]]);
  assert.equal(record.chat.data[0]!.cid, "sha1+abc@bob.xmpp.org");
});
