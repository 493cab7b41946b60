// --deliver lmtp, the parts that need no server: the recipient address, how replies become stanza
// errors, and what the dedupe journal says about LMTP attempts (also after a restart). Delivery
// itself is tested against a real Dovecot in test/integration/lmtp.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { openJournal } from "../../src/dedupe/index.js";
import { BadAddressError, LmtpError } from "../../src/errors.js";
import { createLmtpClient, describeTarget, lmtpRecipient, quoteLocal, replyReason } from "../../src/delivery/index.js";
import { createLogger } from "../../src/log/index.js";
import { errorSpecFor } from "../../src/xmpp/stanza-error.js";

const T = "lmtp://127.0.0.1:24";
const alice = { local: "alice", domain: "example.org" };

test("the recipient is the owner's bare JID; a folder below INBOX is its detail, levels joined by '.'", () => {
  assert.deepEqual(lmtpRecipient(alice, [], T), { address: "alice@example.org", folder: [] });
  assert.deepEqual(lmtpRecipient(alice, ["Chats"], T), { address: "alice+Chats@example.org", folder: ["Chats"] });
  assert.deepEqual(lmtpRecipient(alice, ["Chats", "lounge"], T), { address: "alice+Chats.lounge@example.org", folder: ["Chats", "lounge"] });
  assert.equal(lmtpRecipient({ local: "o'neil", domain: "example.org" }, [], T).address, "o'neil@example.org");
});

