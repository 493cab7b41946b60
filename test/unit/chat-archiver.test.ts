// The archiver with chat history, over the in-process XEP-0114 server: what lands on disk for
// room messages sent twice, corrections, receipts after a restart (the index rebuilt from
// headers), and copies the component does not keep.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";

const copy = (id: string, reason: string, inner: string) =>
  `<iq type='set' id='${id}' from='example.org' to='archive.example.org'><copy xmlns='urn:xmpp-maildir:copy:0' reason='${reason}'>` +
  `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-03-04T05:06:07Z'/>${inner}</forwarded></copy></iq>`;
const message = (attrs: string, children: string) => `<message xmlns='jabber:client' ${attrs}>${children}</message>`;

async function send(harness: ArchiverHarness, stanza: string, id: string): Promise<void> {
  harness.server.send(stanza);
  const reply = await harness.server.waitFor((el) => el.attrs.id === id);
  assert.equal(reply.attrs.type, "result", `copy ${id} confirmed: ${reply.toString()}`);
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ["new", "cur"]) for (const n of await readdir(path.join(dir, sub)).catch(() => [] as string[])) out.push(`${sub}/${n}`);
  return out.sort();
}

describe("archiver with --chat-history --groupchat", () => {
  let dir: string;
  let harness: ArchiverHarness;
  const alice = () => path.join(dir, "mail", "example.org", "alice");
  const start = () => startArchiverHarness({ dir, flags: { "chat-history": "true", groupchat: "true" } });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-chat-archiver-"));
    harness = await start();
  });
  after(async () => {
    await harness.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("a room message copied twice (two resources, a history replay) is stored once", async () => {
    const room = message("from='lounge@conference.example.org/Bob' to='alice@example.org/a' type='groupchat' id='g1'", "<body>hi room</body>");
    const resent = room.replace("/a'", "/b'");
    harness.server.send(copy("gc-1", "groupchat", room));
    harness.server.send(copy("gc-2", "groupchat", resent));
    for (const id of ["gc-1", "gc-2"]) assert.equal((await harness.server.waitFor((el) => el.attrs.id === id)).attrs.type, "result");
    await send(harness, copy("gc-3", "groupchat", room.replace("<body>", "<delay xmlns='urn:xmpp:delay' stamp='2026-03-04T05:06:07Z'/><body>")), "gc-3");
    assert.equal((await files(path.join(alice(), ".Chats.lounge"))).length, 1);
    assert.equal(harness.logs.filter((l) => l.msg === "duplicate message, already in the archive").length, 2);
  });

  test("a correction's In-Reply-To is the archived original's Message-ID, found through the index", async () => {
    // The original has an origin-id different from its id; the correction names the id.
    await send(harness, copy("e-1", "chat", message("from='bob@example.net/r' to='alice@example.org/a' type='chat' id='orig'", "<body>teh</body><origin-id xmlns='urn:xmpp:sid:0' id='o-9'/>")), "e-1");
    await send(harness, copy("e-2", "chat", message("from='bob@example.net/r' to='alice@example.org/a' type='chat' id='fix'", "<body>the</body><replace xmlns='urn:xmpp:message-correct:0' id='orig'/>")), "e-2");
    const stored = harness.logs.filter((l) => l.msg === "stored" && l.folder === "Chats");
    const originalId = stored.find((l) => l.id === "e-1")?.messageId;
    const chats = await files(path.join(alice(), ".Chats"));
    const mails = await Promise.all(chats.map(async (f) => simpleParser(await readFile(path.join(alice(), ".Chats", f)))));
    const fix = mails.find((m) => m.subject === "the");
    assert.ok(originalId && fix);
    assert.equal(fix.inReplyTo, originalId);
    assert.equal(fix.headers.get("chat-edit"), originalId);
  });

  test("a reaction (XEP-0444) goes Seen into its original's folder, In-Reply-To it; one to an unknown message is confirmed and not stored", async () => {
    const erin = () => path.join(dir, "mail", "example.org", "erin");
    // The original arrived offline (INBOX); the reaction is one erin sent (a Chats copy).
    await send(harness, copy("x-1", "offline", message("from='dora@example.net/r' to='erin@example.org' type='chat' id='q1'", "<body>question?</body>")), "x-1");
    const inboxBefore = await files(erin());
    await send(harness, copy("x-2", "sent", message("from='erin@example.org/a' to='dora@example.net' type='chat' id='x2'", "<reactions xmlns='urn:xmpp:reactions:0' id='q1'><reaction>👍</reaction></reactions>")), "x-2");
    const inbox = await files(erin());
    assert.equal(inbox.length, inboxBefore.length + 1, "in the original's folder (INBOX here)");
    const added = inbox.find((f) => !inboxBefore.includes(f));
    assert.match(String(added), /:2,[a-zA-Z]*S[a-zA-Z]*$/, "Seen");
    const mail = await simpleParser(await readFile(path.join(erin(), String(added))));
    const original = harness.logs.find((l) => l.msg === "stored" && l.id === "x-1")?.messageId;
    assert.equal(mail.inReplyTo, original);
    // mailparser lists a part of an unknown disposition as an attachment (RFC 2183 §2.8).
    assert.equal(mail.attachments.find((a) => a.contentDisposition === "reaction")?.content.toString("utf8"), "👍");
    await send(harness, copy("x-3", "chat", message("from='dora@example.net/r' to='erin@example.org/a' type='chat' id='x3'", "<reactions xmlns='urn:xmpp:reactions:0' id='nope'><reaction>👀</reaction></reactions>")), "x-3");
    assert.ok(harness.logs.some((l) => l.msg === "not archived" && l.id === "x-3" && /does not have/.test(String(l.reason))));
    assert.equal((await files(erin())).length, inbox.length);
    assert.equal((await files(path.join(erin(), ".Chats"))).filter((f) => f.includes("x3")).length, 0);
  });

  test("after a restart, a receipt finds its original by reading headers, and flags it in place", async () => {
    await send(harness, copy("r-1", "offline", message("from='carol@example.net/r' to='alice@example.org' type='chat' id='note-1'", "<body>ping</body>")), "r-1");
    const [before] = await files(alice());
    assert.match(String(before), /^cur\/.*:2,[a-z]+$/, "keywords, not seen");
    await harness.stop();
    harness = await start();
    await send(harness, copy("r-2", "sent", message("from='alice@example.org/a' to='carol@example.net/r' type='chat' id='rc'", "<received xmlns='urn:xmpp:receipts' id='note-1'/>")), "r-2");
    await send(harness, copy("r-3", "sent", message("from='alice@example.org/a' to='carol@example.net/r' type='chat' id='dm'", "<displayed xmlns='urn:xmpp:chat-markers:0' id='note-1'/>")), "r-3");
    const [after] = await files(alice());
    assert.equal(after?.split(":")[0], before?.split(":")[0], "same file, same UID");
    assert.match(String(after), /:2,S[a-z]+$/);
    const keywords = await readFile(path.join(alice(), "dovecot-keywords"), "utf8");
    const letters = String(after).split(":2,S")[1]!;
    const named = [...letters].map((c) => keywords.split("\n").find((l) => l.startsWith(`${c.charCodeAt(0) - 97} `))?.split(" ")[1]);
    assert.deepEqual(named.sort(), ["$MDNSent", "$XMPP", "$XMPPChat", "$XMPPOffline"]);
    assert.deepEqual(harness.logs.filter((l) => l.msg === "marked").map((l) => l.result), ["updated", "updated"]);
    // A marker for a message that is not archived changes nothing, and is still confirmed.
    await send(harness, copy("r-4", "sent", message("from='alice@example.org/a' to='carol@example.net/r' type='chat' id='dx'", "<displayed xmlns='urn:xmpp:chat-markers:0' id='unknown'/>")), "r-4");
    assert.equal(harness.logs.filter((l) => l.msg === "marked").at(-1)?.result, "missing");
  });
});

test("without --chat-history, chat copies are confirmed and nothing is written", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-chat-off-"));
  const harness = await startArchiverHarness({ dir });
  try {
    await send(harness, copy("off-1", "chat", message("from='bob@example.net/r' to='alice@example.org/a' type='chat' id='x'", "<body>hi</body>")), "off-1");
    await send(harness, copy("off-2", "sent", message("from='alice@example.org/a' to='bob@example.net' type='chat' id='y'", "<body>hi</body>")), "off-2");
    await assert.rejects(readdir(path.join(dir, "mail", "example.org")), { code: "ENOENT" });
    assert.ok(harness.logs.some((l) => l.msg === "not archived" && l.reason === "chat history is off"));
  } finally {
    await harness.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
