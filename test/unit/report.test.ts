// The outage log: one error line when the disk starts failing, one info line when it is back,
// and nothing in between however many copies fail or how the writes interleave.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import xml from "@xmpp/xml";
import { StorageError } from "../../src/errors.js";
import { createLogger } from "../../src/log/index.js";
import { createFailureReporter } from "../../src/archive/index.js";

function collect(): { lines: { level: number; msg: string }[]; reporter: ReturnType<typeof createFailureReporter> } {
  const lines: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ level: "debug", destination });
  return { lines, reporter: createFailureReporter(logger) };
}

const full = (): StorageError => new StorageError("/var/mail/example.org/alice", Object.assign(new Error("no space left on device"), { code: "ENOSPC" }));
const stanza = xml("iq", { from: "example.org", to: "archive.example.org", id: "c1", type: "set" });
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("outage reporting", () => {
  test("writes that began before the failure and finish after it do not end the outage", async () => {
    const { lines, reporter } = collect();
    // Twenty writes start; the disk fills; the slow successful ones (fsync'd) finish later.
    const startedBefore = Array.from({ length: 20 }, () => performance.now());
    reporter.report(stanza, full());
    for (const started of startedBefore) reporter.recovered(started);
    await flush();
    assert.deepEqual(lines.map((l) => l.msg), ["cannot store message; answering wait until storage recovers"]);
    // The module retries; the disk is still full.
    reporter.report(stanza, full());
    await flush();
    assert.equal(lines.filter((l) => l.level === 50).length, 1, "still one error line for the same outage");
  });

  test("ten stores in a row that began after the last failure end it, once", async () => {
    const { lines, reporter } = collect();
    reporter.report(stanza, full());
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (let i = 0; i < 9; i++) reporter.recovered(performance.now());
    await flush();
    assert.equal(lines.some((l) => l.msg === "storage recovered"), false, "nine are not enough");
    reporter.recovered(performance.now());
    reporter.recovered(performance.now());
    await flush();
    assert.equal(lines.filter((l) => l.msg === "storage recovered").length, 1);
    // A new outage is a new error line.
    reporter.report(stanza, full());
    await flush();
    assert.equal(lines.filter((l) => l.level === 50).length, 2);
  });

  test("a failure between successes starts the count again", async () => {
    const { lines, reporter } = collect();
    reporter.report(stanza, full());
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (let i = 0; i < 8; i++) reporter.recovered(performance.now());
    reporter.report(stanza, full());
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (let i = 0; i < 8; i++) reporter.recovered(performance.now());
    await flush();
    assert.equal(lines.some((l) => l.msg === "storage recovered"), false);
    assert.equal(lines.filter((l) => l.level === 50).length, 1);
  });
});
