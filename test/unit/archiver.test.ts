// The archiver against an in-process XEP-0114 server: what crosses the wire and what lands on disk.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Writable } from "node:stream";
import os from "node:os";
import path from "node:path";
import { createArchiver, type Archiver } from "../../src/service/index.js";
import { createLogger } from "../../src/log/index.js";
import { startFakeServer, type FakeServer } from "../support/fake-server.js";

const DOMAIN = "archive.example.org";
const SECRET = "s3cret-never-logged";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function copy(id: string, inner: string, from = "example.org"): string {
  return `<iq type='set' id='${id}' from='${from}' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
    `<forwarded xmlns='urn:xmpp:forward:0'>${inner}</forwarded></copy></iq>`;
}
const chat = (to: string, body: string) => `<message xmlns='jabber:client' from='bob@example.net/r' to='${to}' type='chat' id='${body}'><body>${body}</body></message>`;

describe("archiver over a XEP-0114 stream", () => {
  let server: FakeServer;
  let archiver: Archiver;
  let dir: string;
  const logLines: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-archiver-"));
    server = await startFakeServer({ domain: DOMAIN, secret: SECRET });
    const destination = new Writable({ write(chunk: Buffer, _enc, cb) { logLines.push(chunk.toString()); cb(); } });
    archiver = createArchiver({
      config: { xmppHost: "127.0.0.1", xmppPort: server.port, domain: DOMAIN, userDomain: "example.org", maildir: path.join(dir, "%d", "%n"), secret: SECRET, logLevel: "debug", stateDir: path.join(dir, "state"), maxStanzaBytes: 1_048_576 },
      logger: createLogger({ level: "debug", destination }),
      onFatal: (err) => assert.fail(err),
    });
    await archiver.start();
    await server.connected();
  });

  after(async () => {
    await archiver.stop();
    await server.close();
    await rm(dir, { recursive: true, force: true });
    assert.ok(!logLines.join("").includes(SECRET), "the secret never reaches a log");
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
    assert.ok(logLines.some((l) => /"msg":"stored"/.test(l) && /"user":"alice@example.org"/.test(l) && /"folder":"INBOX"/.test(l) && /"bytes":\d+/.test(l) && /"ms":/.test(l)));
  });

  test("a refused copy gets a stanza error and a warn line, and writes nothing", async () => {
    server.send(copy("c2", chat("mallory@example.org", "forged"), "bob@example.org/r"));
    const reply = await server.waitFor((el) => el.attrs.id === "c2");
    assert.equal(reply.attrs.type, "error");
    assert.ok(reply.getChild("error")?.getChild("not-allowed", NS_STANZAS));
    assert.ok(logLines.some((l) => /"level":40/.test(l) && /"msg":"refused"/.test(l) && /"id":"c2"/.test(l)));
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
    assert.ok(logLines.some((l) => /"level":50/.test(l) && /"msg":"cannot store message/.test(l) && l.includes(maildir)));
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
    await waitUntil(() => logLines.some((l) => /"msg":"stored"/.test(l) && l.includes('"user":"dave@example.org"')));
    const files = await readdir(path.join(dir, "example.org", "dave", "new"));
    assert.equal(files.length, 1);
    assert.ok(!server.received.some((el) => el.attrs.id === "d1"), "no reply to a stored direct message");
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