test("a local part that is no Dot-string is quoted (RFC 5321 §4.1.2)", () => {
  // A room on another service keeps its domain in the folder name: "team@muc_other_net".
  assert.equal(lmtpRecipient(alice, ["Chats", "team@muc_other_net"], T).address, '"alice+Chats.team@muc_other_net"@example.org');
  assert.equal(lmtpRecipient(alice, ["My Chats"], T).address, '"alice+My Chats"@example.org');
  assert.equal(quoteLocal('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(quoteLocal("x..y"), '"x..y"');
  assert.equal(quoteLocal(".x"), '".x"');
});

test("a room folder not in ASCII falls back to its parent; an owner not in ASCII or with '+' is refused for good", () => {
  assert.deepEqual(lmtpRecipient(alice, ["Chats", "Ünï"], T), { address: "alice+Chats@example.org", folder: ["Chats"] });
  const permanent = (pattern: RegExp) => (err: unknown) => err instanceof LmtpError && !err.transient && pattern.test(err.message);
  assert.throws(() => lmtpRecipient({ local: "jürgen", domain: "example.org" }, [], T), permanent(/not ASCII/));
  assert.throws(() => lmtpRecipient({ local: "bob", domain: "exämple.org" }, [], T), permanent(/not ASCII/));
  // Dovecot would deliver bob+x@ to bob's folder "x" (checked against 2.3.19).
  assert.throws(() => lmtpRecipient({ local: "bob+x", domain: "example.org" }, [], T), permanent(/recipient_delimiter.*mailbox of 'bob'/));
});

test("what could never name a mailbox is refused as for a Maildir path", () => {
  for (const local of ["..", ".", "a/b", "", "a\u0000b"]) {
    assert.throws(() => lmtpRecipient({ local, domain: "example.org" }, [], T), BadAddressError, JSON.stringify(local));
  }
  assert.throws(() => lmtpRecipient({ local: "alice", domain: ".." }, [], T), BadAddressError);
});

test("reply reasons: the code and the RFC 3463 enhanced status", () => {
  assert.equal(replyReason("452 4.2.2 <alice@example.org> Quota exceeded (mailbox for user is full)"), "452 4.2.2");
  assert.equal(replyReason("550 5.1.1 <bob@example.org> User doesn't exist: bob@example.org"), "550 5.1.1");
  assert.equal(replyReason("421 Shutting down"), "421");
});

test("a 4xx or a lost connection is answered wait; a 5xx or an address LMTP cannot carry, cancel", () => {
  const deferred = new LmtpError(T, "452 4.2.2 <a@example.org> Quota exceeded", { responseCode: 452, transient: true, reason: "452 4.2.2" });
  assert.deepEqual(errorSpecFor(deferred), { type: "wait", condition: "resource-constraint", text: "storage temporarily unavailable (LMTP 452 4.2.2)" });
  const down = new LmtpError(T, "cannot reach the LMTP server (connect ECONNREFUSED)", { transient: true, reason: "ECONNREFUSED" });
  assert.equal(errorSpecFor(down).type, "wait");
  const unknown = new LmtpError(T, "550 5.1.1 <bob@example.org> User doesn't exist: bob@example.org", { responseCode: 550, transient: false, reason: "550 5.1.1" });
  // internal-server-error: one of the conditions both server modules take as a refusal (the
  // ejabberd module retries anything else), so the copy does not come back for ever.
  assert.deepEqual(errorSpecFor(unknown), { type: "cancel", condition: "internal-server-error", text: "the mail server refused the message (LMTP 550 5.1.1)" });
  assert.ok(!errorSpecFor(unknown).text.includes("bob"), "the user's address stays in our log");
  // Refused before anything was sent: no "mail server" in it.
  const unaddressable = new LmtpError(T, "bob+x@example.org holds '+'", { transient: false, reason: "delimiter in address" });
  assert.deepEqual(errorSpecFor(unaddressable), { type: "cancel", condition: "internal-server-error", text: "cannot deliver over LMTP (delimiter in address)" });
});

test("targets are shown as the --deliver value", () => {
  assert.equal(describeTarget({ host: "127.0.0.1", port: 24 }), "lmtp://127.0.0.1:24");
  assert.equal(describeTarget({ host: "::1", port: 24 }), "lmtp://[::1]:24");
  assert.equal(describeTarget({ socket: "/run/dovecot/lmtp" }), "lmtp:/run/dovecot/lmtp");
});

test("journal over LMTP: an attempt without its 250 is in doubt, also after a restart; a 250 is durable; a refusal is forgotten", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-lmtp-journal-"));
  try {
    const state = path.join(dir, "state");
    const journal = await openJournal(state);
    journal.sending("k-stored", "alice@example.org");
    journal.sending("k-cut", "alice+Chats@example.org");
    journal.sending("k-refused", "bob@example.org");
    assert.equal(await journal.lookup("k-cut"), "in-doubt");
    await journal.delivered("k-stored");
    journal.abandon("k-refused");
    assert.equal(await journal.lookup("k-stored"), "stored");
    assert.equal(await journal.lookup("k-refused"), "unknown");
    // delivered() resolved: the C line is on disk, after its P line, in the old format.
    const text = await readFile(path.join(state, "journal-00000000.log"), "utf8");
    assert.match(text, /^P k-stored lmtp:alice@example\.org\nP k-cut lmtp:alice\+Chats@example\.org\nP k-refused lmtp:bob@example\.org\nC k-stored\n$/);
    await journal.close();

    const reopened = await openJournal(state);
    assert.equal(await reopened.lookup("k-stored"), "stored");
    assert.equal(await reopened.lookup("k-cut"), "in-doubt", "a crash before the 250 leaves the attempt in doubt: delivered again");
    // Written before the refusal; after a restart it is in doubt too, which only costs a warn line.
    assert.equal(await reopened.lookup("k-refused"), "in-doubt");
    assert.equal(await reopened.lookup("never-seen"), "unknown");
    await reopened.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a server that accepts but never greets: one connect timeout, then every waiting delivery fails at once (wait), not one timeout each", async () => {
  // Dovecot cannot be made to hang like this; a socket that says nothing stands in for a stuck host.
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const client = createLmtpClient({ target: { host: "127.0.0.1", port }, logger: createLogger({ level: "silent" }), name: "archive.example.org", maxConnections: 2, connectTimeoutMs: 300 });
  try {
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => client.deliver(`u${i}@example.org`, Buffer.from("Subject: x\r\n\r\nx\r\n"))));
    const elapsed = performance.now() - started;
    for (const r of results) {
      assert.equal(r.status, "rejected");
      const err = (r as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof LmtpError && err.transient, String(err));
      assert.equal(errorSpecFor(err).type, "wait");
    }
    assert.equal(sockets.length, 2, "only the first two tried to connect");
    assert.ok(elapsed < 1_000, `all answered within about one timeout (${Math.round(elapsed)} ms)`);
  } finally {
    await client.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
