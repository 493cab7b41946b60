// Replay's sources and targets on real archive mail (written by the archiver's own code) on disk.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log/index.js";
import { parseMail } from "../../src/mail/index.js";
import { expandTemplate, listMessages } from "../../src/maildir/index.js";
import {
  createMaildirSource, createMaildirTarget, createNdjsonSource, createPacer, createStreamTarget, NO_PROGRESS, parseSelection, runReplay,
  type Source, type Target,
} from "../../src/replay/index.js";
import { FIXTURE_DOMAIN, FIXTURE_USER_DOMAIN, writeArchive } from "../support/archive-fixture.js";

const domains = { componentDomain: FIXTURE_DOMAIN, userDomain: FIXTURE_USER_DOMAIN };
const silent = createLogger({ level: "silent" });

function collect(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({ write(chunk: Buffer, _e, cb) { chunks.push(chunk.toString()); cb(); } });
  return { out, text: () => chunks.join("") };
}

/** As the CLI runs a job: replay, then close the target (which writes out what it buffered). */
async function job(source: Source, target: Target, extra: { selection?: Parameters<typeof parseSelection>[0] } = {}) {
  const result = await runReplay({
    source, target, selection: parseSelection(extra.selection ?? {}), checkpoint: undefined, progress: NO_PROGRESS,
    pacer: createPacer(undefined), concurrency: 4, logger: silent, dryRun: false,
  });
  await target.close();
  return result;
}

