import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LimitError, LIMITS_FILE, openSendCounter } from "../../src/bridge/outbound/index.js";
import { StorageError } from "../../src/errors.js";

const T0 = Date.parse("2026-12-01T12:00:00Z");

test("send limits: a sliding minute and day per user, the error names the limit and when it resets, the count survives a reopen", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xm-limits-"));
  try {
    const counter = await openSendCounter(dir, { perMinute: 2, perDay: 3 });
    await counter.take("alice@example.org", T0);
    await counter.take("alice@example.org", T0 + 10_000);
    await assert.rejects(counter.take("alice@example.org", T0 + 20_000), (err: unknown) => {
      assert.ok(err instanceof LimitError);
      assert.equal(err.limit, "per-minute");
      assert.deepEqual(err.stanzaError, { type: "wait", condition: "policy-violation" });
      assert.match(err.message, /2 mails per minute \(smtp-max-per-minute\); the next can go at 2026-12-01T12:01:00Z/);
      return true;
    });
    // Another user has their own allowance.
    await counter.take("bob@example.org", T0 + 20_000);
    await counter.take("alice@example.org", T0 + 61_000);
    // Reopened (a restart): the day's three still count.
    const again = await openSendCounter(dir, { perMinute: 2, perDay: 3 });
    await assert.rejects(again.take("alice@example.org", T0 + 3_600_000), (err: unknown) => {
      assert.ok(err instanceof LimitError);
      assert.equal(err.limit, "per-day");
      assert.match(err.message, /3 mails per day \(smtp-max-per-day\); the next can go at 2026-12-02T12:00:00Z/);
      return true;
    });
    await again.take("alice@example.org", T0 + 24 * 3_600_000 + 1);
    const saved = JSON.parse(await readFile(path.join(dir, LIMITS_FILE), "utf8")) as Record<string, number[]>;
    assert.deepEqual(saved["alice@example.org"], [T0 + 10_000, T0 + 61_000, T0 + 24 * 3_600_000 + 1]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("send limits: a count that cannot be saved refuses the mail and is taken back", { skip: process.getuid?.() === 0 ? "root ignores permissions" : false }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xm-limits-"));
  try {
    const counter = await openSendCounter(dir, { perMinute: 1, perDay: 5 });
    await chmod(dir, 0o500);
    await assert.rejects(counter.take("alice@example.org", T0), StorageError);
    await chmod(dir, 0o700);
    // Not counted: the next one may go.
    await counter.take("alice@example.org", T0 + 1);
  } finally {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
