// Prosody's storage format, the checkpoint, pacing, selection errors, progress and the summary.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log/index.js";
import { parseMail } from "../../src/mail/index.js";
import { listMessages } from "../../src/maildir/index.js";
import {
  createBarProgress, createLogProgress, createMaildirTarget, createPacer, createProsodySource, formatSummary, NO_PROGRESS, openCheckpoint,
  parseListFile, parseSelection, runReplay,
} from "../../src/replay/index.js";

const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/prosody-data", import.meta.url));
const domains = { componentDomain: "archive.example.test", userDomain: "example.test" };

describe("Prosody internal storage", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "xmd-prosody-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  test("a .list file written by Prosody 0.12 parses to its items, bytes escaped as \\ddd decoded as UTF-8", async () => {
    const items = parseListFile(await readFile(path.join(FIXTURES, "example%2etest", "offline", "dave.list")));
    assert.equal(items.length, 2);
    const body = items[0]!.array[0];
    assert.ok(typeof body === "object" && body !== null);
    assert.equal(body.array[0], 'hi ☕ "q" <&>\nline2');
    assert.equal(items[0]!.fields.get("when"), 1795366291);
    assert.throws(() => parseListFile(Buffer.from("item({ [\"name\"] = ")), /at byte/);
    assert.throws(() => parseListFile(Buffer.from("os.execute('rm -rf /')")), /expected 'item'/);
  });

  test("offline and MAM stores import into each owner's INBOX; one message in both stores is written once", async () => {
    const template = path.join(dir, "mail", "%d", "%n", "Maildir");
    const run = () => runReplay({
      source: createProsodySource({ dataPath: FIXTURES, stores: ["offline", "archive"], domains }),
      target: createMaildirTarget({ template, domain: "archive.example.test", dryRun: false }),
      selection: parseSelection({}), checkpoint: undefined, progress: NO_PROGRESS, pacer: createPacer(undefined), concurrency: 4,
      logger: createLogger({ level: "silent" }), dryRun: false,
    });
    const { summary } = await run();
    assert.equal(summary.replayed, 4, "dave: 2 received; bob: 2 sent");
    assert.equal(summary.skipped.get("already in the target folder (same Message-ID)"), 2);
    const dave = await listMessages(path.join(dir, "mail", "example.test", "dave", "Maildir"));
    const mails = await Promise.all(dave.map(async (m) => parseMail(await readFile(m.path))));
    const first = mails.find((m) => m.text?.startsWith("hi"));
    assert.ok(first?.stanzaXml);
    assert.doesNotMatch(first.stanzaXml, /stamp=/, "storage-only attributes are dropped");
    assert.match(first.stanzaXml, /xml:lang="en"/);
    assert.equal(first.date?.toISOString(), new Date(1795366291 * 1000).toISOString());
    assert.equal((await listMessages(path.join(dir, "mail", "example.test", "bob", "Maildir"))).length, 2);
    assert.equal((await run()).summary.replayed, 0, "idempotent");
  });

  test("a list file that is not Prosody's is reported with its path and skipped", async () => {
    const data = path.join(dir, "data");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.join(data, "example%2etest", "offline"), { recursive: true }));
    await writeFile(path.join(data, "example%2etest", "offline", "eve.list"), "item({ oops");
    const scan = await createProsodySource({ dataPath: data, stores: ["offline"], domains }).scan();
    assert.equal(scan.entries.length, 0);
    assert.match(scan.problems[0]!.location, /eve\.list$/);
  });
});

describe("checkpoint", () => {
  test("remembers finished keys, ignores a torn last line, refuses another job's file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-ckpt-"));
    try {
      const file = path.join(dir, "c");
      const a = await openCheckpoint(file, "job A");
      await a.done("k1");
      await a.done("k2");
      await a.close();
      await appendFile(file, '"k3');
      const b = await openCheckpoint(file, "job A");
      assert.equal(b.resumed, 2);
      assert.ok(b.has("k1") && b.has("k2") && !b.has("k3"));
      await b.done("k3");
      await b.close();
      const c = await openCheckpoint(file, "job A");
      assert.ok(c.has("k3"));
      await c.close();
      await assert.rejects(openCheckpoint(file, "job B"), { code: "ECONFIG", key: "checkpoint" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test("--rate spaces deliveries evenly from the start", async () => {
  let t = 0;
  const pacer = createPacer(10, () => t);
  const started = performance.now();
  for (let i = 0; i < 3; i++) await pacer.wait();
  assert.ok(performance.now() - started >= 150, "3 at 10/s take at least 2 intervals");
  t = 10_000;
  const quick = performance.now();
  await pacer.wait();
  assert.ok(performance.now() - quick < 50, "no wait when behind schedule");
});

test("selection errors name the flag", () => {
  assert.throws(() => parseSelection({ since: "yesterday" }), { code: "ECONFIG", key: "since" });
  assert.throws(() => parseSelection({ user: "alice@example.org/phone" }), { key: "user" });
  assert.throws(() => parseSelection({ type: "groupchat" }), { key: "type" });
  assert.equal(parseSelection({ until: "2026-01-02" }).until?.toISOString(), "2026-01-02T00:00:00.000Z");
});

describe("feedback", () => {
  test("off a terminal: a progress log line per interval with done, total, rate and ETA", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } });
    const progress = createLogProgress({ logger: createLogger({ level: "info", destination }), intervalMs: 20 });
    progress.start(10);
    progress.update(4);
    const deadline = Date.now() + 5_000;
    while (!lines.some((l) => l.msg === "progress") && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    progress.stop();
    const line = lines.find((l) => l.msg === "progress");
    assert.ok(line, "a progress line");
    assert.equal(line.done, 4);
    assert.equal(line.total, 10);
    assert.equal(line.percent, 40);
    assert.equal(typeof line.etaSeconds, "number");
  });

  test("on a terminal: a cli-progress bar with rate and ETA", () => {
    let text = "";
    const tty = Object.assign(new Writable({ write(c: Buffer, _e, cb) { text += c.toString(); cb(); } }), { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    const bar = createBarProgress(tty as unknown as NodeJS.WritableStream, "replay");
    bar.start(8);
    bar.update(8);
    bar.stop();
    assert.match(text, /replay \[.*\] 100% \| 8\/8 \| \d+\/s \| ETA \d+s/);
  });

  test("the summary gives replayed, skipped and failed with their reasons", () => {
    const lines = formatSummary({
      scanned: 12, selected: 10, alreadyDone: 3, replayed: 5, interrupted: false, dryRun: false, elapsedMs: 1234,
      skipped: new Map([["ordinary mail (no application/xmpp+xml part)", 1]]), failed: new Map([["malformed (not readable as an archived message)", 1]]),
    });
    assert.deepEqual(lines, [
      "replay finished in 1.2 s: 5 replayed, 1 skipped, 1 failed (10 selected of 12 found, 3 already done per checkpoint)",
      "  skipped 1: ordinary mail (no application/xmpp+xml part)",
      "  failed 1: malformed (not readable as an archived message)",
    ]);
  });
});