describe("replay from Maildirs", () => {
  let dir: string;
  let alice: string;
  let xmls: string[];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-replay-"));
    alice = path.join(dir, "mail", "example.org", "alice", "Maildir");
    xmls = await writeArchive(alice, [
      { body: "second", id: "m2", stamp: "2026-01-02T00:00:02Z" },
      { body: "first &amp; ☕ &lt;b&gt;", id: "m1", stamp: "2026-01-02T00:00:01Z" },
      { body: "third", id: "m3", stamp: "2026-01-02T00:00:03Z", type: "normal", from: "dave@example.net" },
    ]);
    await writeArchive(path.join(dir, "mail", "example.org", "carol", "Maildir", ".Old"), [
      { body: "carol old", to: "carol@example.org", id: "c1", stamp: "2025-12-31T00:00:00Z" },
    ]);
    await writeFile(path.join(alice, "new", "100.plain.host"), "From: x@example.net\r\nTo: alice@example.org\r\nSubject: hi\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nplain mail\r\n");
    await writeFile(path.join(alice, "cur", "101.bad.host:2,S"), Buffer.from([0, 1, 2, 3]));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("the XML part comes back byte for byte", async () => {
    const files = await listMessages(alice);
    const parts = new Set<string>();
    for (const f of files) {
      const mail = await parseMail(await readFile(f.path));
      if (mail.stanzaXml) parts.add(mail.stanzaXml);
    }
    assert.deepEqual([...parts].sort(), [...xmls].sort());
  });

  test("a template finds every user's Maildir", async () => {
    const found = await expandTemplate(path.join(dir, "mail", "%d", "%n", "Maildir"));
    assert.deepEqual(found.map((m) => `${m.owner.local}@${m.owner.domain}`), ["alice@example.org", "carol@example.org"]);
  });

  test("NDJSON in original time order; ordinary mail skipped, a broken file failed, both counted", async () => {
    const { out, text } = collect();
    const { summary } = await job(createMaildirSource({ source: path.join(dir, "mail", "%d", "%n", "Maildir"), includeMail: false, domains }), createStreamTarget({ format: "ndjson", output: out, domain: FIXTURE_DOMAIN }));
    const lines = text().trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    assert.deepEqual(lines.map((l) => l.body), ["carol old", "first & ☕ <b>", "second", "third"]);
    assert.deepEqual(lines.map((l) => l.folder), ["Old", "INBOX", "INBOX", "INBOX"]);
    assert.match(lines[1]!.messageId!, /^<[0-9a-f]{32}@archive\.example\.org>$/);
    assert.equal(summary.replayed, 4);
    assert.deepEqual([...summary.skipped], [["ordinary mail (no application/xmpp+xml part)", 1]]);
    assert.deepEqual([...summary.failed], [["malformed (not readable as an archived message)", 1]]);
  });

  test("filters: --user, --peer, --type, --since/--until, --folder", async () => {
    const run = async (selection: Parameters<typeof parseSelection>[0]) => {
      const { out, text } = collect();
      await job(createMaildirSource({ source: path.join(dir, "mail", "%d", "%n", "Maildir"), includeMail: true, domains }), createStreamTarget({ format: "ndjson", output: out, domain: undefined }), { selection });
      return text().trim().split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { body: string }).body);
    };
    assert.deepEqual(await run({ user: "carol@example.org" }), ["carol old"]);
    assert.deepEqual(await run({ peer: "dave@example.net" }), ["third"]);
    assert.deepEqual(await run({ type: "normal", user: "alice@example.org" }), ["plain mail", "third"]);
    assert.deepEqual(await run({ since: "2026-01-02T00:00:02Z", until: "2026-01-02T00:00:03Z" }), ["second"]);
    assert.deepEqual(await run({ folder: "Old" }), ["carol old"]);
  });

  test("--to-maildir writes the same XML parts once, and nothing on a second run; NDJSON imports back", async () => {
    const template = path.join(dir, "out", "%d", "%n", "Maildir");
    const source = () => createMaildirSource({ source: alice, includeMail: false, domains });
    const first = await job(source(), createMaildirTarget({ template, domain: FIXTURE_DOMAIN, dryRun: false }));
    assert.equal(first.summary.replayed, 3);
    const outDir = path.join(dir, "out", "example.org", "alice", "Maildir");
    const written = await listMessages(outDir);
    const parts = await Promise.all(written.map(async (m) => (await parseMail(await readFile(m.path))).stanzaXml));
    assert.deepEqual(parts.sort(), [...xmls].sort());
    const second = await job(source(), createMaildirTarget({ template, domain: FIXTURE_DOMAIN, dryRun: false }));
    assert.equal(second.summary.replayed, 0);
    assert.equal(second.summary.skipped.get("already in the target folder (same Message-ID)"), 3);
    assert.equal((await listMessages(outDir)).length, 3);

    const { out, text } = collect();
    await job(source(), createStreamTarget({ format: "ndjson", output: out, domain: FIXTURE_DOMAIN }));
    const ndjson = path.join(dir, "export.ndjson");
    await writeFile(ndjson, text() + "not json\n");
    const imported = await job(createNdjsonSource({ file: ndjson, domains }), createMaildirTarget({ template, domain: FIXTURE_DOMAIN, dryRun: false }));
    assert.equal(imported.summary.replayed, 0, "same Message-IDs: nothing new");
    assert.equal(imported.summary.skipped.get("already in the target folder (same Message-ID)"), 3);
    assert.equal(imported.summary.failed.get("malformed (not readable as an archived message)"), 1);
    const fresh = await job(createNdjsonSource({ file: ndjson, domains }), createMaildirTarget({ template: path.join(dir, "fresh", "%d", "%n"), domain: FIXTURE_DOMAIN, dryRun: false }));
    assert.equal(fresh.summary.replayed, 3);
    assert.equal((await readdir(path.join(dir, "fresh", "example.org", "alice", "new"))).length, 3);
  });

  test("a single Maildir++ folder is one source; a directory that is no Maildir is a config error", async () => {
    const { out, text } = collect();
    await job(createMaildirSource({ source: path.join(dir, "mail", "example.org", "carol", "Maildir", ".Old"), includeMail: false, domains }), createStreamTarget({ format: "ndjson", output: out, domain: undefined }));
    assert.equal((JSON.parse(text()) as { owner: string }).owner, "carol@example.org");
    await mkdir(path.join(dir, "empty"));
    await assert.rejects(job(createMaildirSource({ source: path.join(dir, "empty"), includeMail: false, domains }), createStreamTarget({ format: "ndjson", output: out, domain: undefined })), { code: "ECONFIG", key: "source" });
  });
});
