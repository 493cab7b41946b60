import { test } from "node:test";
import assert from "node:assert/strict";
import { captureCopy, captureDirect } from "../../src/capture/index.js";
import { BadAddressError, RefusedError } from "../../src/errors.js";
import { copyIq, parseStanza } from "../support/stanzas.js";

const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1_048_576 };
const inner = "<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org/phone' type='chat'><body>hi</body></message>";

function refusedWith(condition: string) {
  return (err: unknown) => err instanceof RefusedError && err.stanzaError.condition === condition;
}

test("a copy from the server is archived into the recipient's bare mailbox", () => {
  const result = captureCopy(copyIq({ inner }), ctx);
  assert.equal(result.kind, "archive");
  if (result.kind !== "archive") return;
  assert.deepEqual(result.record.owner, { local: "alice", domain: "example.org", resource: "" });
  assert.equal(result.record.reason, "offline");
  assert.equal(result.record.type, "chat");
  assert.equal(result.record.from.resource, "r");
});

for (const from of ["alice@example.org", "example.org/res", "evil.example", "archive.example.org"]) {
  test(`a copy from '${from}' is refused with not-allowed`, () => {
    assert.throws(() => captureCopy(copyIq({ inner, from }), ctx), refusedWith("not-allowed"));
  });
}

test("a copy for a user of another domain is refused", () => {
  const foreign = inner.replace("alice@example.org/phone", "mallory@example.net");
  assert.throws(() => captureCopy(copyIq({ inner: foreign }), ctx), refusedWith("not-allowed"));
});

test("malformed copies are refused with bad-request", () => {
  assert.throws(() => captureCopy(copyIq({ inner, reason: "because" }), ctx), refusedWith("bad-request"));
  assert.throws(() => captureCopy(copyIq({ inner: inner + inner }), ctx), refusedWith("bad-request"));
  assert.throws(() => captureCopy(copyIq({ inner: "" }), ctx), refusedWith("bad-request"));
  // The inner message must state jabber:client (XEP-0297 §3).
  assert.throws(() => captureCopy(copyIq({ inner: inner.replace(" xmlns='jabber:client'", "") }), ctx), refusedWith("bad-request"));
  assert.throws(() => captureCopy(copyIq({ inner: inner.replace("type='chat'", "type='headline'") }), ctx), refusedWith("bad-request"));
});

test("a copy whose recipient is not a valid JID is refused as jid-malformed", () => {
  const bad = inner.replace("alice@example.org/phone", "a@b@example.org");
  assert.throws(() => captureCopy(copyIq({ inner: bad }), ctx), BadAddressError);
});

test("messages without a body (chat states, receipts) are not archived", () => {
  const state = "<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>";
  assert.deepEqual(captureCopy(copyIq({ inner: state }), ctx), { kind: "skip", reason: "no body" });
});

test("a direct message goes to the same user at the user domain", () => {
  const result = captureDirect(parseStanza("<message from='bob@example.net/r' to='alice@archive.example.org'><body>x</body></message>"), ctx);
  assert.equal(result.kind, "archive");
  if (result.kind === "archive") assert.equal(result.record.owner.domain, "example.org");
});

test("a direct <forwarded/> from anyone but the server is refused", () => {
  const stanza = parseStanza(
    "<message from='bob@example.net/r' to='alice@archive.example.org'><body>x</body>" +
      `<forwarded xmlns='urn:xmpp:forward:0'>${inner}</forwarded></message>`,
  );
  assert.throws(() => captureDirect(stanza, ctx), refusedWith("not-allowed"));
});

test("direct messages: errors and headlines are dropped silently, groupchat and the bare domain refused", () => {
  const msg = (attrs: string) => parseStanza(`<message from='bob@example.net/r' ${attrs}><body>x</body></message>`);
  assert.equal(captureDirect(msg("to='alice@archive.example.org' type='error'"), ctx).kind, "skip");
  assert.equal(captureDirect(msg("to='alice@archive.example.org' type='headline'"), ctx).kind, "skip");
  assert.throws(() => captureDirect(msg("to='alice@archive.example.org' type='groupchat'"), ctx), refusedWith("service-unavailable"));
  assert.throws(() => captureDirect(msg("to='archive.example.org'"), ctx), refusedWith("service-unavailable"));
});
