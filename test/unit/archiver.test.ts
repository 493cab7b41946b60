// The archiver against an in-process XEP-0114 server: what crosses the wire and what lands on disk.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { COMPONENT as DOMAIN, startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";
import type { FakeServer } from "../support/fake-server.js";

const SECRET = "s3cret-never-logged";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function copy(id: string, inner: string, from = "example.org"): string {
  return `<iq type='set' id='${id}' from='${from}' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
    `<forwarded xmlns='urn:xmpp:forward:0'>${inner}</forwarded></copy></iq>`;
}
const chat = (to: string, body: string) => `<message xmlns='jabber:client' from='bob@example.net/r' to='${to}' type='chat' id='${body}'><body>${body}</body></message>`;

describe("archiver over a XEP-0114 stream", () => {
  let harness: ArchiverHarness;
  let server: FakeServer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-archiver-"));
    harness = await startArchiverHarness({ dir, secret: SECRET, flags: { maildir: path.join(dir, "%d", "%n") } });
    server = harness.server;
  });

  after(async () => {
    await harness.stop();
    await rm(dir, { recursive: true, force: true });
    assert.ok(!harness.text().includes(SECRET), "the secret never reaches a log");
  });

  test("a copy is confirmed only once the mail is in new/", async () => {
    server.send(copy("c1", chat("alice@example.org", "first")));
    const reply = await server.waitFor((el) => el.attrs.id === "c1");
    assert.equal(reply.attrs.type, "result");
    assert.equal(reply.attrs.to, "example.org");
    const files = await readdir(path.join(dir, "example.org", "alice", "new"));
    assert.equal(files.length, 1);
    const mail = await readFile(path.join(dir, "example.org", "alice", "new", files[0]!), "utf8");
    assert.match(mail, /application\/xmpp\+xml/);
    const stored = harness.logs.find((l) => l.msg === "stored" && l.user === "alice@example.org");
    assert.ok(stored, "one info line per stored message");
    assert.equal(stored.folder, "INBOX");
    assert.equal(typeof stored.bytes, "number");
    assert.equal(typeof stored.ms, "number");
    assert.match(String(stored.messageId), /^<[0-9a-f]{32}@archive\.example\.org>$/);
  });

  test("a refused copy gets a stanza error and a warn line, and writes nothing", async () => {
    server.send(copy("c2", chat("mallory@example.org", "forged"), "bob@example.org/r"));
    const reply = await server.waitFor((el) => el.attrs.id === "c2");
    assert.equal(reply.attrs.type, "error");
    assert.ok(reply.getChild("error")?.getChild("not-allowed", NS_STANZAS));
    assert.ok(harness.logs.some((l) => l.level === 40 && l.msg === "refused" && l.id === "c2"));
    await assert.rejects(readdir(path.join(dir, "example.org", "mallory")), { code: "ENOENT" });
  });

  test("a disk failure is never confirmed: the copy gets an error and the log names the path", async () => {
    // tmp/ replaced by a file: the write fails even for root.
    const maildir = path.join(dir, "example.org", "carol");
    server.send(copy("c3", chat("carol@example.org", "warm")));
    assert.equal((await server.waitFor((el) => el.attrs.id === "c3")).attrs.type, "result");
    await rm(path.join(maildir, "tmp"), { recursive: true });
    await writeFile(path.join(maildir, "tmp"), "");
    server.send(copy("c4", chat("carol@example.org", "lost?")));
    const reply = await server.waitFor((el) => el.attrs.id === "c4");
    assert.equal(reply.attrs.type, "error");
    assert.ok(harness.logs.some((l) => l.level === 50 && String(l.msg).startsWith("cannot store message") && l.path === maildir));
    assert.equal((await readdir(path.join(maildir, "new"))).length, 1);
  });

  test("a direct message is archived, and a refused one is answered with a message error", async () => {
    server.send(`<message from='carol@example.net/x' to='dave@${DOMAIN}' id='d1'><body>hello dave</body></message>`);
    server.send(`<message from='carol@example.net/x' to='..@${DOMAIN}' id='d2'><body>escape</body></message>`);
    const err = await server.waitFor((el) => el.attrs.id === "d2");
    assert.equal(err.name, "message");
    assert.equal(err.attrs.type, "error");
    assert.equal(err.attrs.to, "carol@example.net/x");
    assert.ok(err.getChild("error")?.getChild("jid-malformed", NS_STANZAS));
    // Handling is concurrent, so wait for d1's own "stored" line rather than relying on order.
    await harness.waitForLog((l) => l.msg === "stored" && l.user === "dave@example.org");
    const files = await readdir(path.join(dir, "example.org", "dave", "new"));
    assert.equal(files.length, 1);
    assert.ok(!server.received.some((el) => el.attrs.id === "d1"), "no reply to a stored direct message");
  });
});

