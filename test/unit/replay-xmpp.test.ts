// The XMPP replay target against an in-process XEP-0114 server, and the CLI's exit codes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { ReplayError } from "../../src/errors.js";
import { createLogger } from "../../src/log/index.js";
import { createXmppTarget, type SourceEntry } from "../../src/replay/index.js";
import { startFakeServer, type FakeServer } from "../support/fake-server.js";
import { copyIq } from "../support/stanzas.js";
import { writeArchive } from "../support/archive-fixture.js";

const DOMAIN = "archive.example.org";
const SECRET = "replay-secret";
const entry = { key: "k", folder: "INBOX", location: "test" } as unknown as SourceEntry;

function record(id: string): ArchiveRecord {
  const inner = `<message xmlns='jabber:client' from='bob@example.org/r' to='alice@example.org' type='chat' id='${id}'><body>hello ${id}</body></message>`;
  const result = captureCopy(copyIq({ inner, stamp: "2026-01-02T03:04:05Z" }), { componentDomain: DOMAIN, userDomain: "example.org", now: new Date(), maxStanzaBytes: 1 << 20 });
  assert.equal(result.kind, "archive");
  return result.record;
}

describe("replay into XMPP over a XEP-0114 stream", () => {
  let server: FakeServer;
  before(async () => (server = await startFakeServer({ domain: DOMAIN, secret: SECRET })));
  after(() => server.close());

  test("each message is forwarded with its original delay; a bounce fails that message only", async () => {
    const target = createXmppTarget({ host: "127.0.0.1", port: server.port, domain: DOMAIN, serverDomain: "example.org", secret: SECRET, logger: createLogger({ level: "silent" }), to: undefined, dryRun: false });
    try {
      // The target numbers its messages replay-<run>-<n>; answer the n-th as a server would.
      const answer = async (n: number, bounce: boolean) => {
        const msg = await server.waitFor((el) => el.name === "message" && /^replay-[0-9a-f]+-\d+$/.test(el.attrs.id ?? "") && el.attrs.id!.endsWith(`-${n}`));
        if (bounce) server.send(`<message type='error' id='${msg.attrs.id}' from='alice@example.org' to='${DOMAIN}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`);
        const iq = await server.waitFor((el) => el.name === "iq" && el.attrs.id === `${msg.attrs.id}-barrier`);
        server.send(`<iq type='result' id='${iq.attrs.id}' from='example.org' to='${DOMAIN}'/>`);
        return msg;
      };
      const [delivered, msg] = await Promise.all([target.deliver(record("r1"), entry), answer(1, false)]);
      assert.deepEqual(delivered, { status: "replayed", where: "alice@example.org" });
      assert.equal(msg.attrs.from, DOMAIN);
      assert.equal(msg.attrs.to, "alice@example.org");
      const forwarded = msg.getChild("forwarded", "urn:xmpp:forward:0");
      assert.equal(forwarded?.getChild("delay", "urn:xmpp:delay")?.attrs.stamp, "2026-01-02T03:04:05.000Z");
      assert.equal(forwarded?.getChild("message", "jabber:client")?.getChildText("body"), "hello r1");

      const [bounced] = await Promise.allSettled([target.deliver(record("r2"), entry), answer(2, true)]);
      assert.equal(bounced.status, "rejected");
      assert.ok(bounced.status === "rejected" && bounced.reason instanceof ReplayError && bounced.reason.condition === "service-unavailable");
    } finally {
      await target.close();
    }
  });
});

describe("CLI exit codes", () => {
  const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
  const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? "" } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

  test("a config error exits 2 naming the key; a malformed file exits 1 naming its path; dry run changes nothing", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-cli-"));
    try {
      const maildir = path.join(dir, "Maildir");
      await writeArchive(maildir, [{ body: "hi", id: "x1", stamp: "2026-01-02T00:00:00Z" }]);
      const bad = await run(["replay", maildir, "--format", "ndjson", "--rate", "fast"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^xmpp-maildir: rate: must be a positive number/m);
      // Mail we wrote has a Message-ID: --to-maildir keeps it and needs no --domain.
      const noDomain = await run(["replay", maildir, "--to-maildir", path.join(dir, "copy", "%n"), "--user-domain", "example.org"]);
      assert.equal(noDomain.code, 0, noDomain.stderr);
      const idOf = async (folder: string) => {
        const fs = await import("node:fs/promises");
        const names = [...(await fs.readdir(path.join(folder, "new")).catch(() => [])), ...(await fs.readdir(path.join(folder, "cur")).catch(() => []))];
        const sub = (await fs.readdir(path.join(folder, "new")).catch(() => [] as string[])).includes(names[0]!) ? "new" : "cur";
        return /^Message-ID: (.*)$/im.exec(await fs.readFile(path.join(folder, sub, names[0]!), "utf8"))?.[1]?.trim();
      };
      const original = await idOf(maildir);
      assert.ok(original);
      assert.equal(await idOf(path.join(dir, "copy", "alice")), original, "the copy keeps the Message-ID");

      const ok = await run(["replay", maildir, "--format", "ndjson"]);
      assert.equal(ok.code, 0, ok.stderr);
      await writeFile(path.join(maildir, "cur", "1.broken.host:2,S"), "");
      const failed = await run(["replay", maildir, "--format", "ndjson"]);
      assert.equal(failed.code, 1);
      assert.equal(failed.stdout.trim().split("\n").length, 1, "the good message is still replayed");
      assert.match(failed.stderr, /1\.broken\.host:2,S/);
      assert.match(failed.stderr, /failed 1: malformed/);

      const dry = await run(["replay", maildir, "--to-maildir", path.join(dir, "out", "%n"), "--domain", DOMAIN, "--user-domain", "example.org", "--dry-run"]);
      assert.match(dry.stdout, /^would replay .* → .*out\/alice$/m);
      await assert.rejects(import("node:fs/promises").then((fs) => fs.stat(path.join(dir, "out"))), { code: "ENOENT" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
