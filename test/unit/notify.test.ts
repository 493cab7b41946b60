import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import xml from "@xmpp/xml";
import { addressToJid, escapeNode, unescapeNode } from "../../src/bridge/address.js";
import { findUid, imapMessageUrl, summarizeMail } from "../../src/bridge/notify/index.js";
import { outboundRecipient, replySubject, referencesFor } from "../../src/bridge/outbound/index.js";
import { createPresenceTracker } from "../../src/bridge/presence/index.js";

test("XEP-0106: escape and unescape are inverses, and an address becomes a JID at the component", () => {
  assert.equal(addressToJid("Alice@Example.NET", "archive.example.org"), "alice\\40example.net@archive.example.org");
  for (const raw of ["a b@c.d", "o'hara@x.y", "a\\40b@c.d", "a\\b@c.d", 'q"x&y/z:<>@c.d']) {
    assert.equal(unescapeNode(escapeNode(raw)), raw, raw);
  }
  assert.equal(escapeNode("a\\40b"), "a\\5c40b");
});

test("only <escaped address>@<component> is outbound mail", () => {
  assert.equal(outboundRecipient("carol\\40example.net@archive.example.org", "archive.example.org"), "carol@example.net");
  assert.equal(outboundRecipient("carol\\40example.net@archive.example.org/res", "archive.example.org"), "carol@example.net");
  assert.equal(outboundRecipient("alice@archive.example.org", "archive.example.org"), undefined);
  assert.equal(outboundRecipient("carol\\40example.net@other.example.org", "archive.example.org"), undefined);
  assert.equal(outboundRecipient("bad\\20addr\\40x@archive.example.org", "archive.example.org"), undefined);
});

test("html-only mail is summarised as text", async () => {
  const raw = "From: Carol <carol@Example.NET>\r\nSubject: Hi\r\nMessage-ID: <a@b>\r\nReferences: <r@b>\r\nContent-Type: text/html\r\n\r\n<p>Meet at <b>noon</b></p>\r\n";
  const s = await summarizeMail(Buffer.from(raw));
  assert.equal(s.subject, "Hi");
  assert.equal(s.fromAddress, "carol@example.net");
  assert.equal(s.text, "Meet at noon");
  assert.equal(s.messageId, "<a@b>");
  assert.deepEqual(referencesFor({ thread: undefined, from: "x", messageId: "<a@b>", references: s.references, subject: "Hi" }), ["<r@b>", "<a@b>"]);
  assert.equal(replySubject(undefined, { thread: undefined, from: "x", messageId: "<a@b>", references: [], subject: "Re: Hi" }), "Re: Hi");
});

test("IMAP URL (RFC 5092) from dovecot-uidlist, else a Message-ID search", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xm-uid-"));
  try {
    await writeFile(path.join(dir, "dovecot-uidlist"), "3 V1700000000 N3 Gabc\n1 :111.a.host\n2 G123 :222.b.host:2,S\n");
    assert.deepEqual(await findUid(dir, "222.b.host"), { uidValidity: 1700000000, uid: 2 });
    assert.equal(await findUid(dir, "333.c.host"), undefined);
    const uid = await findUid(dir, "111.a.host");
    assert.equal(imapMessageUrl({ server: "imap://mail.example.org", user: "alice@example.org", uid }), "imap://alice%40example.org@mail.example.org/INBOX;UIDVALIDITY=1700000000/;UID=1");
    assert.equal(imapMessageUrl({ server: "imap://mail.example.org", user: "a@b", messageId: "<x@y>" }), "imap://a%40b@mail.example.org/INBOX?HEADER%20Message-ID%20%3Cx%40y%3E");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("presence: local users are tracked and subscribed; remote ones are refused", () => {
  const p = createPresenceTracker({ componentDomain: "archive.example.org", userDomain: "example.org" });
  const from = (jid: string, type?: string) => xml("presence", { from: jid, to: "archive.example.org", ...(type ? { type } : {}) });
  const replies = p.handle(from("alice@example.org", "subscribe")).map((s) => s.attrs.type ?? "available");
  assert.deepEqual(replies, ["subscribed", "subscribe", "available"]);
  assert.deepEqual(p.handle(from("eve@evil.example", "subscribe")).map((s) => s.attrs.type), ["unsubscribed"]);
  p.handle(from("alice@example.org/phone"));
  p.handle(from("alice@example.org/laptop"));
  p.handle(from("eve@evil.example/x"));
  assert.equal(p.isOnline("alice@example.org"), true);
  assert.equal(p.isOnline("eve@evil.example"), false);
  p.handle(from("alice@example.org/phone", "unavailable"));
  assert.equal(p.isOnline("alice@example.org"), true);
  p.handle(from("alice@example.org/laptop", "unavailable"));
  assert.equal(p.isOnline("alice@example.org"), false);
});
