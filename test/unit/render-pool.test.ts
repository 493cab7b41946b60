// Rendering on a worker thread gives the same mail as on the main thread, and a worker that dies
// costs no copy: its renders are refused with `wait` (sent again by the module) and a new one
// takes over.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { simpleParser } from "mailparser";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { RefusedError } from "../../src/errors.js";
import { renderMail } from "../../src/mail/index.js";
import { createRenderPool } from "../../src/mail/render-pool.js";
import { copyIq } from "../support/stanzas.js";

const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date("2026-11-22T10:00:00Z"), maxStanzaBytes: 1 << 20 };
const chat = { maxAttachmentBytes: 100_000 };

function record(body: string, extra = ""): ArchiveRecord {
  const inner = `<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat' id='m-${body.length}'><body>${body}</body>${extra}</message>`;
  const result = captureCopy(copyIq({ inner }), ctx);
  if (result.kind !== "archive") throw new Error("not archivable");
  return result.record;
}

async function summary(bytes: Buffer) {
  const mail = await simpleParser(bytes);
  return {
    subject: mail.subject,
    messageId: mail.messageId,
    from: mail.from?.text,
    text: mail.text,
    html: mail.html,
    attachments: mail.attachments.map((a) => ({ type: a.contentType, content: a.content.toString("base64"), cid: a.contentId })),
  };
}

describe("render pool", () => {
  test("a mail rendered on the worker is the mail rendered here", async () => {
    const pool = createRenderPool();
    try {
      const image = "<data xmlns='urn:xmpp:bob' cid='sha1+8f35fef110ffc5df08d579a50083ff9308fb6242@bob.xmpp.org' type='image/png'>iVBORw0KGgo=</data>";
      const cases: [ArchiveRecord, { domain: string; chat?: typeof chat }][] = [
        [record("Grüße ☕ and a long line ".repeat(20)), { domain: "archive.example.org" }],
        [record(""), { domain: "archive.example.org" }],
        [record("with an image", image), { domain: "archive.example.org", chat }],
      ];
      for (const [r, options] of cases) {
        const there = await pool.render(r, options);
        const here = await renderMail(r, options);
        assert.ok(Buffer.isBuffer(there.bytes));
        assert.equal(there.messageId, here.messageId);
        assert.deepEqual(await summary(there.bytes), await summary(here.bytes));
      }
    } finally {
      await pool.close();
    }
  });

  test("renders run concurrently and each gets its own reply", async () => {
    const pool = createRenderPool();
    try {
      const records = Array.from({ length: 200 }, (_, i) => record(`message number ${i} `.repeat(1 + (i % 30))));
      const mails = await Promise.all(records.map((r) => pool.render(r, { domain: "archive.example.org" })));
      for (let i = 0; i < records.length; i++) assert.match(mails[i]!.bytes.toString(), new RegExp(`message number ${i} `));
    } finally {
      await pool.close();
    }
  });

  test("a worker that dies: its renders are refused with wait, and the next render gets a new worker", async () => {
    const errors: Error[] = [];
    const pool = createRenderPool({ workerUrl: new URL("../support/crashing-render-worker.js", import.meta.url), onWorkerError: (e) => errors.push(e) });
    try {
      await pool.render(record("fine"), { domain: "archive.example.org" });
      await assert.rejects(pool.render(record("crash"), { domain: "archive.example.org" }), (err: unknown) => {
        assert.ok(err instanceof RefusedError);
        assert.deepEqual(err.stanzaError, { type: "wait", condition: "resource-constraint" });
        return true;
      });
      const after = await pool.render(record("after the crash"), { domain: "archive.example.org" });
      assert.match(after.bytes.toString(), /after the crash/);
    } finally {
      await pool.close();
    }
  });

  test("after close, renders are refused with wait", async () => {
    const pool = createRenderPool();
    await pool.close();
    await assert.rejects(pool.render(record("late"), { domain: "archive.example.org" }), RefusedError);
  });
});
