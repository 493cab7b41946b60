// Reactions between mail and XMPP (src/bridge/reactions): the RFC 9078 mail read as Delta Chat
// sends it, the XEP-0444 stanza both ways, the one-conversation rule, the reaction mail we send,
// and the sent-message links surviving a reopen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import xml from "@xmpp/xml";
import { composeMail } from "../../src/bridge/outbound/index.js";
import { matchByMessageId, matchByStanzaId, openSentLinks, parseEmojis, reactionStanza, readReactionMail, readStanzaReaction, NS_REACTIONS } from "../../src/bridge/reactions/index.js";
import type { PushedMail, PushRecord } from "../../src/bridge/state.js";

const CAROL = "carol\\40example.net@archive.example.org";
const DAVE = "dave\\40example.net@archive.example.org";

/** What Delta Chat 2.57 sends for a reaction in an unencrypted one-to-one chat (chatmail core mimefactory.rs). */
const deltaChatReaction = (text: string) =>
  Buffer.from(
    [
      "Subject: Re: Message from Carol", "Chat-Version: 1.0", "In-Reply-To: <Mr.alice1@example.test>", "References: <Mr.alice1@example.test>",
      "Message-ID: <Mr.react1@example.net>", "From: \"Carol\" <carol@Example.NET>", "To: <alice@example.test>", "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=\"b1\"", "", "--b1", "Content-Type: text/plain; charset=\"utf-8\"", "Content-Disposition: reaction", "",
      text, "--b1--", "",
    ].join("\r\n"),
  );

test("an RFC 9078 reaction mail as Delta Chat sends it: sender, the message it names, its emoji; an empty one takes it back", async () => {
  assert.deepEqual(await readReactionMail(deltaChatReaction("👍")), { fromAddress: "carol@example.net", inReplyTo: "<Mr.alice1@example.test>", emojis: ["👍"] });
  assert.deepEqual((await readReactionMail(deltaChatReaction("")))?.emojis, []);
  // An ordinary mail, and one with text beside a reaction part, are mail.
  const plain = Buffer.from("From: carol@example.net\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\nContent-Disposition: reaction is a header\r\n");
  assert.equal(await readReactionMail(plain), undefined);
  const mixed = deltaChatReaction("👍").toString().replace("--b1\r\nContent-Type", "--b1\r\nContent-Type: text/plain\r\n\r\nSome words\r\n--b1\r\nContent-Type");
  assert.equal(await readReactionMail(Buffer.from(mixed)), undefined);
});

test("emojis: split on whitespace, no duplicates, a signature cut off, bounded in length and number", () => {
  assert.deepEqual(parseEmojis("👍 🎉  👍\r\n"), ["👍", "🎉"]);
  assert.deepEqual(parseEmojis("👍\r\n-- \r\nsent from my phone"), ["👍"]);
  assert.deepEqual(parseEmojis("x".repeat(33)), []);
  assert.equal(parseEmojis(Array.from({ length: 50 }, (_, i) => `e${i}`).join(" ")).length, 20);
});

test("XEP-0444 stanzas: what we push, and what we read from a client (a fallback body does not matter)", () => {
  const pushed = reactionStanza({ from: CAROL, to: "alice@example.org", id: "r1", target: "m1", emojis: ["👍"] });
  assert.equal(pushed.attrs.type, "chat");
  assert.equal(pushed.getChild("reactions", NS_REACTIONS)?.attrs.id, "m1");
  assert.deepEqual(pushed.getChild("reactions", NS_REACTIONS)?.getChildren("reaction").map((r) => r.getText()), ["👍"]);
  assert.ok(pushed.getChild("store", "urn:xmpp:hints"));
  assert.equal(pushed.getChild("body"), undefined);
  const fromClient = xml("message", { to: CAROL }, xml("body", {}, "> quoted\n👍"), xml("reactions", { xmlns: NS_REACTIONS, id: "p1" }, xml("reaction", {}, "👍"), xml("reaction", {}, "a b"), xml("reaction", {}, "🎉")));
  assert.deepEqual(readStanzaReaction(fromClient), { target: "p1", emojis: ["👍", "🎉"] });
  assert.equal(readStanzaReaction(xml("message", {}, xml("reactions", { xmlns: NS_REACTIONS }))), undefined, "no id: not a reaction");
});

