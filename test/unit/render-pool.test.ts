// Rendering on worker threads for import and replay --to-maildir (src/replay/targets/render-pool.ts):
// the same mail as rendered inline, settled in the order asked for, and a worker that dies costs
// one failed delivery (logged with its row, not checkpointed, written by the next run), never a
// lost or duplicated mail; the pool shuts down cleanly.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { simpleParser } from "mailparser";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { createLogger } from "../../src/log/index.js";
import { renderMail } from "../../src/mail/index.js";
import { createMaildirTarget, NO_PROGRESS, createPacer, openCheckpoint, parseSelection, runReplay, type SourceEntry, type StreamSource } from "../../src/replay/index.js";
import { createRenderPool } from "../../src/replay/targets/render-pool.js";
import { copyIq } from "../support/stanzas.js";

const DOMAIN = "archive.example.org";
const ctx = { componentDomain: DOMAIN, userDomain: "example.org", now: new Date("2026-11-22T10:00:00Z"), maxStanzaBytes: 1 << 20 };
const CRASHING = new URL("../support/crashing-render-worker.js", import.meta.url);

function record(body: string, id = `m-${body.length}`, extra = ""): ArchiveRecord {
  const inner = `<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat' id='${id}'><body>${body}</body>${extra}</message>`;
  const result = captureCopy(copyIq({ inner }), ctx);
  if (result.kind !== "archive") throw new Error("not archivable");
  return result.record;
}

async function summary(bytes: Buffer) {
  const mail = await simpleParser(bytes);
  return { subject: mail.subject, messageId: mail.messageId, from: mail.from?.text, date: mail.date, text: mail.text, html: mail.html, attachments: mail.attachments.map((a) => a.content.toString("base64")) };
}

/** A streamed source of the given bodies, one row each (key = row id). */
function source(bodies: readonly string[]): StreamSource {
  return {
    description: "test-rows",
    async open() {
      async function* entries(): AsyncGenerator<SourceEntry> {
        for (const [i, body] of bodies.entries()) {
          const r = record(body, `row-${i}`);
          yield { key: `row/${i}`, time: r.time, tiebreak: i, folder: "INBOX", owner: r.owner, location: `test row id ${i}`, load: async () => ({ kind: "record", record: r }) };
        }
      }
      return { total: bodies.length, entries: entries(), close: async () => undefined };
    },
  };
}

async function mailFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) if (e.isFile() && /\/(new|cur)$/.test(e.parentPath)) out.push(path.join(e.parentPath, e.name));
  return out;
}

describe("render pool (import and replay --to-maildir)", () => {
  test("a mail rendered on a worker is the mail rendered inline", async () => {
    const pool = createRenderPool({ size: 1 });
    try {
      const image = "<data xmlns='urn:xmpp:bob' cid='sha1+8f35fef110ffc5df08d579a50083ff9308fb6242@bob.xmpp.org' type='image/png'>iVBORw0KGgo=</data>";
      for (const r of [record("Grüße ☕ and a long line ".repeat(20)), record(""), record("with an image", "img", image)]) {
        const there = await pool.render(r, { domain: DOMAIN });
        const here = await renderMail(r, { domain: DOMAIN });
        assert.ok(Buffer.isBuffer(there.bytes));
        assert.equal(there.messageId, here.messageId);
        assert.deepEqual(await summary(there.bytes), await summary(here.bytes));
      }
    } finally {
      await pool.close();
    }
  });

  test("renders on several workers settle in the order they were asked for", async () => {
    const pool = createRenderPool({ size: 3 });
    try {
      // Sizes vary a lot, so the workers finish out of order.
      const records = Array.from({ length: 300 }, (_, i) => record(`message number ${i} `.repeat(1 + ((i * 37) % 200)), `o-${i}`));
      const settled: number[] = [];
      const mails = await Promise.all(records.map((r, i) => pool.render(r, { domain: DOMAIN }).then((m) => (settled.push(i), m))));
      assert.deepEqual(settled, records.map((_, i) => i));
      for (const [i, m] of mails.entries()) assert.match(m.bytes.toString(), new RegExp(`message number ${i} `));
    } finally {
      await pool.close();
    }
  });

  test("a worker that dies fails the render it was doing; the others go to a new worker; close is clean", async () => {
    const pool = createRenderPool({ size: 1, workerUrl: CRASHING });
    const bodies = ["one", "two", "crash", "four", "five"];
    const outcomes = await Promise.allSettled(bodies.map((b) => pool.render(record(b), { domain: DOMAIN })));
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
    assert.match(String((outcomes[2] as PromiseRejectedResult).reason), /render worker stopped \(exit code 3\)/);
    assert.match((await pool.render(record("after"), { domain: DOMAIN })).bytes.toString(), /after/);
    await pool.close();
    await assert.rejects(pool.render(record("late"), { domain: DOMAIN }), /closed/);
  });

  test("through an import: the crashed row is a failed delivery with its row id, not checkpointed, and the next run writes it once", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-render-pool-"));
    try {
      const bodies = Array.from({ length: 40 }, (_, i) => (i === 17 ? "crash" : `row ${i}`));
      const template = path.join(dir, "mail", "%d", "%n");
      const checkpointFile = path.join(dir, "checkpoint");
      const run = async (workerUrl?: URL) => {
        let log = "";
        const logger = createLogger({ level: "warn", destination: new Writable({ write: (chunk, _e, cb) => ((log += String(chunk)), cb()) }) });
        const renderPool = workerUrl ? createRenderPool({ size: 1, workerUrl }) : undefined;
        const target = createMaildirTarget({ template, domain: DOMAIN, dryRun: false, ...(renderPool ? { renderPool } : { renderThreads: 1 }) });
        const checkpoint = await openCheckpoint(checkpointFile, "render-pool test");
        try {
          const { summary } = await runReplay({
            source: source(bodies), target, selection: parseSelection({}), checkpoint, progress: NO_PROGRESS, pacer: createPacer(undefined), concurrency: 16, logger, dryRun: false,
          });
          return { summary, log };
        } finally {
          await target.close();
          await checkpoint.close();
        }
      };
      const first = await run(CRASHING);
      assert.equal(first.summary.replayed, 39);
      assert.deepEqual([...first.summary.failed], [["unexpected error", 1]]);
      assert.match(first.log, /"path":"test row id 17".*render worker stopped/);
      assert.equal((await mailFiles(dir)).length, 39);
      const second = await run();
      assert.equal(second.summary.replayed, 1);
      assert.equal(second.summary.alreadyDone, 39);
      const mails = await mailFiles(dir);
      assert.equal(mails.length, 40);
      const ids = await Promise.all(mails.map(async (f) => (await simpleParser(await readFile(f))).messageId));
      assert.equal(new Set(ids).size, 40);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
