import { test } from "node:test";
import assert from "node:assert/strict";
import { pushedMessage, summarizeMail } from "../../src/bridge/notify/index.js";
import { chatSubject, composeMail } from "../../src/bridge/outbound/index.js";
import { findContext, withContext, type ReplyContext } from "../../src/bridge/threads.js";

const DC_MAIL = [
  "From: Carol <carol@example.net>", "To: alice@example.org", "Subject: Message from Carol", "Message-ID: <dc1@example.net>",
  "Chat-Version: 1.0", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", "Hi Alice!", "",
].join("\r\n");

test("a mail with Chat-Version is pushed as a chat message from the sender, text only, no subject", async () => {
  const summary = await summarizeMail(Buffer.from(DC_MAIL));
  assert.equal(summary.chat, true);
  const { stanza } = pushedMessage({ summary, to: "alice@example.org", componentDomain: "archive.example.org", url: "imap://x/INBOX", id: "p1" });
  assert.equal(stanza.attrs.type, "chat");
  assert.equal(stanza.attrs.from, "carol\\40example.net@archive.example.org");
  assert.equal(stanza.getChildText("body"), "Hi Alice!");
  assert.equal(stanza.getChild("subject"), undefined);
  assert.equal(stanza.getChild("x", "jabber:x:oob"), undefined);
  assert.ok(stanza.getChild("markable", "urn:xmpp:chat-markers:0"));
  // Ordinary mail keeps the normal push with a subject.
  const plain = await summarizeMail(Buffer.from(DC_MAIL.replace("Chat-Version: 1.0\r\n", "")));
  const normal = pushedMessage({ summary: plain, to: "alice@example.org", componentDomain: "archive.example.org", url: "imap://x/INBOX", id: "p2" }).stanza;
  assert.equal(normal.attrs.type, "normal");
  assert.equal(normal.getChildText("subject"), "Message from Carol");
});

test("chat replies: Delta Chat's subject (never Re: Re:), Chat-Version, threaded to the last message of the conversation", async () => {
  const ctx = (o: Partial<ReplyContext>): ReplyContext => ({ thread: undefined, from: "carol@example.net", messageId: "<a@x>", references: [], subject: "", ...o });
  assert.equal(chatSubject(ctx({ subject: "Message from Carol" }), "alice@example.org"), "Re: Message from Carol");
  assert.equal(chatSubject(ctx({ subject: "Re: Message from Carol" }), "alice@example.org"), "Re: Message from Carol");
  assert.equal(chatSubject(ctx({ subject: "AW: Hallo" }), "alice@example.org"), "Re: Hallo");
  assert.equal(chatSubject(ctx({ subject: "" }), "alice@example.org"), "Message from alice@example.org");

  // In a chat conversation the last message wins over an older <thread>.
  let list = withContext([], ctx({ thread: "t1", messageId: "<1@x>", chat: true, subject: "Message from Carol" }));
  list = withContext(list, ctx({ thread: "t2", messageId: "<2@x>", references: ["<1@x>"], chat: true, subject: "Re: Message from Carol" }));
  assert.equal(findContext(list, { thread: "t1", from: "carol@example.net" })?.messageId, "<2@x>");
  // Ordinary mail still answers the mail the thread names.
  const mails = withContext(withContext([], ctx({ thread: "t1", messageId: "<m1@x>" })), ctx({ thread: "t2", messageId: "<m2@x>" }));
  assert.equal(findContext(mails, { thread: "t1", from: "carol@example.net" })?.messageId, "<m1@x>");

  const parent = findContext(list, { from: "carol@example.net" });
  const mail = await composeMail({ from: "alice@example.org", to: "carol@example.net", subject: undefined, text: "Hi!", replyTo: parent, domain: "example.org" });
  const text = mail.bytes.toString();
  assert.match(text, /^Chat-Version: 1\.0$/m);
  assert.match(text, /^Subject: Re: Message from Carol$/m);
  assert.match(text, /^In-Reply-To: <2@x>$/m);
  assert.match(text, /^References: <1@x> <2@x>$/m);
  assert.equal(mail.subject, "Re: Message from Carol");
  // Not a chat: no Chat-Version.
  const ordinary = await composeMail({ from: "alice@example.org", to: "carol@example.net", subject: undefined, text: "Hi!", replyTo: mails[0], domain: "example.org" });
  assert.doesNotMatch(ordinary.bytes.toString(), /^Chat-Version/m);
});