test("a reaction applies only within its conversation: received pushes and the user's own sent messages, case-insensitively", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xm-react-"));
  try {
    const records: PushRecord[] = [{ id: "push-1", base: "1.M1.host", peer: CAROL, messageId: "<c1@example.net>" }];
    const pushed: PushedMail = { remember: () => undefined, list: () => records, changed: () => undefined };
    const sent = await openSentLinks(dir, { onError: (err) => assert.fail(err) });
    sent.remember("alice@example.org", { ids: ["alice-1", "origin-1"], messageId: "<a1@example.org>", peer: CAROL });
    const user = "alice@example.org";
    assert.deepEqual(matchByMessageId({ pushed, sent, user, peer: CAROL, messageId: "<c1@example.net>" }), { found: "yes", id: "push-1", messageId: "<c1@example.net>", direction: "received" });
    assert.deepEqual(matchByMessageId({ pushed, sent, user, peer: CAROL.toUpperCase(), messageId: "<a1@example.org>" }), { found: "yes", id: "alice-1", messageId: "<a1@example.org>", direction: "sent" });
    assert.deepEqual(matchByMessageId({ pushed, sent, user, peer: DAVE, messageId: "<c1@example.net>" }), { found: "other-conversation", peer: CAROL });
    assert.deepEqual(matchByMessageId({ pushed, sent, user, peer: CAROL, messageId: "<nope@example.net>" }), { found: "no" });
    assert.deepEqual(matchByStanzaId({ pushed, sent, user, peer: CAROL, id: "push-1" }), { found: "yes", id: "push-1", messageId: "<c1@example.net>", direction: "received" });
    assert.deepEqual(matchByStanzaId({ pushed, sent, user, peer: CAROL, id: "origin-1" }), { found: "yes", id: "origin-1", messageId: "<a1@example.org>", direction: "sent" });
    assert.deepEqual(matchByStanzaId({ pushed, sent, user, peer: DAVE, id: "alice-1" }), { found: "other-conversation", peer: CAROL });
    assert.deepEqual(matchByStanzaId({ pushed, sent, user: "bob@example.org", peer: CAROL, id: "alice-1" }), { found: "no" }, "another user's message is not found");
    // The links survive a restart.
    await sent.flush();
    const again = await openSentLinks(dir, { onError: (err) => assert.fail(err) });
    assert.equal(again.byStanzaId(user, "alice-1")?.messageId, "<a1@example.org>");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the reaction mail we send is Delta Chat's shape: Chat-Version, In-Reply-To the original, the emoji in a text part with Content-Disposition: reaction", async () => {
  const mail = await composeMail({
    from: "alice@example.org",
    to: "carol@example.net",
    subject: undefined,
    text: "🎉",
    replyTo: { thread: undefined, from: "carol@example.net", messageId: "<c1@example.net>", references: [], subject: "Message from Carol", chat: true },
    domain: "example.org",
    reaction: true,
  });
  const text = mail.bytes.toString();
  assert.match(text, /^Chat-Version: 1\.0$/m);
  assert.match(text, /^In-Reply-To: <c1@example\.net>$/m);
  assert.match(text, /^Subject: Re: Message from Carol$/m);
  assert.match(text, /^Content-Disposition: reaction$/m);
  assert.deepEqual(await readReactionMail(mail.bytes), { fromAddress: "alice@example.org", inReplyTo: "<c1@example.net>", emojis: ["🎉"] }, "and it reads back as one");
});
