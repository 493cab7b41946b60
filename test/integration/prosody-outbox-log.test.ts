// The Prosody module's outbox log (server/prosody/mod_xmpp_maildir.lua): copies written while the
// component is away survive a restart, a torn tail (a write cut short by a crash) is detected,
// cut and never parsed as a copy, and the log is compacted once every copy is confirmed. A real
// Prosody, a real component, a real Dovecot; the log is read with harness/prosody-outbox.ts.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { readFile, stat, truncate } from "node:fs/promises";
import path from "node:path";
import { waitForMessages } from "../../harness/imap.js";
import { pollUntil } from "../../harness/poll.js";
import { outboxCopies, parseOutboxLog } from "../../harness/prosody-outbox.js";
import { DOMAIN, startStack, type Stack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient } from "../../harness/xmpp-client.js";

/** Fast retries: the component comes up late on purpose. */
const MODULE = { retryMin: 1, retryMax: 2 };

describe(onServers("Prosody module: the outbox log"), () => {
  let dir: string;
  let stack: Stack;
  let logFile: string;

  before(async () => {
    dir = await makeTempDir("xmd-outbox-log-");
    stack = await startStack({ dir, users: ["alice", "bob"], module: MODULE });
    logFile = path.join(stack.prosody.dir, "data", DOMAIN.replaceAll(".", "%2e"), "xmpp_maildir_outbox.log");
  });

  after(async () => {
    await stack?.stop();
    await removeDir(dir);
  });

  test("a torn record at the end is cut, the whole ones before it are re-sent after a restart", async () => {
    // No component yet: every copy stays in the log.
    const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
    try {
      for (const body of ["first", "second", "third"]) await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body });
    } finally {
      await bob.stop();
    }
    await pollUntil(async () => ((await outboxCopies(path.join(stack.prosody.dir, "data"))).length === 3 ? true : undefined), {
      timeoutMs: 15_000, intervalMs: 100, describe: () => "three copies in the outbox log",
    });
    await stack.server.stop();

    // Cut the third copy's record in the middle of its payload, as a crash during the write would.
    const whole = await readFile(logFile);
    const before = parseOutboxLog(whole);
    assert.equal(before.live.length, 3);
    assert.equal(before.tornBytes, 0);
    const third = whole.lastIndexOf("\n+ ", whole.length - 2) + 1;
    assert.ok(third > 0, "three records");
    const cutAt = third + Math.floor((whole.length - third) / 2);
    await truncate(logFile, cutAt);
    const torn = parseOutboxLog(await readFile(logFile));
    assert.deepEqual(torn.live, before.live.slice(0, 2), "the reader sees two whole records");
    assert.equal(torn.tornBytes, cutAt - third);

    await stack.server.start();
    const log = await readFile(stack.server.logPath, "utf8");
    assert.match(log, new RegExp(`Cut a torn record at the end of the outbox .*\\(${cutAt - third} bytes at offset ${third},`));
    assert.match(log, /Re-sending 2 unconfirmed copies/);
    // Rewritten at start with the two copies only.
    assert.deepEqual(parseOutboxLog(await readFile(logFile)), { live: before.live.slice(0, 2), goodBytes: (await stat(logFile)).size, tornBytes: 0 });

    const component = stack.component();
    try {
      const mails = await waitForMessages({ ...stack.imap("alice"), count: 2 });
      await pollUntil(async () => ((await outboxCopies(path.join(stack.prosody.dir, "data"))).length === 0 ? true : undefined), {
        timeoutMs: 30_000, intervalMs: 200, describe: () => "every copy confirmed",
      });
      // Nothing more arrives: the torn third copy was not parsed into one.
      await new Promise((r) => setTimeout(r, 1_000));
      const again = await waitForMessages({ ...stack.imap("alice"), count: 2 });
      assert.deepEqual(again.map((m) => m.subject).sort(), ["first", "second"]);
      assert.equal(mails.length, 2);
    } finally {
      assert.equal(await component.stop(), 0);
    }
    assert.deepEqual(await stack.serverErrors(), []);
  });

  test("confirmations are appended, and a restart compacts the log to nothing once all are confirmed", async () => {
    await stack.server.stop();
    const size = (await stat(logFile)).size;
    assert.ok(size > 0, "the log holds the two copies and their confirmations");
    const records = parseOutboxLog(await readFile(logFile));
    assert.deepEqual(records.live, []);
    assert.equal(records.tornBytes, 0);
    await stack.server.start();
    assert.equal((await stat(logFile)).size, 0, "rewritten without the confirmed copies");
  });
});
